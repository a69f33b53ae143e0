"""Fault injection: the switches tests and operators flip to make the simulated Discord and bot
misbehave in the ways the real ones do. Read by the gateway, the routes and the bot."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

ACCOUNT_PROBLEMS = ("bad_token", "captcha", "blocked", "subscription", "credits_exhausted")

# The embed each lasting account problem answers every interaction with (credits: fast jobs only).
PROBLEM_EMBEDS = {
    "blocked": ("Blocked", "You have been blocked from accessing Midjourney."),
    "subscription": (
        "Subscription required",
        "You need an active subscription to use this command.",
    ),
    "credits_exhausted": (
        "Credits exhausted",
        "You have run out of fast hours. Switch to relax mode with /relax or buy more time.",
    ),
}


@dataclass
class Failure:
    title: str
    description: str
    color: int = 16711680


@dataclass
class Script:
    """Every scripted behaviour; defaults are a well-behaved Discord."""

    speed: float = 1.0  # multiplies every delay of the bot
    job_duration: float = 3.0  # seconds (before speed) from start to the final message
    progress_steps: tuple[int, ...] = (0, 31, 62, 93)
    max_concurrent: int = 3  # jobs one account runs at once; more wait behind "Job queued"
    heartbeat_interval_ms: int = 41250
    fail_next: deque[Failure] = field(default_factory=deque)
    rate_limits: deque[float] = field(default_factory=deque)  # retry_after of the next 429s
    acks_stopped: bool = False
    held: bool = False  # dispatches recorded but not sent to live sockets
    split_frames: bool = False  # compressed payloads sent as two binary frames
    remix: bool = False
    job_queued: bool = False  # every job answers "Job queued" before it starts
    strip_metadata: bool = False  # final messages carry no interaction_metadata
    rewrite_prompts: bool = False
    prompt_limit: int | None = 180  # prompts shown longer than this are cut with "…"

    def delay(self, seconds: float) -> float:
        return max(0.0, seconds * self.speed)
