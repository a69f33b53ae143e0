"""mjgate.client installs and runs without the server: importing it loads only httpx and the
standard library, and the mjgate-client wheel (clients/python) installed into a fresh venv
with nothing but its own dependencies imagines against a real mjgate."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from support import ADMIN_TOKEN, ServedApp

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {
    "fastapi", "starlette", "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "PIL", "av",
    "pydantic", "pydantic_settings", "uvicorn", "typer", "orjson", "prometheus_client",
    "websockets",
}  # fmt: skip


def test_importing_the_client_loads_nothing_of_the_server() -> None:
    program = "import json, sys, mjgate.client; print(json.dumps(list(sys.modules)))"
    shown = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(shown.stdout))
    assert not {name.split(".")[0] for name in loaded} & HEAVY
    ours = {name for name in loaded if name.split(".")[0] == "mjgate"}
    assert ours - {"mjgate"} and all(n.startswith("mjgate.client") for n in ours - {"mjgate"})


def uv(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "uv", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_wheel_alone_in_a_fresh_venv(served: ServedApp, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    await asyncio.to_thread(uv, "build", "--wheel", "clients/python", "-o", str(dist))
    (wheel,) = dist.glob("mjgate_client-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mjgate/client/__init__.py" in names and "mjgate/client/command.py" in names
    assert "mjgate/__init__.py" not in names  # `mjgate` stays the server's (or a namespace)
    assert all(n.startswith(("mjgate/client/", "mjgate_client-")) for n in names)
    assert not [n for n in names if n.endswith(".pyc")]

    venv = tmp_path / "venv"
    await asyncio.to_thread(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    await asyncio.to_thread(uv, "pip", "install", "--quiet", "--python", str(python), str(wheel))
    installed = {
        line.split("==")[0].lower()
        for line in (await asyncio.to_thread(uv, "pip", "freeze", "--python", str(python))).split()
    }
    assert {"mjgate-client", "httpx"} <= installed
    assert not installed & {name.lower().replace("_", "-") for name in HEAVY | {"pillow"}}
    assert "mjgate" not in installed

    process = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "mjgate-client"), "--quiet", "imagine", "a kite over the dunes",
        "--wait", "--out", str(tmp_path / "out"), "--poll-interval", "0.05",
        env={"MJGATE_URL": served.base_url, "MJGATE_TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    assert " SUCCESS 100%" in out.decode().splitlines()[0]
    assert len(list((tmp_path / "out").glob("*.png"))) == 5
