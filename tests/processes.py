"""Real ``mjgate`` processes for tests: started on free ports, stopped by their pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MJGATE = str(Path(sys.executable).parent / "mjgate")
START_TIMEOUT = 90.0


def process_env(data_dir: Path, pycache: Path, **extra: str) -> dict[str, str]:
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Proc:
    """One ``mjgate`` process, its logs in files (pipes could fill and block it)."""

    name: str
    popen: subprocess.Popen[bytes]
    stderr_path: Path
    base_url: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until /healthz answers (serve) or the worker says it started (worker)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.popen.poll() is None, f"{self.name} exited: {self.stderr()}"
            if self._ready():
                return
            assert time.monotonic() < deadline, f"{self.name} did not start: {self.stderr()}"
            time.sleep(0.1)

    def _ready(self) -> bool:
        if self.base_url is None:
            return " started (wake-ups: " in self.stderr()
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def freeze(self) -> None:
        """SIGSTOP: the process holds everything it has and does nothing more."""
        self.popen.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.popen.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to tidy up, as in a crash."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for the graceful exit; its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=30)
            raise AssertionError(f"{self.name} ignored SIGTERM: {self.stderr()}") from None

    def reap(self) -> None:
        """Make sure it is gone (a test that failed half-way must not leave it running)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=30)


def start(env: dict[str, str], logs: Path, name: str, *args: str) -> Proc:
    """``mjgate serve ...`` (on a free port, given ``--port`` is not) or ``mjgate worker``."""
    logs.mkdir(parents=True, exist_ok=True)
    base_url = None
    command = list(args)
    if command[0] == "serve":
        port = free_port()
        command += ["--port", str(port)]
        base_url = f"http://127.0.0.1:{port}"
    stdout = (logs / f"{name}.out").open("w")
    stderr_path = logs / f"{name}.err"
    with stdout, stderr_path.open("w") as stderr:
        popen = subprocess.Popen([MJGATE, *command], env=env, stdout=stdout, stderr=stderr)
    return Proc(name, popen, stderr_path, base_url)
