"""The review loop as a user drives it: open images, predict, drag a point with the mouse,
undo/redo, save, close, reopen and find everything; a second instance opens read-only."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from app.viewer import windowing
from core.project import LandmarkState


def _record(window, image_id, name):
    return window.doc.project.image(image_id).landmarks[name]


def test_open_predict_drag_undo_save_reopen(make_window, qtbot, rg1, jsrt_png, mouse_for, marker_pos, wait_for_predictions, anatomark_home):
    window = make_window()
    window.open_images([rg1, jsrt_png])  # no project yet: a new one in the user data folder, predicted
    wait_for_predictions(qtbot, window)
    doc = window.doc
    project_path = Path(doc.project.path)
    assert project_path.parent.parent == anatomark_home
    ids = doc.image_ids()
    assert len(ids) == 2
    for image_id in ids:
        assert doc.prediction(image_id) is not None
        states = {r.state for r in doc.image(image_id).landmarks.values()}
        assert states == {LandmarkState.PREDICTED}
    assert window.images_panel.model.data(window.images_panel.model.index(0, 1)) == "predicted"

    # The DICOM shows with the window that suits it (its header's spans every value: the robust one)
    # and MONOCHROME1 inverted to bones-bright.
    rg1_id, png_id = ids
    doc.select_image(rg1_id)
    assert window.viewer.window == windowing.initial_window(doc.radiograph.pixels, doc.radiograph.window)
    assert window.viewer.radiograph.invert_display

    # Drag R_apex on the PNG with real mouse events, from its marker to 40 px right, 25 down.
    doc.select_image(png_id)
    qtbot.waitUntil(lambda: window.viewer.frame is not None and window.viewer.frame.prediction is not None)
    name = "R_apex"
    k = doc.landmark_names().index(name)
    doc.select_landmark("L_apex")
    before = _record(window, png_id, name)
    start = marker_pos(window, k)
    target = (before.x + 40.0, before.y + 25.0)
    end = window.viewer.image_to_viewport(*target)
    previews = []
    window.viewer.point_dragging.connect(lambda n, x, y: previews.append((n, x, y)))
    mouse = mouse_for(window)
    mouse.drag(start, end, on_step=lambda i: previews and None)
    assert len(previews) >= 5, "the point follows the mouse while dragging"
    assert doc.current_landmark == name, "grabbing a point selects it"
    # Nothing reaches the project before the release; one command after it.
    after = _record(window, png_id, name)
    assert after.state == LandmarkState.CORRECTED
    assert after.source.startswith("user:")
    assert after.original == (before.x, before.y)
    tol = 1.5 / window.viewer.zoom()  # one screen pixel either way, in image pixels
    assert math.hypot(after.x - target[0], after.y - target[1]) <= tol
    assert doc.undo_stack.count() == 1
    assert window.actions.undo.text() == f"Undo Move {name}"
    # The marker is drawn where the store has the point, as a corrected (diamond) marker.
    moved = marker_pos(window, k)
    assert (moved - end).manhattanLength() <= 2
    assert window.viewer.landmarks.markers[k].shape_name == "diamond"
    # The landmark panel shows the stored position and the error against JSRT's reference.
    model = window.landmarks_panel.model
    assert model.data(model.index(k, 3)) == f"{after.x:.1f}, {after.y:.1f}"
    truth = model.truth[k]  # JSRT's reference (landmarks_chest6.csv beside the images)
    # the PNG carries no pixel spacing, the data set gives it 0.35 mm/px (app.ground_truth)
    assert model.data(model.index(k, 5)) == f"{0.35 * math.hypot(after.x - truth[0], after.y - truth[1]):.1f} mm"
    assert model.data(model.index(k, 4)) == f"{after.x * 0.35:.1f}, {after.y * 0.35:.1f}"

    # Undo and redo through the Edit menu's actions: exact records come back.
    window.actions.undo.trigger()
    assert _record(window, png_id, name) == before
    assert (marker_pos(window, k) - start).manhattanLength() <= 2
    window.actions.redo.trigger()
    assert _record(window, png_id, name) == after

    # Accept another point and mark a third absent, with the keyboard.
    doc.select_landmark("L_apex")
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert _record(window, png_id, "L_apex").state == LandmarkState.VERIFIED
    doc.select_landmark("L_cardiophrenic")
    qtbot.keyClick(window, Qt.Key.Key_X)
    assert _record(window, png_id, "L_cardiophrenic").state == LandmarkState.ABSENT
    assert window.images_panel.model.data(window.images_panel.model.index(1, 1)) == "in review"
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert doc.current_image_id == rg1_id and window.viewer.radiograph.shape == (1955, 1841)
    assert window.images_panel.table.currentIndex().row() == 0
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert doc.current_image_id == png_id

    # Autosave runs about a second after the last edit (200 ms in tests).
    qtbot.waitUntil(lambda: not doc.project.dirty, timeout=5000)
    window.close()
    assert doc.project is None
    QApplication.processEvents()

    # Reopen in a new window: everything is there, including the cached prediction.
    again = make_window()
    assert again.doc.open_project(project_path)
    assert not again.doc.project.read_only
    assert again.doc.image_ids() == ids
    assert _record(again, png_id, name) == after
    assert _record(again, png_id, "L_apex").state == LandmarkState.VERIFIED
    assert _record(again, png_id, "L_cardiophrenic").state == LandmarkState.ABSENT
    cached = again.doc.prediction(png_id)
    assert cached is not None and cached.heatmaps.shape[0] == len(again.doc.landmark_names())
    again.doc.select_image(png_id)
    assert np.allclose(again.viewer.frame.points[k], (after.x, after.y))


def test_second_instance_opens_read_only_and_refuses_edits(make_window, qtbot, jsrt_png, mouse_for, marker_pos, wait_for_predictions):
    first = make_window()
    first.open_images([jsrt_png])
    wait_for_predictions(qtbot, first)
    first.doc.save()
    path = first.doc.project.path
    image_id = first.doc.image_ids()[0]

    second = make_window()
    assert second.doc.open_project(path)
    assert second.doc.project.read_only
    assert "read-only" in second.windowTitle()
    assert second.status.read_only.text() == "READ-ONLY"
    assert not second.actions.accept.isEnabled() and not second.actions.predict.isEnabled()
    assert len(second.errors.history) == 1 and "is editing it" in second.errors.history[0]  # said once, on opening

    # A drag on a read-only project moves nothing and says why.
    name = "R_apex"
    k = second.doc.landmark_names().index(name)
    before = _record(second, image_id, name)
    start = marker_pos(second, k)
    mouse_for(second).drag(start, start + QPoint(60, 40))
    assert _record(second, image_id, name) == before
    assert second.doc.undo_stack.count() == 0
    assert len(second.errors.history) == 2 and "read-only" in second.errors.history[1]
    assert (marker_pos(second, k) - start).manhattanLength() <= 2
