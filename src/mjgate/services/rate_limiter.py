"""Who may make another request now: GCRA budgets per key, per process or shared.

On SQLite one process owns the database, so the budgets live in this process's memory and
a decision is a dictionary lookup and some arithmetic.

On PostgreSQL several processes serve the same tokens, so the budgets live in the
``rate_buckets`` table. Asking the database per request would put a write on every fetch;
instead a process *reserves a slice* of a key's budget (``reserve_seconds`` worth of its
rate, at most a burst) in one UPSERT and spends it locally, so the database sees at most
about one statement per key per reserve period and process. Cells not spent within
``reserve_seconds`` are dropped, never carried over, which bounds what the processes admit
together over any span of ``t`` seconds to ``burst + rate × (t + reserve_seconds)``: every
admitted request was reserved in the database, which admits ``burst + rate × t`` over
``t``, and a reservation is spent within ``reserve_seconds`` of being made. The price is
the other direction: a slice reserved by a process that then gets no requests is lost, so
with ``N`` processes up to ``N × rate × reserve_seconds`` cells a period may go unused.
A busy key's next slice is reserved while a quarter of the current one is left, so its
requests do not wait for the table; the two are kept apart, each dropped at its own end.
A refusal is remembered locally until the database said the budget frees, and for one
reserve period at least, so refused requests cost no statements either: the table sees at
most about one statement per key, process and reserve period, however busy the key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from mjgate.db.rate_buckets import RateBuckets
from mjgate.domain.accounts import hash_token
from mjgate.domain.rate_limits import MICROS, Rate, admit_one, retry_after_us

log = logging.getLogger(__name__)

# Forget state of keys whose budget is full again once this many are held (a sweep costs
# one pass; below this size, idle keys cost a few hundred bytes each).
SWEEP_ABOVE = 10_000
PRUNE_EVERY_US = 60 * MICROS  # delete stale rate_buckets rows this often per process


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


@dataclass
class _Slice:
    """This process's share of a key's shared budget."""

    cells: int = 0
    expires_us: int = 0  # unspent cells are dropped then (they were counted in the table)
    granted: int = 0  # what the reservation of these cells got
    # The slice reserved ahead, while the current one still had cells: spent after it.
    next_cells: int = 0
    next_expires_us: int = 0
    denied_until_us: int = 0  # the table said no until then
    pending: asyncio.Task[None] | None = None  # a reservation under way

    def running_low(self, now: int, period_us: int) -> bool:
        """A quarter of the cells or of the period left: time to reserve the next slice,
        so that a busy key's requests never wait for the table."""
        return 4 * self.cells <= self.granted or 4 * (self.expires_us - now) <= period_us


