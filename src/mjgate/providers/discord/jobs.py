"""The vocabulary of a tracked job: what we expect, where it stands, what we persist.

Pure values; ``matching.JobTracker`` drives them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from mjgate.providers.discord.messages import (
    AccountProblem,
    Described,
    Finished,
    Mode,
    Shortened,
)
from mjgate.providers.discord.payloads import ModalForm

_REF_MAX_CHARS = 400


class ExpectKind(StrEnum):
    """What an interaction we posted should produce."""

    GRID = "grid"  # imagine, reroll
    UPSCALE = "upscale"
    HD_UPSCALE = "hd_upscale"
    VARIATION = "variation"
    PAN = "pan"
    ZOOM = "zoom"
    VIDEO = "video"
    DESCRIBE = "describe"
    SHORTEN = "shorten"
    BLEND = "blend"
    SHOW = "show"
    MODAL_CLICK = "modal_click"  # a click that should open a modal
    IFRAME_CLICK = "iframe_click"  # Vary (Region): a click that should open the editor
    SEED = "seed"  # the ✉️ reaction: the bot answers by DM with the job's seed


class Phase(StrEnum):
    WAITING = "waiting"  # posted, nothing heard yet
    QUEUED = "queued"
    RUNNING = "running"
    MODAL = "modal"  # the bot opened a modal: submit it, then ``expect`` again
    IFRAME = "iframe"  # the bot opened the Vary (Region) editor
    FINISHED = "finished"
    FAILED = "failed"
    ACCOUNT_PROBLEM = "account_problem"


TERMINAL = frozenset({Phase.FINISHED, Phase.FAILED, Phase.ACCOUNT_PROBLEM})


@dataclass(frozen=True)
class SeedFound:
    """The result of a SEED job."""

    job_hash: str
    seed: int


Result = Finished | Described | Shortened | SeedFound


@dataclass(frozen=True)
class JobRef:
    """What the tracker learned about a job, small enough to keep in the task row.

    Another process rebuilds tracking from it after a crash (``JobTracker.adopt``).
    """

    nonce: str | None = None
    first_message_id: str | None = None
    interaction_id: str | None = None
    job_hash: str | None = None

    _KEYS = (("n", "nonce"), ("m", "first_message_id"), ("i", "interaction_id"), ("h", "job_hash"))

    def to_text(self) -> str:
        values = {short: getattr(self, name) for short, name in self._KEYS}
        return json.dumps({k: v for k, v in values.items() if v}, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> JobRef:
        """Read ``to_text``'s output; ``ValueError`` for anything else."""
        if len(text) > _REF_MAX_CHARS:
            raise ValueError("a job reference is at most 400 characters")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError("a job reference is a JSON object") from exc
        if not isinstance(data, dict) or not set(data) <= {short for short, _ in cls._KEYS}:
            raise ValueError("a job reference is a JSON object of n, m, i, h")
        if not all(isinstance(value, str) and value for value in data.values()):
            raise ValueError("a job reference holds non-empty strings")
        return cls(**{name: data.get(short) for short, name in cls._KEYS})


@dataclass(frozen=True)
class JobState:
    """Where one task stands; ``version`` grows on every change."""

    task_id: str
    kind: ExpectKind
    phase: Phase
    nonce: str | None
    progress: int | None
    mode: Mode | None
    first_message_id: str | None
    interaction_id: str | None
    job_hash: str | None
    result: Result | None
    fail_reason: str | None
    modal: ModalForm | None
    iframe_token: str | None
    account_problem: AccountProblem | None
    changed_at: float
    version: int
    # The message that carries the result and its buttons, and its flags: a follow-up
    # presses its button there (Discord wants the flags of that message).
    result_message_id: str | None = None
    result_flags: int = 0

    @property
    def ref(self) -> JobRef:
        return JobRef(self.nonce, self.first_message_id, self.interaction_id, self.job_hash)


@dataclass
class TrackedJob:
    """A job as the tracker keeps it (mutable); ``snapshot`` is what it shows."""

    task_id: str
    kind: ExpectKind
    prompt: str
    nonce: str | None
    parent_message_id: str | None
    parent_hash: str | None
    index: int | None
    order: int
    changed_at: float
    version: int = 0
    phase: Phase = Phase.WAITING
    progress: int | None = None
    mode: Mode | None = None
    first_message_id: str | None = None
    interaction_id: str | None = None
    job_hash: str | None = None
    result: Result | None = None
    fail_reason: str | None = None
    modal: ModalForm | None = None
    iframe_token: str | None = None
    account_problem: AccountProblem | None = None
    result_message_id: str | None = None
    result_flags: int = 0
    claimed: set[str] = field(default_factory=set)

    def snapshot(self) -> JobState:
        return JobState(
            task_id=self.task_id,
            kind=self.kind,
            phase=self.phase,
            nonce=self.nonce,
            progress=self.progress,
            mode=self.mode,
            first_message_id=self.first_message_id,
            interaction_id=self.interaction_id,
            job_hash=self.job_hash,
            result=self.result,
            fail_reason=self.fail_reason,
            modal=self.modal,
            iframe_token=self.iframe_token,
            account_problem=self.account_problem,
            changed_at=self.changed_at,
            version=self.version,
            result_message_id=self.result_message_id,
            result_flags=self.result_flags,
        )
