"""The before/after verdict (core.learning.verdict) on hand-made per-image errors."""

from __future__ import annotations

import numpy as np
import pytest

from core.learning.verdict import MIN_IMAGES, Verdict, bootstrap_interval, judge


def _summary(per_image_mm: list[float], spacing: float = 0.1) -> dict:
    """A validation.compact-like summary: per-image MRE in mm and px, overall MRE = their mean."""
    ids = [f"img{i}" for i in range(len(per_image_mm))]
    mm = dict(zip(ids, per_image_mm))
    px = {i: v / spacing for i, v in mm.items()}
    return {"n_images": len(ids), "mre_px": float(np.mean(list(px.values()))), "mre_mm": float(np.mean(per_image_mm)),
            "per_image": px, "per_image_mm": mm}


BEFORE = [1.0, 1.4, 0.9, 2.1, 1.2, 1.6, 1.1, 1.8]


def test_clearly_better_is_better_and_adoptable():
    after = [v - 0.3 + 0.02 * (i % 3) for i, v in enumerate(BEFORE)]  # every image improves by ~0.3 mm
    v = judge(_summary(BEFORE), _summary(after))
    assert v.outcome == "better" and v.adoptable and v.unit == "mm" and v.n_images == 8
    assert v.low < v.change < v.high < 0
    assert v.change == pytest.approx(np.mean(np.subtract(after, BEFORE)))
    assert v.text.startswith("better: lower MRE on the 8 validation images; change −0.2")


def test_clearly_worse_is_never_adoptable():
    after = [v + 0.5 for v in BEFORE]
    v = judge(_summary(BEFORE), _summary(after))
    assert v.outcome == "worse" and not v.adoptable and 0 < v.low <= v.high


def test_worse_by_a_hair_stays_not_adoptable_even_when_the_interval_spans_zero():
    """The issue's rule is kept: a higher MRE on the locked set is never adopted without asking."""
    after = [b + d for b, d in zip(BEFORE, [0.4, -0.38, 0.3, -0.3, 0.2, -0.2, 0.1, -0.1])]
    v = judge(_summary(BEFORE), _summary(after))
    assert v.outcome == "worse" and not v.adoptable and v.low < 0 < v.high


def test_noise_is_inconclusive_with_the_interval_in_the_text():
    after = [b + d for b, d in zip(BEFORE, [-0.4, 0.35, -0.3, 0.3, -0.2, 0.2, -0.1, 0.1])]  # mean −0.0063
    v = judge(_summary(BEFORE), _summary(after))
    assert v.outcome == "inconclusive" and v.adoptable and v.low < 0 < v.high
    assert "interval includes no change" in v.text and "95 % interval −" in v.text and "…+" in v.text


def test_too_few_images_is_inconclusive_however_large_the_gain():
    before, after = BEFORE[: MIN_IMAGES - 1], [v - 0.5 for v in BEFORE[: MIN_IMAGES - 1]]
    v = judge(_summary(before), _summary(after))
    assert v.outcome == "inconclusive" and v.adoptable and v.high < 0
    assert v.text.startswith(f"inconclusive: only {MIN_IMAGES - 1} validation images (fewer than {MIN_IMAGES}); "
                             f"change −0.50 mm, 95 % interval −0.50…−0.50")


def test_training_images_and_first_model():
    after = [v - 0.3 for v in BEFORE]
    assert judge(_summary(BEFORE), _summary(after), on_training_images=True).outcome == "inconclusive"
    first = judge(None, _summary(after))
    assert first.outcome == "first" and first.adoptable and first.change is None


def test_px_when_a_spacing_is_unknown_and_round_trip_through_a_card():
    before, after = _summary(BEFORE), _summary([v - 0.3 for v in BEFORE])
    before["per_image_mm"] = after["per_image_mm"] = None
    v = judge(before, after)
    assert v.unit == "px" and v.change == pytest.approx(-3.0) and v.outcome == "better"
    assert Verdict.from_dict(v.to_dict()) == v and v.to_dict()["text"] == v.text
    assert Verdict.from_dict(None) is None and Verdict.from_dict({"adoptable": True}) is None


def test_bootstrap_is_deterministic_and_covers_the_mean():
    diffs = np.array([-0.3, 0.1, -0.2, 0.05, -0.15, 0.0])
    assert bootstrap_interval(diffs) == bootstrap_interval(diffs)
    low, high = bootstrap_interval(diffs)
    assert low < diffs.mean() < high and diffs.min() <= low and high <= diffs.max()
