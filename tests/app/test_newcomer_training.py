"""The newcomer's first training (issue 16): four cephalograms, three verified as predicted, one
point dragged, Train with the real engine. The validation image holds the model's own accepted
points; the report must not call the new version worse from them (ADR 0005)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QPoint, Qt

from app.training import train_command
from core.project import LandmarkState


@pytest.fixture
def ceph_paths(shared_data):
    paths = [shared_data / "ceph_isbi2015" / "images" / f"{n:03d}.jpg" for n in (151, 152, 153, 154)]
    if not all(p.is_file() for p in paths):
        pytest.skip("shared data cephalograms 151–154 missing")
    return paths


def test_newcomer_first_training_is_inconclusive_not_worse(make_window, qtbot, ceph_paths, mouse_for, marker_pos, wait_for_predictions):
    window = make_window()
    window.open_images(ceph_paths, schema_name="ceph19")
    wait_for_predictions(qtbot, window, timeout=60000)
    doc = window.doc
    ids = doc.image_ids()
    for image_id in ids[:3]:  # looked fine: verified as predicted
        doc.select_image(image_id)
        window.actions.verify.trigger()
    doc.select_image(ids[3])
    qtbot.waitUntil(lambda: window.viewer.frame is not None and window.viewer.frame.prediction is not None)
    mouse = mouse_for(window)
    start = marker_pos(window, 0)
    mouse.drag(start, start + QPoint(30, 0))
    first = doc.landmark_names()[0]
    qtbot.waitUntil(lambda: doc.image(ids[3]).landmarks[first].state == LandmarkState.CORRECTED)
    window.actions.verify.trigger()
    assert all(doc.image(i).reviewed for i in ids)

    training = window.training
    training.run.command_factory = lambda options: train_command(replace(options, epochs=1, device="cpu"))
    qtbot.mouseClick(training.panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.report is not None and training.report.isVisible(), timeout=240000)
    verdict = training.report.verdict.text().lower()
    assert "inconclusive" in verdict and "only 1 validation image" in verdict and "correct" in verdict
    assert "not adopted" not in verdict and training.report.adopt_button.isEnabled()
    result = training.run.result
    assert result["before"]["mre_px"] == 0.0  # v0 on its own accepted points, censored: 0 …
    assert result["after"]["mre_px"] < 1.0  # … and the fine-tuned version within the tolerance scores ~0 too
    note = training.report.scoring.text()
    assert note.startswith("0 of the 1 validation image hold points you moved") and "counts as right within" in note
