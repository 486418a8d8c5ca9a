"""Warm-up + cosine schedules (DESIGN.md 2.1 training)."""

from __future__ import annotations

import pytest

from core.training.schedules import ramp_after_warmup, warmup_cosine

START, PEAK, END, WARMUP = 0.1, 1.0, 0.01, 0.1


def _lr(progress: float) -> float:
    return warmup_cosine(progress, WARMUP, START, PEAK, END)


def test_warmup_cosine_endpoints():
    assert _lr(0.0) == pytest.approx(START)
    assert _lr(WARMUP) == pytest.approx(PEAK)
    assert _lr(1.0) == pytest.approx(END)


def test_warmup_cosine_mid_values():
    assert _lr(0.05) == pytest.approx(START + (PEAK - START) / 2)  # halfway through the linear warm-up
    assert _lr(0.55) == pytest.approx((PEAK + END) / 2)  # halfway through the cosine
    # A quarter of the way through the cosine: end + (peak - end)·(1 + cos(π/4))/2.
    assert _lr(0.325) == pytest.approx(END + (PEAK - END) * (1 + 2**-0.5) / 2)


def test_warmup_cosine_clamps_and_handles_no_warmup():
    assert _lr(-1.0) == pytest.approx(START)
    assert _lr(2.0) == pytest.approx(END)
    assert warmup_cosine(0.0, 0.0, START, PEAK, END) == pytest.approx(PEAK)
    # A schedule that rises after the peak (end > peak) is a cosine too.
    assert warmup_cosine(0.55, WARMUP, 1.0, 1.0, 3.0) == pytest.approx(2.0)


def test_warmup_cosine_decays_monotonically_after_warmup():
    values = [_lr(WARMUP + i * (1 - WARMUP) / 20) for i in range(21)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_ramp_after_warmup():
    final = 4e-3
    assert ramp_after_warmup(0.0, WARMUP, final) == 0.0
    assert ramp_after_warmup(0.05, WARMUP, final) == 0.0
    assert ramp_after_warmup(WARMUP, WARMUP, final) == 0.0
    assert ramp_after_warmup(0.55, WARMUP, final) == pytest.approx(final / 2)
    assert ramp_after_warmup(1.0, WARMUP, final) == pytest.approx(final)
    assert ramp_after_warmup(1.5, WARMUP, final) == pytest.approx(final)
    values = [ramp_after_warmup(i / 20, WARMUP, final) for i in range(21)]
    assert all(a <= b for a, b in zip(values, values[1:]))