class RateLimiter:
    """``admit(key, rate)``: 0 when the request may go on, else the µs to wait."""

    def __init__(
        self,
        shared: RateBuckets | None,
        *,
        reserve_seconds: float = 0.2,
        clock_us: Callable[[], int] = monotonic_us,
    ) -> None:
        self._shared = shared
        self._reserve_us = max(1, round(reserve_seconds * MICROS))
        self._reserve_seconds = reserve_seconds
        self._clock = clock_us
        self._tats: dict[str, int] = {}
        self._slices: dict[str, _Slice] = {}
        self._next_prune_us = 0
        self.reservations = 0  # statements sent to the table (tests and benches read it)

    def admit_now(self, key: str, rate: Rate) -> int | None:
        """The decision when this process can make it alone (always, without a table);
        None when a reservation is needed first."""
        now = self._clock()
        if self._shared is None:
            tat = self._tats.get(key, 0)
            next_tat = admit_one(tat, now, rate)
            if next_tat:
                if not tat and len(self._tats) >= SWEEP_ABOVE:
                    self._sweep_tats(now)
                self._tats[key] = next_tat
                return 0
            return retry_after_us(tat, now, rate)
        held = self._slices.get(key)
        if held is not None:
            if not (held.cells and now < held.expires_us) and held.next_cells:
                held.cells, held.expires_us = held.next_cells, held.next_expires_us
                held.granted, held.next_cells = held.next_cells, 0
            if held.cells and now < held.expires_us:
                held.cells -= 1
                if (
                    held.pending is None
                    and not held.next_cells
                    and held.running_low(now, self._reserve_us)
                ):
                    held.pending = asyncio.ensure_future(self._reserve(key, rate, held))
                    held.pending.add_done_callback(_log_failure)
                return 0
            if now < held.denied_until_us:
                return held.denied_until_us - now
        return None

    async def admit(self, key: str, rate: Rate) -> int:
        """0 when the request may go on, else the µs until one would be admitted."""
        while True:
            decided = self.admit_now(key, rate)
            if decided is not None:
                return decided
            held = self._slices.get(key)
            if held is None:
                if len(self._slices) >= SWEEP_ABOVE:
                    self._sweep_slices(self._clock())
                held = self._slices[key] = _Slice()
            if held.pending is None:
                held.pending = asyncio.ensure_future(self._reserve(key, rate, held))
            try:
                # Everyone waiting on this key shares the one reservation.
                await asyncio.shield(held.pending)
            except Exception:
                # The table is out of reach: let the request through rather than turn a
                # database fault into refusals of every client (the request itself will
                # meet the same database and answer for it).
                log.warning("rate limit reservation for a key failed; admitting", exc_info=True)
                return 0

    async def _reserve(self, key: str, rate: Rate, held: _Slice) -> None:
        assert self._shared is not None
        try:
            reserved = await self._shared.reserve(
                key,
                rate.cells_in(self._reserve_seconds),
                interval_us=rate.interval_us,
                burst=rate.burst,
            )
            self.reservations += 1
            now = self._clock()
            if reserved.granted and held.cells and now < held.expires_us:
                held.next_cells, held.next_expires_us = reserved.granted, now + self._reserve_us
            elif reserved.granted:
                held.cells, held.expires_us = reserved.granted, now + self._reserve_us
                held.granted = reserved.granted
            else:
                # Held for a reserve period at least: a saturated key then costs one
                # statement a period, and the next reservation finds a period's refill.
                wait = retry_after_us(reserved.tat_us, reserved.now_us, rate)
                held.cells, held.denied_until_us = 0, now + max(wait, self._reserve_us)
            if now >= self._next_prune_us:
                self._next_prune_us = now + PRUNE_EVERY_US
                await self._shared.prune(PRUNE_EVERY_US)
        finally:
            held.pending = None

    def _sweep_tats(self, now: int) -> None:
        """A key whose TAT has passed has its whole budget: the same as no entry."""
        self._tats = {k: tat for k, tat in self._tats.items() if tat > now}

    def _sweep_slices(self, now: int) -> None:
        self._slices = {
            k: s
            for k, s in self._slices.items()
            if s.pending is not None
            or now < s.denied_until_us
            or (s.cells and now < s.expires_us)
            or (s.next_cells and now < s.next_expires_us)
        }


def _log_failure(task: asyncio.Task[None]) -> None:
    """A reservation made ahead has no one waiting on it: its failure is logged here."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("rate limit reservation ahead failed", exc_info=task.exception())


class KnownTokens:
    """Hashes of tokens this process has seen the gateway accept, the oldest learned first.

    A request is counted under its token only once the token is known good; until then it
    counts under the client's address, so inventing tokens gains no fresh budgets. What is
    known is learned from answers, so there is no lookup per request.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._hashes: OrderedDict[str, None] = OrderedDict()
        # token -> hash of the known ones: a dict lookup instead of a SHA-256 per request.
        self._hash_of: dict[str, str] = {}

    def hash_of(self, token: str) -> str:
        hashed = self._hash_of.get(token)
        return hash_token(token) if hashed is None else hashed

    def learn_token(self, token: str, hashed: str) -> None:
        self.learn(hashed)
        if len(self._hash_of) >= self._capacity:
            self._hash_of.clear()  # rebuilt from the next requests of the tokens in use
        self._hash_of[token] = hashed

    def __contains__(self, token_hash: str) -> bool:
        return token_hash in self._hashes

    def learn(self, token_hash: str) -> None:
        self._hashes[token_hash] = None
        self._hashes.move_to_end(token_hash)
        if len(self._hashes) > self._capacity:
            self._hashes.popitem(last=False)
