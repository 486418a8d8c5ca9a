"""Point errors, MRE, SDR and summaries on small hand-computed arrays."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.metrics import (
    evaluation_summary,
    mean_radial_error,
    per_landmark_table,
    point_errors,
    sdr,
)

NAN = float("nan")


def test_point_errors_px():
    gt = np.zeros((1, 3, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]]])
    np.testing.assert_allclose(point_errors(pred, gt), [[5.0, 0.0, 1.0]])
    np.testing.assert_allclose(point_errors(pred[0], gt[0]), [5.0, 0.0, 1.0])  # (K, 2) -> (K,)


def test_point_errors_anisotropic_mm():
    gt = np.zeros((2, 1, 2))
    pred = np.array([[[3.0, 4.0]], [[3.0, 4.0]]])
    # sx = 0.5, sy = 2: dx 1.5 mm, dy 8 mm
    e = point_errors(pred, gt, (0.5, 2.0))
    np.testing.assert_allclose(e, [[math.hypot(1.5, 8.0)], [math.hypot(1.5, 8.0)]])
    # one spacing per image
    e = point_errors(pred, gt, np.array([[0.5, 2.0], [1.0, 1.0]]))
    np.testing.assert_allclose(e, [[math.hypot(1.5, 8.0)], [5.0]])
    # a list with an unknown spacing -> NaN errors for that image
    e = point_errors(pred, gt, [(0.1, 0.1), None])
    assert e[0, 0] == pytest.approx(0.5) and math.isnan(e[1, 0])
    with pytest.raises(ValueError):
        point_errors(pred, gt, (0.0, 1.0))
    with pytest.raises(ValueError):
        point_errors(pred, gt, np.ones((3, 2)))
    with pytest.raises(ValueError):
        point_errors(pred, gt[:, :0])


def test_nan_ground_truth_is_ignored():
    gt = np.array([[[0.0, 0.0], [NAN, NAN]], [[0.0, 0.0], [0.0, 0.0]]])
    pred = np.array([[[1.0, 0.0], [5.0, 5.0]], [[0.0, 3.0], [0.0, 2.0]]])
    e = point_errors(pred, gt)
    assert math.isnan(e[0, 1])
    assert mean_radial_error(e) == pytest.approx((1.0 + 3.0 + 2.0) / 3)
    assert sdr(e, [1.0, 2.5]) == pytest.approx({1.0: 100 / 3, 2.5: 200 / 3})
    assert math.isnan(mean_radial_error(np.full((2, 2), NAN)))


def test_sdr_counts_the_radius_itself():
    e = np.array([1.0, 2.0, 3.0, 4.0])
    assert sdr(e, [2, 3.5, 0.5]) == {2.0: 50.0, 3.5: 75.0, 0.5: 0.0}


def test_per_landmark_table_by_hand():
    ep = np.array([[1.0, 4.0], [3.0, NAN], [5.0, 6.0]])
    em = ep * 0.5
    rows = per_landmark_table(ep, em, ["a", "b"], [1.0, 2.0])
    a, b = rows
    assert a["name"] == "a" and a["unit"] == "mm" and a["n"] == 3
    assert a["mre_px"] == pytest.approx(3.0) and a["mre_mm"] == pytest.approx(1.5)
    assert a["sd"] == pytest.approx(math.sqrt(((0.5 - 1.5) ** 2 + 0 + (2.5 - 1.5) ** 2) / 3))
    assert a["median"] == pytest.approx(1.5) and a["max"] == pytest.approx(2.5)
    assert a["sdr"] == pytest.approx({1.0: 100 / 3, 2.0: 200 / 3})
    assert b["n"] == 2 and b["mre_px"] == pytest.approx(5.0) and b["max"] == pytest.approx(3.0)
    rows = per_landmark_table(ep, None, ["a", "b"], [3.0])
    assert rows[0]["unit"] == "px" and rows[0]["mre_mm"] is None and rows[0]["sdr"] == {3.0: pytest.approx(200 / 3)}
    with pytest.raises(ValueError):
        per_landmark_table(ep, None, ["a"], [1.0])


def _pair():
    gt = np.array([[[10.0, 10.0], [20.0, 20.0]], [[10.0, 10.0], [NAN, NAN]]])
    pred = np.array([[[13.0, 14.0], [20.0, 21.0]], [[10.0, 12.0], [0.0, 0.0]]])
    return pred, gt  # px errors: 5, 1, 2 (and one unscored)


def test_evaluation_summary_without_spacing():
    pred, gt = _pair()
    s = evaluation_summary(pred, gt, None, ["p", "q"], radii_px=[2.0, 4.0])
    assert s["n_images"] == 2 and s["n_landmarks"] == 2 and s["n_points"] == 3 and s["n_missing_pred"] == 0
    assert s["mre_px"] == pytest.approx(8 / 3)
    assert s["sd_px"] == pytest.approx(np.std([5.0, 1.0, 2.0]))
    assert s["mre_mm"] is None and s["sd_mm"] is None and s["sdr_mm"] is None
    assert s["sdr_unit"] == "px" and s["sdr"] == pytest.approx({2.0: 200 / 3, 4.0: 200 / 3})
    assert [r["name"] for r in s["per_landmark"]] == ["p", "q"]
    json.dumps(s, allow_nan=False)


def test_evaluation_summary_with_spacing():
    pred, gt = _pair()
    spacings = np.array([[0.5, 0.5], [0.2, 0.3]])
    s = evaluation_summary(pred, gt, spacings, None, radii_px=[3.0], radii_mm=[0.5, 1.0])
    mm = [2.5, 0.5, 0.6]  # image 2: dy 2 px * 0.3 mm
    assert s["mre_mm"] == pytest.approx(np.mean(mm)) and s["sd_mm"] == pytest.approx(np.std(mm))
    assert s["mre_px"] == pytest.approx(8 / 3)
    assert s["sdr_unit"] == "mm" and s["sdr"] == pytest.approx({0.5: 100 / 3, 1.0: 200 / 3})
    assert s["sdr_px"] == pytest.approx({3.0: 200 / 3})
    assert [r["name"] for r in s["per_landmark"]] == ["L1", "L2"]
    assert s["per_landmark"][0]["unit"] == "mm"
    json.dumps(s, allow_nan=False)


def test_evaluation_summary_partial_spacing_and_missing_prediction():
    pred, gt = _pair()
    pred[0, 1] = NAN  # ground truth there, no prediction
    s = evaluation_summary(pred, gt, [(0.1, 0.1), None], ["p", "q"])
    assert s["sdr_unit"] == "px" and s["mre_mm"] is None
    assert s["n_missing_pred"] == 1 and s["n_points"] == 3
    assert s["mre_px"] == pytest.approx(3.5)  # 5 and 2; the missing one is reported, not averaged
    q = s["per_landmark"][1]
    assert q["n"] == 0 and q["mre_px"] is None and all(v is None for v in q["sdr"].values())
    json.dumps(s, allow_nan=False)
