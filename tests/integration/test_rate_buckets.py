"""The shared bucket statement on both databases, and limiters sharing it."""

from __future__ import annotations

import asyncio
import time

from mjgate.db.rate_buckets import RateBuckets
from mjgate.domain.rate_limits import MICROS, Rate, retry_after_us
from mjgate.services.rate_limiter import RateLimiter
from mjgate.services.runtime import Runtime

SLOW = Rate(per_second=0.01, burst=10)  # refills one cell per 100 s: nothing refills here


async def test_a_reservation_takes_up_to_the_burst_then_nothing(rt: Runtime) -> None:
    buckets = rt.db.rate_buckets
    first = await buckets.reserve("k", 4, interval_us=SLOW.interval_us, burst=SLOW.burst)
    second = await buckets.reserve("k", 4, interval_us=SLOW.interval_us, burst=SLOW.burst)
    third = await buckets.reserve("k", 4, interval_us=SLOW.interval_us, burst=SLOW.burst)
    refused = await buckets.reserve("k", 4, interval_us=SLOW.interval_us, burst=SLOW.burst)
    assert [first.granted, second.granted, third.granted, refused.granted] == [4, 4, 2, 0]
    assert refused.tat_us == third.tat_us  # a refusal moves nothing
    # The database's clock is the epoch's, in µs.
    assert abs(refused.now_us - time.time_ns() // 1000) < 5 * MICROS
    wait = retry_after_us(refused.tat_us, refused.now_us, SLOW)
    assert SLOW.interval_us - 5 * MICROS < wait <= SLOW.interval_us
    other = await buckets.reserve("other", 4, interval_us=SLOW.interval_us, burst=SLOW.burst)
    assert other.granted == 4


async def test_concurrent_reservations_never_overdraw(rt: Runtime) -> None:
    buckets = rt.db.rate_buckets
    results = await asyncio.gather(
        *(
            buckets.reserve("busy", 1, interval_us=SLOW.interval_us, burst=SLOW.burst)
            for _ in range(25)
        )
    )
    assert sum(r.granted for r in results) == SLOW.burst


async def test_prune_deletes_only_keys_full_again(rt: Runtime) -> None:
    buckets = rt.db.rate_buckets
    fast = Rate(per_second=1_000_000, burst=1)  # full again a microsecond later
    await buckets.reserve("stale", 1, interval_us=fast.interval_us, burst=fast.burst)
    await buckets.reserve("fresh", 1, interval_us=SLOW.interval_us, burst=SLOW.burst)
    await asyncio.sleep(0.05)
    assert await buckets.prune(10_000) == 1
    again = await buckets.reserve("fresh", 10, interval_us=SLOW.interval_us, burst=SLOW.burst)
    assert again.granted == SLOW.burst - 1  # the live key kept its state


async def test_two_limiters_on_one_table_share_one_budget(rt: Runtime) -> None:
    """Two processes' limiters (two RateBuckets, two engines) admit one budget between them."""
    rate, reserve = Rate(per_second=20, burst=10), 0.2
    second = RateBuckets(rt.db.url)
    limiters = [
        RateLimiter(rt.db.rate_buckets, reserve_seconds=reserve),
        RateLimiter(second, reserve_seconds=reserve),
    ]
    try:
        began = time.monotonic()
        admitted = 0
        while time.monotonic() - began < 1.0:
            for limiter in limiters:
                if await limiter.admit("shared", rate) == 0:
                    admitted += 1
            await asyncio.sleep(0.002)
        elapsed = time.monotonic() - began
    finally:
        await second.close()
    bound = rate.burst + rate.per_second * (elapsed + reserve)
    assert admitted <= bound
    assert admitted >= rate.burst + rate.per_second * 0.5  # and the budget was usable
    # Reservations, not requests, reach the table.
    assert sum(limiter.reservations for limiter in limiters) < admitted


async def test_a_busy_key_reserves_ahead_and_never_waits(rt: Runtime) -> None:
    """A key used steadily below its rate gets its next slice before the current one ends."""
    rate = Rate(per_second=1000, burst=1000)
    limiter = RateLimiter(rt.db.rate_buckets, reserve_seconds=0.2)
    assert await limiter.admit("steady", rate) == 0  # the first request waits for a slice
    waits = admitted = 0
    began = time.monotonic()
    while time.monotonic() - began < 1.0:
        decided = limiter.admit_now("steady", rate)
        if decided is None:
            waits += 1
            decided = await limiter.admit("steady", rate)
        admitted += decided == 0
        await asyncio.sleep(0.002)
    assert admitted > 100
    assert waits <= 1, waits  # (one, should the machine stall past a quarter period)
    assert limiter.reservations <= 8  # about one per 0.2 s period
