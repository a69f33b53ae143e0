"""The real ``mjgate`` command as an operator runs it: subprocesses on a fresh data dir.

Each ``mjgate`` process pays the whole import (seconds on a busy machine), so independent
commands run side by side, and the help of every command is read in-process from the same
command tree that the entry point runs.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from typer.testing import CliRunner

from mjgate.cli import app

MJGATE = str(Path(sys.executable).parent / "mjgate")
COMMAND_TIMEOUT = 90.0
START_TIMEOUT = 60.0


def cli_env(data_dir: Path, pycache: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any MJGATE_* setting, plus the ones given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MJGATE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        MJGATE_DATA_DIR=str(data_dir),
        PYTHONPYCACHEPREFIX=str(pycache),
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


@dataclass
class Outcome:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


def mjgate(env: dict[str, str], *commands: tuple[str, ...]) -> list[Outcome]:
    """Run the commands side by side; every process is reaped before this returns."""
    running = [
        (
            args,
            subprocess.Popen(
                [MJGATE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ),
        )
        for args in commands
    ]
    outcomes: list[Outcome] = []
    try:
        for args, process in running:
            out, err = process.communicate(timeout=COMMAND_TIMEOUT)
            outcomes.append(Outcome(args, process.returncode, out.decode(), err.decode()))
    finally:
        for _, process in running:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return outcomes


def ok(env: dict[str, str], *commands: tuple[str, ...]) -> list[str]:
    """Run the commands side by side; each must succeed. Their standard outputs."""
    outcomes = mjgate(env, *commands)
    for outcome in outcomes:
        assert outcome.code == 0, outcome
        assert "Traceback" not in outcome.stderr, outcome
    return [outcome.stdout for outcome in outcomes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    base_url: str
    stdout: Path


@contextmanager
def serving(env: dict[str, str], logs: Path) -> Iterator[Served]:
    """``mjgate serve`` on a free port until /healthz answers; stopped by its pid afterwards."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"serve-{port}.out", logs / f"serve-{port}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [MJGATE, "serve", "--port", str(port)], env=env, stdout=stdout, stderr=stderr
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"serve exited: {err.read_text()}"
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve did not start: {err.read_text()}"
            time.sleep(0.1)
        yield Served(base_url, out)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    assert "Traceback" not in err.read_text(), err.read_text()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_token_shown(served: Served) -> str | None:
    lines = served.stdout.read_text().splitlines()
    for before, line in itertools.pairwise(lines):
        if "Created user 'admin'" in before:
            return line.strip()
    return None


def imagine_to_success(base_url: str, token: str) -> str:
    with httpx.Client(base_url=base_url, headers=bearer(token), timeout=30) as client:
        answer = client.post("/mj/submit/imagine", json={"prompt": "a paper boat"}).json()
        assert answer["code"] == 1, answer
        deadline = time.monotonic() + 30
        while True:
            task = client.get(f"/mj/task/{answer['result']}/fetch").json()
            if task["status"] in ("SUCCESS", "FAILURE", "CANCEL"):
                break
            assert time.monotonic() < deadline, task
            time.sleep(0.1)
    assert task["status"] == "SUCCESS", task
    task_id: str = task["id"]
    return task_id


