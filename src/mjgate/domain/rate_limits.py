"""Rate limits as GCRA, the generic cell rate algorithm: one number per key, no timers.

A key's whole state is its *theoretical arrival time* (TAT): the moment its budget would be
full again if nothing more came. Each admitted request pushes the TAT one emission interval
(``1 / rate``) further; a request is admitted while the TAT stays within ``burst`` intervals
of now. This is a token bucket without the refill bookkeeping: the same admissions, one
integer to store (in memory, or one row of ``rate_buckets`` on PostgreSQL, which runs the
same arithmetic in SQL: ``mjgate.db.rate_buckets``).

Times are integer microseconds, so the database and this module compute alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

MICROS = 1_000_000


@dataclass(frozen=True)
class Rate:
    """``per_second`` requests a second on average, up to ``burst`` of them at once."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not self.per_second > 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")

    @cached_property  # read on every decision
    def interval_us(self) -> int:
        """The emission interval: the spacing of requests at the sustained rate."""
        return max(1, round(MICROS / self.per_second))

    @cached_property
    def window_us(self) -> int:
        """How far ahead of now the TAT may run: ``burst`` intervals."""
        return self.burst * self.interval_us

    @cached_property
    def slack_us(self) -> int:
        """How far ahead of now the TAT may be for one more request to fit."""
        return self.window_us - self.interval_us

    def cells_in(self, seconds: float) -> int:
        """Requests the rate allows in ``seconds`` (at least 1, at most a burst)."""
        return max(1, min(self.burst, math.ceil(self.per_second * seconds)))


def rate_or_none(per_second: float, burst: int) -> Rate | None:
    """The limit a pair of settings describes; a rate of 0 means no limit."""
    return Rate(per_second, max(1, burst)) if per_second > 0 else None


@dataclass(frozen=True)
class Grant:
    """``cells`` admitted (0: refused), the key's new TAT, and when refused, the wait until
    one request would be admitted."""

    cells: int
    tat_us: int
    retry_after_us: int


def grant(tat_us: int, now_us: int, rate: Rate, wanted: int = 1) -> Grant:
    """Admit up to ``wanted`` requests at ``now_us`` against a key whose TAT is ``tat_us``
    (0 for a key never seen). As many as fit are granted, so a reservation of several
    cells (``services.rate_limiter``) takes what is left rather than nothing."""
    base = max(tat_us, now_us)
    room = (now_us + rate.window_us - base) // rate.interval_us
    cells = max(0, min(wanted, room))
    if cells:
        return Grant(cells, base + cells * rate.interval_us, 0)
    return Grant(0, tat_us, retry_after_us(tat_us, now_us, rate))


def admit_one(tat_us: int, now_us: int, rate: Rate) -> int:
    """``grant(tat_us, now_us, rate).tat_us`` when one request fits, else 0: the same
    decision without a division or an object, for the check made on every request."""
    base = tat_us if tat_us > now_us else now_us
    return base + rate.interval_us if base - now_us <= rate.slack_us else 0


def retry_after_us(tat_us: int, now_us: int, rate: Rate) -> int:
    """Microseconds until the next single request would be admitted (0: now)."""
    return max(0, max(tat_us, now_us) + rate.interval_us - rate.window_us - now_us)


def retry_after_seconds(wait_us: int) -> int:
    """A ``Retry-After`` value: whole seconds, rounded up, at least 1."""
    return max(1, -(-wait_us // MICROS))
