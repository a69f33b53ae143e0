"""Executor settings of `channel add` and `channel edit`: secrets from the environment, a
file or a hidden prompt (never the command line), and the Discord and relay options."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from mjgate.cli.operator import fail


def refuse_on_command_line(flag: str, *, asked: bool = True) -> None:
    fail(
        f"--{flag} is refused: a command line is visible to every user of this machine "
        f"and kept in shell history. Use --{flag}-env NAME or --{flag}-file PATH"
        + (", or leave both out to be asked for it." if asked else ".")
    )


def read_secret(
    what: str, flag: str, env_name: str | None, file: Path | None, *, prompt: bool = True
) -> str | None:
    """A secret (a relay's upstream secret, a Discord account's token) from an environment
    variable, a file, or (at a terminal, when ``prompt``) a hidden prompt; never from the
    command line, where other users and shell history see it, and never printed back."""
    if env_name is not None and file is not None:
        fail(f"give --{flag}-env or --{flag}-file, not both.")
    if env_name is not None:
        value = os.environ.get(env_name, "").strip()
        if not value:
            fail(f"the environment variable {env_name} is not set or empty.")
        return value
    if file is not None:
        try:
            value = file.read_text().strip()
        except OSError as exc:
            fail(f"cannot read the {flag} file {file}: {exc.strerror}.")
        if not value:
            fail(f"the {flag} file {file} is empty.")
        return value
    if prompt and sys.stdin.isatty():
        prompted: str = typer.prompt(what, hide_input=True)
        return prompted.strip() or None
    return None  # the channel check answers that the secret is missing


def pace_settings(pace: str) -> dict[str, object]:
    low, _, high = pace.partition("-")
    try:
        return {"pace_min": float(low), "pace_max": float(high or low)}
    except ValueError:
        fail("--pace takes seconds as MIN-MAX, e.g. 1-3, or one number.")


def bots(niji: bool) -> list[str]:
    # Niji tasks go only to accounts whose channel has the niji・journey bot.
    return ["MID_JOURNEY", "NIJI_JOURNEY"] if niji else ["MID_JOURNEY"]


def discord_config(*, pace: str | None, **given: object) -> dict[str, object]:
    config = {name: value for name, value in given.items() if value not in (None, False)}
    config["bots"] = bots(bool(given.get("niji")))
    if pace is not None:
        config.update(pace_settings(pace))
    return config


def given(**values: object) -> dict[str, object]:
    """The settings an edit names (None: not given, left as it is)."""
    return {name: value for name, value in values.items() if value is not None}


def list_of(text: str | None) -> list[str] | None:
    """``FAST,RELAX`` → ["FAST", "RELAX"]; None stays None."""
    return [part.strip().upper() for part in text.split(",") if part.strip()] if text else None