def _commands(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    command = command or typer.main.get_command(app)
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _command_at(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def test_the_entry_point_runs(tmp_path: Path, pycache: Path) -> None:
    [top] = ok(cli_env(tmp_path, pycache), ("--help",))
    assert "Usage: mjgate" in top
    for group in ("serve", "worker", "db", "user", "token", "channel"):
        assert group in top


@pytest.mark.parametrize("path", list(_commands()), ids=lambda p: " ".join(p) or "mjgate")
def test_help_of_every_command_reads_well(path: tuple[str, ...]) -> None:
    command = _command_at(path)
    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="mjgate", env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    assert f"Usage: mjgate {' '.join(path)}".rstrip() in result.output
    summary = (command.help or "").strip().splitlines()
    assert summary and summary[0].rstrip(".") in result.output  # every command says what it does
    for name in getattr(command, "commands", {}):
        assert name in result.output  # a group lists its commands
    for param in command.params:
        assert getattr(param, "help", None), f"{path} {param.name} has no help"


def test_operator_walk_through(tmp_path: Path, pycache: Path) -> None:
    """db upgrade, first serve, users, tokens, channels, revoke, second serve (SQLite)."""
    env = cli_env(
        tmp_path / "data", pycache, MJGATE_SANDBOX_DURATION="0", MJGATE_NEW_USER_QUOTA="1000"
    )
    assert "up to date" in ok(env, ("db", "upgrade"))[0]

    with serving(env, tmp_path / "logs") as first:
        admin_token = admin_token_shown(first)
        assert admin_token is not None and admin_token.startswith("mjg_")

        created, ops, _ = ok(
            env,
            ("user", "create", "alice"),
            ("user", "create", "ops", "--admin"),
            ("channel", "add", "spare", "--core-size", "2", "--queue-size", "5"),
        )
        assert "created user 'alice'" in created and "admin" in ops
        again, token_out, _ = mjgate(
            env,
            ("user", "create", "alice"),
            ("token", "create", "alice"),
            ("channel", "disable", "spare", "--reason", "maintenance"),
        )
        assert again.code == 1, again
        assert "error:" in again.stderr and "exists already" in again.stderr
        assert "Traceback" not in again.stderr
        assert token_out.code == 0, token_out
        token = token_out.stdout.strip().splitlines()[-1]
        assert token.startswith("mjg_") and token.strip() == token and " " not in token

        task_id = imagine_to_success(first.base_url, token)
        with httpx.Client(base_url=first.base_url, timeout=30) as client:
            everyone = client.get("/mj/task/list", headers=bearer(admin_token)).json()
            assert task_id in [t["id"] for t in everyone]
            revoked, listed = ok(env, ("token", "revoke", token), ("channel", "list"))
            assert "revoked" in revoked
            refused = client.get(f"/mj/task/{task_id}/fetch", headers=bearer(token))
            # A revoked token is answered as an unknown one (issue 12): nothing tells them apart.
            assert refused.status_code == 401 and refused.json()["description"] == "unauthorized"
        spare = [line for line in listed.splitlines() if line.startswith("spare ")]
        assert len(spare) == 1 and "disabled: maintenance" in spare[0]
        assert listed.splitlines()[0].split()[:3] == ["NAME", "KIND", "CORE"]
        assert any(line.startswith("sandbox ") for line in listed.splitlines())

    with serving(env, tmp_path / "logs") as second:
        with httpx.Client(base_url=second.base_url, timeout=30) as client:
            assert client.get("/mj/task/list", headers=bearer(admin_token)).status_code == 200
        shown_again = second.stdout.read_text()
        assert admin_token not in shown_again and "Created user" not in shown_again
        assert "enabled channel 'spare'" in ok(env, ("channel", "enable", "spare"))[0]
    [listed] = ok(env, ("channel", "list", "--json"))
    [spare] = [row for row in json.loads(listed) if row["name"] == "spare"]
    assert (spare["core"], spare["queue"], spare["state"]) == (2, 5, "enabled")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_serve_on_postgres_with_the_admin_token_from_the_environment(
    tmp_path: Path, pycache: Path, database_url: str
) -> None:
    admin_token = "mjg_chosen-by-the-operator-0123456789"
    env = cli_env(
        tmp_path / "data",
        pycache,
        MJGATE_DATABASE_URL=database_url,
        MJGATE_ADMIN_TOKEN=admin_token,
        MJGATE_SANDBOX_DURATION="0",
        MJGATE_NEW_USER_QUOTA="1000",
    )
    with serving(env, tmp_path / "logs") as served:
        assert admin_token_shown(served) is None  # the operator knows it: not printed
        assert admin_token not in served.stdout.read_text()
        ok(env, ("user", "create", "bob"))
        token = ok(env, ("token", "create", "bob"))[0].strip().splitlines()[-1]
        task_id = imagine_to_success(served.base_url, token)
        ok(env, ("token", "revoke", token))
        with httpx.Client(base_url=served.base_url, timeout=30) as client:
            assert client.get(f"/mj/task/{task_id}/fetch", headers=bearer(token)).status_code == 401
            admin_view = client.get(f"/mj/task/{task_id}/fetch", headers=bearer(admin_token))
            assert admin_view.status_code == 200 and admin_view.json()["status"] == "SUCCESS"
            wrong = client.get("/mj/task/list", headers=bearer("mjg_not-the-one"))
            assert wrong.status_code == 401
    assert not (tmp_path / "data" / "mjgate.db").exists()  # the data dir held no database


async def _seed_a_dead_delivery(data_dir: Path) -> str:
    """A task whose push to the default hook was refused (a private address): dead at once."""
    from mjgate.db.migrate import upgrade_database
    from mjgate.services.accounts import bootstrap
    from mjgate.services.runtime import Runtime
    from mjgate.services.submissions import submit_imagine
    from mjgate.services.submit import Caller, SubmitOptions
    from mjgate.settings import load_settings
    from mjgate.workers.runner import Worker

    settings = load_settings(data_dir=data_dir, webhook_default_url="http://10.1.2.3/hook")
    upgrade_database(settings.resolved_database_url)
    rt = Runtime.from_settings(settings)
    try:
        await bootstrap(rt)
        async with rt.db.read() as uow:
            admin = await uow.user_by_name("admin")
        assert admin is not None and admin.id is not None
        caller = Caller(user_id=admin.id, token_id=None, is_admin=True, name="admin")
        answer = await submit_imagine(rt, caller, SubmitOptions(), "a lantern", None)
        worker = Worker(rt)
        await worker.webhooks.deliver_due()
        await worker.webhooks.close()
        return answer.result
    finally:
        await rt.db.dispose()


def test_webhooks_list_retry_and_secret(tmp_path: Path, pycache: Path) -> None:
    import asyncio

    data_dir = tmp_path / "data"
    task_id = asyncio.run(_seed_a_dead_delivery(data_dir))
    env = cli_env(data_dir, pycache)
    secret, failed = ok(env, ("webhooks", "secret"), ("webhooks", "list", "--failed", "--json"))
    assert secret.strip() == (data_dir / "webhook_secret").read_text().strip()
    [row] = json.loads(failed)
    delivery_id = str(row["id"])
    assert (row["status"], row["attempts"], row["task"], row["kind"]) == (
        "dead",
        1,
        task_id,
        "step",
    )
    assert row["url"] == "http://10.1.2.3/hook" and "refused:" in row["last_error"]
    [retried] = ok(env, ("webhooks", "retry", delivery_id))
    assert f"delivery {delivery_id} of task {task_id} is queued again" in retried
    [listed, chosen] = ok(cli_env(data_dir, pycache), ("webhooks", "list"), ("webhooks", "secret"))
    assert listed.splitlines()[0].split()[:2] == ["ID", "STATUS"]
    assert listed.splitlines()[1].split()[:2] == [delivery_id, "pending"]
    assert chosen.strip() == secret.strip()
    [missing] = mjgate(env, ("webhooks", "retry", "999999"))
    assert missing.code == 1 and "no webhook delivery 999999" in missing.stderr
    [from_env] = ok(
        cli_env(data_dir, pycache, MJGATE_WEBHOOK_SECRET="s3cret"), ("webhooks", "secret")
    )
    assert from_env.strip() == "s3cret"


def test_relay_channels_are_added_and_listed_without_their_secret(
    tmp_path: Path, pycache: Path
) -> None:
    secret = "sk-relay-0123456789abcdef"
    env = cli_env(tmp_path / "data", pycache, UPSTREAM_SECRET=secret)
    ok(env, ("db", "upgrade"))  # two first commands side by side would both migrate
    added, missing = mjgate(
        env,
        (
            "channel",
            "add",
            "up",
            "--kind",
            "relay",
            "--base-url",
            "http://127.0.0.1:9",
            "--secret-env",
            "UPSTREAM_SECRET",
            "--auth",
            "bearer",
            "--core-size",
            "2",
            "--actions",
            "IMAGINE",
        ),
        ("channel", "add", "broken", "--kind", "relay", "--base-url", "http://127.0.0.1:9"),
    )
    assert added.code == 0, added
    assert "added channel 'up' (relay)" in added.stdout and secret not in added.stdout
    assert missing.code == 1 and "needs a secret" in missing.stderr, missing
    [listed, as_json] = ok(env, ("channel", "list"), ("channel", "list", "--json"))
    [up] = [row for row in json.loads(as_json) if row["name"] == "up"]
    assert (up["kind"], up["core"], up["actions"]) == ("relay", 2, ["IMAGINE"]), up
    assert up["settings"]["base_url"] == "http://127.0.0.1:9"
    for shown in (listed, as_json):
        assert secret not in shown and "0123456789" not in shown


def test_a_relay_secret_never_comes_from_the_command_line(tmp_path: Path, pycache: Path) -> None:
    env = cli_env(tmp_path / "data", pycache)
    secret_file = tmp_path / "upstream.secret"
    secret_file.write_text("sk-from-a-file-0123456789\n")
    ok(env, ("db", "upgrade"))
    relay = ("channel", "add", "--kind", "relay", "--base-url", "http://127.0.0.1:9")
    on_line, no_env, from_file = mjgate(
        env,
        (*relay, "--secret", "sk-visible-to-ps", "shown"),
        (*relay, "--secret-env", "NOT_SET_ANYWHERE", "unset"),
        (*relay, "--secret-file", str(secret_file), "filed"),
    )
    assert on_line.code == 2 and "--secret is refused" in on_line.stderr, on_line
    assert "--secret-env" in on_line.stderr and "--secret-file" in on_line.stderr
    assert no_env.code == 2 and "NOT_SET_ANYWHERE is not set" in no_env.stderr, no_env
    assert from_file.code == 0, from_file
    [listed] = ok(env, ("channel", "list"))
    names = {line.split()[0] for line in listed.splitlines()}
    assert "filed" in names and "shown" not in names and "unset" not in names, listed
    assert "sk-from-a-file" not in listed
