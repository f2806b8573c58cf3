"""Adaptive admission: AIMD on the pace of the coordinator's rounds."""

from __future__ import annotations

import asyncio

import pytest

from node.pipeline.admission import (
    CONGESTED_SHARE,
    AdmissionControl,
    RoundSignal,
    is_congested,
)

WINDOW_S = 10.0
FAST = CONGESTED_SHARE * WINDOW_S / 10
SLOW = CONGESTED_SHARE * WINDOW_S * 1.5


def _signal(delay: float | None, started_at: float = 0.0, finished_at: float = 1.0) -> RoundSignal:
    return RoundSignal(started_at, finished_at, delay, WINDOW_S)


def test_a_round_is_congested_only_when_its_last_commit_crowded_the_window() -> None:
    assert not is_congested(_signal(FAST))
    assert is_congested(_signal(SLOW))
    # Nobody committed: auditors that never answer are not load.
    assert not is_congested(_signal(None))


def test_slow_start_adds_one_trace_per_good_round_until_the_first_congestion() -> None:
    admission = AdmissionControl(initial=4, ceiling=64)
    for _ in range(6):
        admission.on_round(_signal(FAST))
    assert admission.capacity == 10
    admission.on_round(_signal(SLOW, started_at=1.0, finished_at=2.0))
    assert admission.capacity == 5
    # Congestion avoidance: one more trace per `limit` good rounds.
    for _ in range(5):
        admission.on_round(_signal(FAST))
    assert admission.capacity == 5
    admission.on_round(_signal(FAST))
    assert admission.capacity == 6


def test_one_congestion_event_halves_the_limit_once() -> None:
    admission = AdmissionControl(initial=16, ceiling=64)
    admission.on_round(_signal(SLOW, started_at=5.0, finished_at=9.0))
    # Rounds that started before that decrease were already in flight: no new information.
    admission.on_round(_signal(SLOW, started_at=6.0, finished_at=9.5))
    assert (admission.capacity, admission.decreases) == (8, 1)
    admission.on_round(_signal(SLOW, started_at=9.2, finished_at=12.0))
    assert (admission.capacity, admission.decreases) == (4, 2)


def test_the_limit_stays_between_one_and_the_ceiling() -> None:
    admission = AdmissionControl(initial=2, ceiling=3)
    for step in range(5):
        admission.on_round(_signal(SLOW, started_at=float(2 * step), finished_at=2 * step + 1.0))
    assert admission.capacity == 1
    for _ in range(50):
        admission.on_round(_signal(FAST))
    assert admission.capacity == 3


def test_the_baseline_admits_up_to_the_ceiling_whatever_the_rounds_say() -> None:
    admission = AdmissionControl(adaptive=False, ceiling=7)
    admission.on_round(_signal(SLOW))
    assert admission.capacity == 7


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="initial"):
        AdmissionControl(initial=0)
    with pytest.raises(ValueError, match="initial"):
        AdmissionControl(initial=9, ceiling=8)


async def test_a_trace_waits_for_room_and_enters_when_one_finishes() -> None:
    admission = AdmissionControl(initial=1, ceiling=4)
    await admission.acquire()
    waiting = asyncio.create_task(admission.acquire())
    await asyncio.sleep(0)
    assert not waiting.done()
    admission.release()
    await asyncio.wait_for(waiting, timeout=5)
    assert admission.active == 1


async def test_a_raised_limit_lets_a_waiting_trace_in() -> None:
    admission = AdmissionControl(initial=1, ceiling=4)
    await admission.acquire()
    waiting = asyncio.create_task(admission.acquire())
    await asyncio.sleep(0)
    admission.on_round(_signal(FAST))
    await asyncio.wait_for(waiting, timeout=5)
    assert admission.active == 2
