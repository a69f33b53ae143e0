"""GCRA and the per-process limiter, on a fake clock."""

from __future__ import annotations

import pytest

from mjgate.domain.accounts import hash_token
from mjgate.domain.rate_limits import (
    MICROS,
    Rate,
    admit_one,
    grant,
    rate_or_none,
    retry_after_seconds,
)
from mjgate.services.rate_limiter import SWEEP_ABOVE, KnownTokens, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now_us = 1_000 * MICROS

    def __call__(self) -> int:
        return self.now_us

    def advance(self, seconds: float) -> None:
        self.now_us += round(seconds * MICROS)


def test_a_fresh_key_takes_a_whole_burst_then_is_refused() -> None:
    rate, now, tat = Rate(per_second=2, burst=3), 50 * MICROS, 0
    for _ in range(3):
        verdict = grant(tat, now, rate)
        assert verdict.cells == 1
        tat = verdict.tat_us
    refused = grant(tat, now, rate)
    assert refused.cells == 0 and refused.tat_us == tat
    assert refused.retry_after_us == MICROS // 2  # one interval at 2/s


def test_the_budget_refills_at_the_rate() -> None:
    rate, now, tat = Rate(per_second=10, burst=1), 7 * MICROS, 0
    admitted = 0
    for step in range(100):  # 1 s in 10 ms steps
        verdict = grant(tat, now + step * 10_000, rate)
        if verdict.cells:
            admitted, tat = admitted + 1, verdict.tat_us
    assert admitted == 10


def test_admit_one_decides_as_grant_does() -> None:
    rate = Rate(per_second=3, burst=4)
    for tat in range(0, 3 * MICROS, 12_345):
        for now in (0, MICROS // 3, MICROS, 2 * MICROS):
            verdict = grant(tat, now, rate)
            assert admit_one(tat, now, rate) == (verdict.tat_us if verdict.cells else 0)


def test_a_reservation_takes_what_fits() -> None:
    rate, now = Rate(per_second=100, burst=5), 9 * MICROS
    first = grant(0, now, rate, wanted=4)
    assert first.cells == 4
    second = grant(first.tat_us, now, rate, wanted=4)
    assert second.cells == 1
    assert grant(second.tat_us, now, rate, wanted=4).cells == 0


def test_an_idle_key_is_full_again_never_fuller() -> None:
    rate = Rate(per_second=1, burst=2)
    tat = grant(0, 0, rate, wanted=2).tat_us
    later = 3_600 * MICROS
    assert grant(tat, later, rate, wanted=10).cells == 2


def test_limits_are_off_at_rate_zero_and_rates_need_a_burst() -> None:
    assert rate_or_none(0, 10) is None
    assert rate_or_none(5, 0) == Rate(5, 1)
    with pytest.raises(ValueError):
        Rate(0, 1)


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after_seconds(1) == 1
    assert retry_after_seconds(MICROS) == 1
    assert retry_after_seconds(MICROS + 1) == 2
    assert retry_after_seconds(0) == 1


def test_the_in_memory_limiter_admits_burst_then_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock_us=clock)
    rate = Rate(per_second=5, burst=10)
    assert [limiter.admit_now("k", rate) for _ in range(10)] == [0] * 10
    wait = limiter.admit_now("k", rate)
    assert wait == 200_000
    assert limiter.admit_now("other", rate) == 0  # keys are separate
    clock.advance(1.0)
    assert [limiter.admit_now("k", rate) for _ in range(5)] == [0] * 5
    assert limiter.admit_now("k", rate)


def test_the_in_memory_limiter_forgets_full_keys_when_it_holds_many() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock_us=clock)
    rate = Rate(per_second=1000, burst=1)
    for n in range(SWEEP_ABOVE):
        limiter.admit_now(f"k{n}", rate)
    clock.advance(1.0)  # every one of them is full again
    limiter.admit_now("new", rate)
    assert len(limiter._tats) == 1  # the sweep is the point


def test_known_tokens_are_learned_and_stay_bounded() -> None:
    known = KnownTokens(capacity=2)
    known.learn("a")
    known.learn("b")
    known.learn("a")  # a is now the most recent
    known.learn("c")
    assert "a" in known and "c" in known and "b" not in known
    assert known.hash_of("mjg_x") == hash_token("mjg_x")
    known.learn_token("mjg_x", hash_token("mjg_x"))
    assert hash_token("mjg_x") in known and known.hash_of("mjg_x") == hash_token("mjg_x")
