"""The claimed capture clock against the server's arrival clock."""

from __future__ import annotations

import pytest

from veronica.liveness.clock import ClockBinding, ClockLimits

LIMITS = ClockLimits(max_drift_s=0.5)


def feed(pairs: list[tuple[float, float]]) -> ClockBinding:
    binding = ClockBinding(LIMITS)
    for arrival, claimed in pairs:
        binding.observe(arrival, claimed)
    return binding


def test_an_honest_client_with_jitter_stays_bound() -> None:
    # Arrivals 100 ms apart with 0–150 ms of varying upload time; any offset works.
    jitter = [0.0, 0.12, 0.03, 0.15, 0.07, 0.0, 0.1]
    pairs = [(1000.0 + i * 0.1 + j, 5.0 + i * 0.1) for i, j in enumerate(jitter)]
    binding = feed(pairs)
    assert not binding.drifted
    assert binding.spread_s == pytest.approx(0.15)
    check = binding.check()
    assert check.passed and check.name == "clock_drift" and check.limit == 0.5


@pytest.mark.parametrize("rate", [0.5, 0.9, 1.1, 2.0])
def test_a_claimed_clock_running_slow_or_fast_drifts_out(rate: float) -> None:
    # Claimed time runs at ``rate`` × real time: the offset grows linearly.
    binding = ClockBinding(LIMITS)
    frames = 0
    while not binding.drifted:
        t = frames * 0.1
        binding.observe(t, t * rate)
        frames += 1
        assert frames < 1000
    assert abs(1.0 - rate) * (frames - 1) * 0.1 > LIMITS.max_drift_s
    check = binding.check()
    assert not check.passed and "claimed" in check.detail and "arrived" in check.detail


def test_an_offline_responder_drifts_at_once() -> None:
    # 1.5 s of real time per frame while claiming 100 ms.
    binding = feed([(0.0, 0.0), (1.5, 0.1)])
    assert binding.drifted and binding.spread_s == pytest.approx(1.4)


def test_a_single_late_frame_counts() -> None:
    # One frame held back 0.6 s (then the stream is on time again) is out of the band.
    pairs = [(i * 0.1, i * 0.1) for i in range(10)] + [(1.6, 1.0)] + [(1.7, 1.7)]
    binding = feed(pairs)
    assert binding.drifted and binding.spread_s == pytest.approx(0.6)


def test_no_claimed_times_is_a_documented_pass() -> None:
    binding = ClockBinding(LIMITS)
    binding.observe(0.0, None)
    binding.observe(10.0, None)
    check = binding.check()
    assert check.passed and check.detail == "no claimed times"
