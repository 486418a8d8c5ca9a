"""The right project for the images (issue 17 item 2): ``anatomark 151.jpg`` makes a cephalometric
project, an image no bundled model fits makes the app ask, and an image of another anatomy in a
project is flagged in the image list."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app import dialogs
from app.panels.images import ImageListModel


def test_a_cephalogram_makes_a_ceph_project(make_window, qtbot, ceph_jpg, wait_for_predictions):
    window = make_window()
    window.open_images([ceph_jpg])  # as "anatomark 151.jpg" does
    wait_for_predictions(qtbot, window, timeout=60000)
    assert window.doc.project.schema.name == "ceph19"
    [image_id] = window.doc.image_ids()
    assert window.doc.anatomy_fit(image_id).fits


def test_a_hand_makes_the_app_ask(make_window, qtbot, shared_data, monkeypatch):
    hand = shared_data / "hand_dha" / "images" / "3167.png"
    asked = []
    monkeypatch.setattr(dialogs, "ask_schema_for_images", lambda parent, name, fits: asked.append((name, fits)) or None)
    window = make_window()
    window.open_images([hand])
    assert asked and asked[0][0] == "3167.png"
    assert not any(fit.fits for fit in asked[0][1])
    assert window.doc.project is None  # cancelled: no project made


def test_the_user_answer_is_the_schema(make_window, qtbot, shared_data, monkeypatch, wait_for_predictions):
    hand = shared_data / "hand_dha" / "images" / "3167.png"
    monkeypatch.setattr(dialogs, "ask_schema_for_images", lambda parent, name, fits: "chest6")
    window = make_window()
    window.open_images([hand])
    wait_for_predictions(qtbot, window, timeout=60000)
    assert window.doc.project.schema.name == "chest6"


def test_another_anatomy_in_a_project_is_flagged(make_window, qtbot, jsrt_png, ceph_jpg, wait_for_predictions):
    window = make_window()
    window.open_images([jsrt_png])
    wait_for_predictions(qtbot, window, timeout=60000)
    window.open_images([ceph_jpg])  # into the chest project
    wait_for_predictions(qtbot, window, timeout=60000)
    doc = window.doc
    chest_id, ceph_id = doc.image_ids()
    qtbot.waitUntil(lambda: doc.prediction(ceph_id) is not None, timeout=60000)
    model = ImageListModel(doc)
    model.reload()
    chest_row, ceph_row = model.index(0, 0), model.index(1, 0)
    assert model.data(chest_row, Qt.ItemDataRole.DecorationRole) is None
    assert model.data(ceph_row, Qt.ItemDataRole.DecorationRole) is not None
    assert "May not be a chest6 radiograph" in model.data(ceph_row, Qt.ItemDataRole.ToolTipRole)
    assert doc.anatomy_fit(chest_id).fits and not doc.anatomy_fit(ceph_id).fits
    doc.select_image(ceph_id)
    qtbot.waitUntil(lambda: window.viewer.warning.isVisible(), timeout=5000)
    assert "May not be a chest6 radiograph" in window.viewer.warning.text()
    doc.select_image(chest_id)
    qtbot.waitUntil(lambda: not window.viewer.warning.isVisible(), timeout=5000)
