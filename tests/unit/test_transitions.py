"""A task's status changes only by the table of transitions, through the domain's operations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mjgate.domain.tasks import (
    FINAL_STATUSES,
    Mode,
    Task,
    TaskAction,
    TaskStatus,
    TransitionNotAllowed,
    can_transition,
    finish,
    leave_modal,
    move,
    requeue,
    start,
)

SOURCE = Path(__file__).resolve().parents[2] / "src" / "mjgate"


def _task(status: TaskStatus) -> Task:
    return Task(
        id="1750000000000123",
        user_id=1,
        action=TaskAction.IMAGINE,
        status=status,
        mode=Mode.FAST,
        submit_time=1_750_000_000_000,
    )


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_a_final_task_never_changes(final: TaskStatus) -> None:
    for status in TaskStatus:
        with pytest.raises(TransitionNotAllowed):
            move(_task(final), status)


def test_the_table_is_what_the_operations_obey() -> None:
    for current in TaskStatus:
        for new in TaskStatus:
            task = _task(current)
            if can_transition(current, new):
                move(task, new)
                assert task.status == new
            else:
                with pytest.raises(TransitionNotAllowed):
                    move(task, new)
                assert task.status == current  # nothing changed


def test_start_requeue_leave_modal_and_finish_keep_their_bookkeeping() -> None:
    task = _task(TaskStatus.NOT_START)
    start(task, "w1", 10, 20, 30)
    assert (task.status, task.start_count, task.worker_id, task.deadline_at) == (
        TaskStatus.SUBMITTED,
        1,
        "w1",
        30,
    )
    requeue(task, channel_id=7, queue_seq=3, deadline_at=40, now=11)
    assert (task.status, task.start_count, task.channel_id, task.start_time) == (
        TaskStatus.NOT_START,
        0,
        7,
        None,
    )
    with pytest.raises(TransitionNotAllowed):  # a task that started work cannot go back
        requeue(_task(TaskStatus.IN_PROGRESS), 7, 3, 40, 11)
    with pytest.raises(TransitionNotAllowed):  # only a MODAL task leaves its modal
        leave_modal(_task(TaskStatus.SUBMITTED), 1, 2, 3)
    modal = _task(TaskStatus.MODAL)
    leave_modal(modal, queue_seq=5, deadline_at=50, now=12)
    assert (modal.status, modal.queue_seq) == (TaskStatus.NOT_START, 5)
    with pytest.raises(TransitionNotAllowed):
        finish(modal, TaskStatus.IN_PROGRESS, None, 13)
    finish(modal, TaskStatus.FAILURE, "queue timeout", 13)
    assert (modal.progress, modal.fail_reason, modal.finish_time) == (100, "queue timeout", 13)


def test_no_code_outside_the_domain_sets_a_task_status_by_hand() -> None:
    """Every status change goes through domain.tasks (webhook deliveries have their own)."""
    offenders = []
    for path in SOURCE.rglob("*.py"):
        if path == SOURCE / "domain" / "tasks.py" or "discord_sim" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.status\s*=\s*TaskStatus\.", line):
                offenders.append(f"{path.relative_to(SOURCE)}:{number}: {line.strip()}")
    assert offenders == []
