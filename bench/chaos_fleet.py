"""The processes bench/chaos.py kills: one ``mjgate serve --no-workers`` on a fixed loopback
port (so that clients reach its successor at the same address) and ``mjgate worker``s.

Every process is started here and ended here, by its own pid; nothing else is signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
READY_WITHIN = 120.0


@dataclass
class Member:
    """One role in the fleet (``serve`` or ``worker-N``) and its current process."""

    name: str
    args: list[str]
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0


@dataclass
class Fleet:
    env: dict[str, str]
    logs: Path
    port: int
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, name: str, args: list[str]) -> None:
        self.members[name] = Member(name, args)
        self.start(name)

    def start(self, name: str) -> None:
        """Start ``name`` and wait until it serves (HTTP) or has said it started (worker)."""
        member = self.members[name]
        member.starts += 1
        err = self.logs / f"{name}-{member.starts}.err"
        command = [str(BIN / "mjgate"), *member.args]
        if member.args[0] == "serve":
            command += ["--host", "127.0.0.1", "--port", str(self.port)]
        with err.open("w") as stderr:
            member.popen = subprocess.Popen(
                command, env=self.env, stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + READY_WITHIN
        while not self._ready(member, err):
            if member.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {err.read_text()[-2000:]}")
            time.sleep(0.05)

    def _ready(self, member: Member, err: Path) -> bool:
        if member.args[0] != "serve":
            return " started (wake-ups: " in err.read_text()
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, name: str) -> None:
        """SIGKILL the member's process (nothing of it gets to clean up) and reap it."""
        popen = self.members[name].popen
        assert popen is not None
        os.kill(popen.pid, signal.SIGKILL)
        popen.wait()

    def stop_all(self) -> None:
        """SIGTERM each process still running, SIGKILL whichever outlives 30 s."""
        running = [m.popen for m in self.members.values() if m.popen and m.popen.poll() is None]
        for popen in running:
            popen.terminate()
        for popen in running:
            try:
                popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
