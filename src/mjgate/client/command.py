"""``mjgate-client``: a user's command for an /mj server (not the operator's ``mjgate``).

The server is ``--base-url`` or ``MJGATE_URL``; the token is ``MJGATE_TOKEN`` or the first
line of ``--token-file`` (never an argument: other users see arguments in ``ps``, and shell
history keeps them). Progress goes to stderr; stdout gets the results (task ids, JSON, paths).

Exit codes: 0 done, 1 the task ended FAILURE or CANCEL, 2 a usage error, 3 the server
refused or could not be reached, 4 the wait timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mjgate.client.errors import ClientError, WaitTimedOut
from mjgate.client.models import TaskStatus
from mjgate.client.retry import RetryPolicy
from mjgate.client.sync_client import Client, Task

DEFAULT_URL = "http://127.0.0.1:8080"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mjgate-client",
        description="Submit and follow Midjourney tasks on an /mj server (mjgate or another).",
        epilog="The token comes from MJGATE_TOKEN or --token-file, never from an argument.",
    )
    parser.add_argument("--base-url", default=os.environ.get("MJGATE_URL", DEFAULT_URL))
    parser.add_argument("--token-file", type=Path, help="a file whose first line is the token")
    parser.add_argument("--auth", choices=["bearer", "mj-api-secret"], default="bearer")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--retries", type=int, default=5, help="tries of a request that made nothing (default 5)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def waiting(sub: argparse.ArgumentParser, default: bool = False) -> None:
        if not default:
            sub.add_argument("--wait", action="store_true", help="wait until it is final")
        sub.add_argument("--out", type=Path, help="download the results here (implies --wait)")
        sub.add_argument("--timeout", type=float, default=600.0)
        sub.add_argument("--poll-interval", type=float, default=1.0)
        sub.add_argument("--json", action="store_true", help="print the task as JSON")

    imagine = commands.add_parser("imagine", help="imagine a prompt")
    imagine.add_argument("prompt")
    imagine.add_argument("--image", action="append", default=[], help="a reference image file")
    imagine.add_argument("--mode", choices=["fast", "relax", "turbo"])
    waiting(imagine)

    press = commands.add_parser("press", help="press a button (U1, V2, 🔄, a customId)")
    press.add_argument("task_id")
    press.add_argument("button")
    press.add_argument("--remix", action="store_true", help="ask for the modal (remix)")
    press.add_argument("--prompt", help="for a modal (Custom Zoom, Vary (Region), remix)")
    press.add_argument("--mask", type=Path, help="the mask image for Vary (Region)")
    waiting(press)

    describe = commands.add_parser("describe", help="four prompts for an image file")
    describe.add_argument("file", type=Path)
    waiting(describe)

    fetch = commands.add_parser("fetch", help="print a task as JSON")
    fetch.add_argument("task_id")

    wait = commands.add_parser("wait", help="wait until a task is final")
    wait.add_argument("task_id")
    waiting(wait, default=True)

    cancel = commands.add_parser("cancel", help="cancel an unfinished task")
    cancel.add_argument("task_id")
    return parser


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        lines = args.token_file.read_text().splitlines()
        return lines[0].strip() if lines else None
    return os.environ.get("MJGATE_TOKEN") or None


def _show(task: Task, as_json: bool) -> None:
    if as_json:
        print(json.dumps(task.raw, ensure_ascii=False))
        return
    print(f"{task.id} {task.status.value} {task.progress}%")
    if task.fail_reason:
        print(f"failReason: {task.fail_reason}")
    for url in task.media_urls():
        print(url)
    if task.buttons:
        print("buttons: " + " ".join(b.label or b.emoji for b in task.buttons))
    if task.action in ("DESCRIBE", "SHORTEN") and task.final_prompt:
        print(task.final_prompt)


def _follow(mj: Client, task: Task, args: argparse.Namespace, always: bool = False) -> int:
    """Print the submitted task's id; with --wait / --out wait, download, show it."""
    if not (always or args.wait or args.out):
        print(task.id)
        return 0
    done = mj.wait(task, args.timeout, poll_interval=args.poll_interval, progress=not args.quiet)
    _show(done, args.json)
    if done.status is TaskStatus.SUCCESS and args.out is not None:
        for path in done.download(args.out):
            print(path)
    if done.status is TaskStatus.MODAL:
        return 0
    return 0 if done.status is TaskStatus.SUCCESS else 1


def _run(mj: Client, args: argparse.Namespace) -> int:
    if args.command == "imagine":
        task = mj.imagine(args.prompt, images=[Path(p) for p in args.image], mode=args.mode)
        return _follow(mj, task, args)
    if args.command == "press":
        task = mj.press(args.task_id, args.button, enable_remix=args.remix)
        if task.status is TaskStatus.MODAL and (args.prompt is not None or args.mask):
            task = task.submit_modal(args.prompt, mask=args.mask)
        elif task.status is TaskStatus.MODAL:
            print(
                f"{task.id} waits in MODAL: press again with --prompt (and --mask)", file=sys.stderr
            )
        return _follow(mj, task, args)
    if args.command == "describe":
        return _follow(mj, mj.describe(args.file), args)
    if args.command == "wait":
        return _follow(mj, mj.fetch(args.task_id), args, always=True)
    if args.command == "cancel":
        mj.cancel(args.task_id)
        return 0
    print(json.dumps(mj.fetch(args.task_id).raw, ensure_ascii=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        token = _token(args)
    except OSError as exc:
        print(f"mjgate-client: cannot read the token file: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        retry = RetryPolicy(attempts=max(1, args.retries))
        with Client(args.base_url, token, auth=args.auth, retry=retry) as mj:
            return _run(mj, args)
    except WaitTimedOut as exc:
        print(f"mjgate-client: {exc}", file=sys.stderr)
        return 4
    except (ClientError, OSError, ValueError) as exc:
        print(f"mjgate-client: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
