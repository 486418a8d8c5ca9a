"""The uncertainty-regions layer: one ellipse per predicted point, shaped by the model's heatmap
and sized by the card's conformal calibration; greyed out for uncalibrated models."""

from __future__ import annotations

import numpy as np
import pytest

import core.uncertainty.conformal as conformal
from app.overlays.uncertainty import SEGMENTS, ellipse_outlines
from core.uncertainty.conformal import ConformalCalibration, heatmap_covariance, nonconformity


def test_ellipse_outlines_are_closed_rings_with_breaks():
    rings = ellipse_outlines(np.array([[10.0, 20.0], [np.nan, 1.0], [0.0, 0.0]]),
                             np.array([[4.0, 2.0, 90.0], [1.0, 1.0, 0.0], [3.0, 3.0, 0.0]]))
    assert rings.shape == (2 * (SEGMENTS + 2), 2)  # the NaN centre is skipped
    first = rings[: SEGMENTS + 1]
    assert np.isnan(rings[SEGMENTS + 1]).all() and first[0] == pytest.approx(first[-1])
    assert first[:, 1].max() == pytest.approx(24.0) and first[:, 0].max() == pytest.approx(12.0, abs=1e-2)  # 90°: major along y


def _card_calibration(monkeypatch, predictor, cal: ConformalCalibration | None) -> None:
    """The chest6 model is calibrated by ``cal`` (None: uncalibrated): the predictor draws its regions
    from it and the project stores them with the prediction."""
    from app.jobs import predictor_cache

    predictor_cache.put("chest6", predictor)  # the window predicts with this one, whatever ran before
    monkeypatch.setattr(predictor, "conformal", cal)
    monkeypatch.setattr(conformal, "_bundled_calibration", lambda model_id: cal)


@pytest.fixture
def calibrated(monkeypatch, predictor):
    """Every chest6 prediction is calibrated with q = 2 for all six landmarks (not the bundled card's)."""
    cal = ConformalCalibration(0.1, 30, ("L",) * 6, np.full(6, 2.0))
    _card_calibration(monkeypatch, predictor, cal)
    return cal


def test_regions_drawn_around_the_models_points(calibrated, predictor, make_window, qtbot, rg1, wait_for_predictions):
    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    overlay = window.viewer.overlay("uncertainty")
    panel = window.layers_panel
    panel.refresh_availability()
    assert panel.checks["uncertainty"].isEnabled() and overlay.is_shown()
    assert overlay.coverage == pytest.approx(0.9)

    # The regions drawn are the ones the model gave and the project stored with its prediction...
    prediction = window.viewer.frame.prediction
    assert prediction.region_px is not None and prediction.coverage == pytest.approx(0.9)
    x, y = overlay.curve.getData()
    vertices = np.stack([x, y], -1) - 0.5  # item → image pixels
    np.testing.assert_allclose(vertices, ellipse_outlines(prediction.points, prediction.region_px), atol=1e-9)
    # ... the calibrated level set (q = 2) of the covariance of each heatmap as the model made it (as
    # the calibration was measured). Not of the stored, float16-rounded heatmaps whose faint tail is
    # floored: their covariance is up to 10 % smaller, and the layer drew rings that much too small.
    raw = predictor.predict(rg1)
    np.testing.assert_allclose(prediction.region_px, raw.region_px, rtol=1e-9)
    cov = heatmap_covariance(raw.heatmaps, raw.heatmap_to_image)
    rings = vertices.reshape(6, SEGMENTS + 2, 2)[:, :-1]  # each ring, without its NaN break
    for k in range(6):
        d = rings[k] - prediction.points[k]
        assert nonconformity(d, np.repeat(cov[k][None], len(d), 0)) == pytest.approx(np.full(len(d), 2.0), rel=1e-6)

    window.actions.layers["uncertainty"].setChecked(False)  # as U does
    assert not overlay.is_shown() and not panel.checks["uncertainty"].isChecked()


def test_uncalibrated_model_greys_the_layer_out(monkeypatch, predictor, make_window, qtbot, rg1, wait_for_predictions):
    _card_calibration(monkeypatch, predictor, None)
    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    panel = window.layers_panel
    panel.refresh_availability()
    assert not window.viewer.overlay("uncertainty").is_shown()
    assert not panel.checks["uncertainty"].isEnabled()
    assert "no calibrated uncertainty" in panel.checks["uncertainty"].toolTip()


def test_a_project_calibration_takes_over_and_the_tooltip_says_so(calibrated, make_window, qtbot, rg1, wait_for_predictions,
                                                                    monkeypatch):
    """Issue 16 item 4: once the project has enough reviews of the model, its regions come from them,
    and the layer's tooltip says which calibration and on how many points."""
    from core.learning.recalibration import ProjectCalibration

    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    panel, overlay = window.layers_panel, window.viewer.overlay("uncertainty")
    panel.refresh_availability()
    assert "held-out images" in panel.checks["uncertainty"].toolTip()  # the card's calibration
    model_id = str(window.viewer.frame.prediction.model_id)
    own = ProjectCalibration(ConformalCalibration(0.1, 14, ("L",) * 6, np.full(6, 3.0)), model_id, 14, 9, 75)
    monkeypatch.setattr(window.doc, "project_calibration", lambda mid: own if mid == model_id else None)
    window.doc.select_image(None)
    window.doc.select_image(window.doc.image_ids()[0])
    panel.refresh_availability()
    tip = panel.checks["uncertainty"].toolTip()
    assert "calibrated on this project: 84 reviewed points of 14 images (9 moved by a person)" in tip
    prediction = window.viewer.frame.prediction
    x, y = overlay.curve.getData()
    ring = np.stack([x, y], -1)[: SEGMENTS] - 0.5 - prediction.points[0]
    cov = heatmap_covariance(prediction.heatmaps, prediction.heatmap_to_image)
    assert nonconformity(ring, np.repeat(cov[:1], len(ring), 0)) == pytest.approx(np.full(len(ring), 3.0), rel=1e-6)
