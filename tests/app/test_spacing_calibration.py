"""Calibrate Spacing (issue 17 item 4): two clicks on a ruler, its length in mm, and every mm figure
follows; stored per image with its provenance, undoable; bad rulers change nothing."""

from __future__ import annotations

import math

import pytest
from PySide6.QtWidgets import QApplication

from app import dialogs


def _calibrate(shown, mouse_for, a, b, qtbot):
    viewer = shown.viewer
    shown.actions.calibrate_spacing.trigger()
    assert shown.actions.calibrate_spacing.isChecked()
    mouse_for(shown).click(viewer.image_to_viewport(*a))
    assert "other end" in shown.status.currentMessage()
    qtbot.wait(QApplication.doubleClickInterval() + 100)  # two clicks, as a hand makes them, not a double-click
    mouse_for(shown).click(viewer.image_to_viewport(*b))


def test_a_ruler_sets_the_spacing_with_provenance_and_undo(shown, mouse_for, monkeypatch, qtbot):
    doc = shown.doc
    image_id = doc.current_image_id
    assert doc.spacing(image_id) is None  # the demo DICOM's PixelSpacing is 0\\0: unknown
    asked = []
    monkeypatch.setattr(dialogs, "ask_ruler_length", lambda parent, px: asked.append(px) or 100.0)
    _calibrate(shown, mouse_for, (300.0, 900.0), (1300.0, 900.0), qtbot)
    assert asked and asked[0] == pytest.approx(1000.0, abs=3.0 / shown.viewer.zoom())
    sx, sy = doc.spacing(image_id)
    assert sx == sy == pytest.approx(100.0 / asked[0])
    assert not shown.actions.calibrate_spacing.isChecked()
    source = doc.project.spacing_source(image_id)
    assert source["user"] and "100 mm over" in source["note"] and "was unknown" in source["note"]
    assert "mm/px" in shown.viewer.corner.text() and shown.viewer.spacing == (sx, sy)
    model = shown.landmarks_panel.model
    assert any("," in str(model.data(model.index(0, c))) for c in range(model.columnCount()))  # x, y (mm)
    shown.actions.undo.trigger()
    assert doc.spacing(image_id) is None and "spacing unknown" in shown.viewer.corner.text()
    shown.actions.redo.trigger()
    assert doc.spacing(image_id) == pytest.approx((sx, sy))


@pytest.mark.parametrize("length, a, b, words", [
    (100.0, (500.0, 500.0), (501.0, 500.0), "px apart"),  # a zero-length ruler
    (0.0, (300.0, 900.0), (1300.0, 900.0), "more than 0 mm"),
    (90000.0, (300.0, 900.0), (310.0, 900.0), "more than any radiograph"),
])
def test_a_bad_ruler_changes_nothing_and_says_why_in_one_line(shown, mouse_for, monkeypatch, qtbot, length, a, b, words):
    doc = shown.doc
    image_id = doc.current_image_id
    monkeypatch.setattr(dialogs, "ask_ruler_length", lambda parent, px: length)
    before_undo = shown.actions.undo.text()
    _calibrate(shown, mouse_for, a, b, qtbot)
    assert doc.spacing(image_id) is None and shown.actions.undo.text() == before_undo
    message = shown.errors.history[-1]
    assert words in message and "\n" not in message and message.startswith("The spacing was not changed")


def test_cancel_changes_nothing(shown, mouse_for, monkeypatch, qtbot):
    monkeypatch.setattr(dialogs, "ask_ruler_length", lambda parent, px: None)
    _calibrate(shown, mouse_for, (300.0, 900.0), (1300.0, 900.0), qtbot)
    assert shown.doc.spacing(shown.doc.current_image_id) is None


def test_core_ruler_arithmetic():
    from core.spacing import spacing_from_ruler

    assert spacing_from_ruler((0, 0), (300, 400), 50.0) == (0.1, 0.1)
    for bad in ("abc", float("nan"), -1.0):
        with pytest.raises(ValueError):
            spacing_from_ruler((0, 0), (300, 400), bad)
    with pytest.raises(ValueError, match="more than any radiograph"):
        spacing_from_ruler((0, 0), (10, 0), 1000.0)
    assert math.isclose(spacing_from_ruler((0, 0), (10, 0), 20.0)[0], 2.0)
