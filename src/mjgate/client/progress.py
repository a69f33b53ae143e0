"""A task's progress on stderr, without tqdm: one redrawn line on a terminal, else a line
per change (logs and pipes get readable text, not carriage returns)."""

from __future__ import annotations

import sys
from typing import TextIO

from mjgate.client.models import TaskData

WIDTH = 24


class ProgressBar:
    """Call it with each task seen; ``close()`` ends the line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.last: tuple[str, int] | None = None

    def __call__(self, task: TaskData) -> None:
        seen = (task.status.value, task.progress)
        if seen == self.last:
            return
        self.last = seen
        filled = WIDTH * task.progress // 100
        bar = "#" * filled + "-" * (WIDTH - filled)
        line = f"{task.id} [{bar}] {task.progress:3d}% {task.status.value}"
        if self.live:
            self.stream.write("\r" + line)
            if task.is_final:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if (
            self.live
            and self.last is not None
            and self.last[0]
            not in (
                "SUCCESS",
                "FAILURE",
                "CANCEL",
            )
        ):
            self.stream.write("\n")
            self.stream.flush()
