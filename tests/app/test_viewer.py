"""The viewer: coordinate conversions, window/level, zoom, pan, invert, placing, layers."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from app.overlays.heatmap import item_transform, upsample
from app.overlays.masks import colour_masks
from app.viewer import windowing
from app.viewer.coords import image_to_item, item_to_image, pixel_index
from core.project import LandmarkState


def test_coordinate_round_trips():
    for x, y in [(0.0, 0.0), (-0.5, -0.5), (10.25, 3.75), (2047.5, 1023.0)]:
        assert item_to_image(*image_to_item(x, y)) == (x, y)
    assert image_to_item(0.0, 0.0) == (0.5, 0.5)  # centre of the top-left pixel (ADR 0001)
    assert pixel_index(0.49, -0.5, (4, 4)) == (0, 0)
    assert pixel_index(0.5, 0.0, (4, 4)) == (0, 1)
    assert pixel_index(-0.51, 0.0, (4, 4)) is None


def test_heatmap_transform_puts_heatmap_pixel_centres_on_their_image_points():
    w_img, h_img, w_hm, h_hm = 1841.0, 1955.0, 128, 128
    a_x, a_y = w_img / w_hm, h_img / h_hm
    m = np.array([[a_x, 0, 0.5 * a_x - 0.5], [0, a_y, 0.5 * a_y - 0.5]])
    t = item_transform(m, 4)
    for u, v in [(0, 0), (5, 7), (127, 127)]:
        # heatmap pixel (u, v) is upsampled pixel u' = 4u + 1.5 (align_corners=False), item centre + 0.5
        p = t.map(QPointF(4 * u + 1.5 + 0.5, 4 * v + 1.5 + 0.5))
        x, y = item_to_image(p.x(), p.y())
        assert x == pytest.approx(a_x * u + m[0, 2], abs=1e-9)
        assert y == pytest.approx(a_y * v + m[1, 2], abs=1e-9)
    heat = np.random.default_rng(0).random((8, 6)).astype(np.float32)
    up = upsample(heat, 4)
    assert up.shape == (32, 24)
    assert up[1:3, 1:3].mean() == pytest.approx(heat[0, 0], abs=0.2)
    assert float(up.min()) >= float(heat.min()) - 1e-6 and float(up.max()) <= float(heat.max()) + 1e-6


def test_windowing():
    pixels = np.linspace(0, 4095, 64 * 64, dtype=np.float32).reshape(64, 64)
    assert windowing.levels((100.0, 50.0)) == (75.0, 125.0)
    c, w = windowing.drag_window((2000.0, 1000.0), dx=60, dy=-30, value_range=(0, 4095))
    assert w > 1000 and c < 2000
    assert windowing.drag_window((2000.0, 10.0), dx=-10_000, dy=0, value_range=(0, 4095))[1] > 0
    assert windowing.preset_window("default", pixels, (1.0, 2.0)) == (1.0, 2.0)
    assert windowing.preset_window("full", pixels, (1.0, 2.0)) == (2047.5, 4095.0)
    auto = windowing.preset_window("auto", pixels, (1.0, 2.0))
    assert windowing.preset_window("contrast", pixels, (1.0, 2.0))[1] == pytest.approx(auto[1] / 2)


def test_mask_colours():
    masks = np.zeros((2, 4, 4), bool)
    masks[0, :2] = True
    masks[1, 1:3] = True
    rgba = colour_masks(masks)
    assert rgba.shape == (4, 4, 4)
    assert rgba[3, 0, 3] == 0 and rgba[0, 0, 3] > 0
    assert not np.array_equal(rgba[0, 0], rgba[2, 0])


def test_window_level_zoom_pan_invert(shown, mouse_for, qtbot):
    viewer, mouse = shown.viewer, mouse_for(shown)
    # The header's window (W 30000 L 15000) spans every value of this 15-bit CR: the viewer opens
    # on the robust window instead (the anatomy's contrast), the model still sees the header's.
    opened = viewer.window
    assert opened == windowing.robust_window(viewer.radiograph.pixels) and opened[1] < 0.9 * 30000
    assert viewer.radiograph.window == (15000.0, 30000.0)
    centre = QPoint(viewer.graphics.viewport().width() // 2, viewer.graphics.viewport().height() // 2)
    mouse.drag(centre, centre + QPoint(80, 40), button=Qt.MouseButton.RightButton)
    c, w = viewer.window
    assert w > opened[1] and c < opened[0]  # wider; down darkens, which for MONOCHROME1 lowers the level
    assert tuple(viewer.image_item.levels) == pytest.approx(windowing.levels((c, w)))
    qtbot.keyClick(shown, Qt.Key.Key_W)
    assert viewer.window == (15000.0, 30000.0)

    # Wheel zoom keeps the image point under the cursor where it was.
    spot = viewer.image_to_viewport(600.0, 700.0)
    zoom = viewer.zoom()
    mouse.wheel(spot, 3)
    assert viewer.zoom() > zoom * 1.2
    after = viewer.image_to_viewport(600.0, 700.0)
    assert (after - spot).manhattanLength() <= 3

    # Left-drag on empty image pans; 1:1 and fit.
    before = viewer.box.viewRange()
    empty = viewer.image_to_viewport(900.0, 1000.0)
    mouse.drag(empty, empty + QPoint(50, 0))
    assert viewer.box.viewRange()[0][0] < before[0][0]
    qtbot.keyClick(shown, Qt.Key.Key_1)
    assert viewer.zoom() == pytest.approx(1.0, rel=0.02)
    qtbot.keyClick(shown, Qt.Key.Key_F)
    assert viewer.zoom() < 0.6

    # MONOCHROME1 starts inverted (bones bright); Invert flips it back.
    lut = viewer.image_item.lut
    assert lut[0][0] == 255
    qtbot.keyClick(shown, Qt.Key.Key_I)
    assert viewer.image_item.lut[0][0] == 0


def test_status_bar_and_landmark_panel(shown, mouse_for):
    viewer, mouse = shown.viewer, mouse_for(shown)
    spot = viewer.image_to_viewport(300.0, 400.0)
    mouse.move(spot)
    match = re.fullmatch(r"x\s+(\S+)\s+y\s+(\S+) px", shown.status.position.text())
    x, y = float(match[1]), float(match[2])
    assert abs(x - 300) <= 2 and abs(y - 400) <= 2
    value = float(viewer.radiograph.pixels[round(y), round(x)])
    assert shown.status.value.text() == (f"value {value:.0f}" if abs(value) >= 100 else f"value {value:.4g}")
    model = shown.landmarks_panel.model
    assert [model.data(model.index(r, 5)) for r in range(model.rowCount())] == ["—"] * 6  # no ground truth
    assert model.data(model.index(0, 4)) == "—"  # spacing 0\0 in the header: unknown


def test_place_an_absent_landmark_only_in_place_mode_and_keyboard_navigation(shown, mouse_for, qtbot):
    doc, viewer = shown.doc, shown.viewer
    image_id = doc.current_image_id
    doc.select_landmark("L_apex")
    qtbot.keyClick(shown, Qt.Key.Key_X)  # absent
    assert doc.record(image_id, "L_apex").state == LandmarkState.ABSENT
    mouse_for(shown).click(viewer.image_to_viewport(1250.0, 300.0))  # a stray click places nothing
    assert doc.record(image_id, "L_apex").state == LandmarkState.ABSENT
    assert "press P" in shown.status.currentMessage()
    qtbot.keyClick(shown, Qt.Key.Key_P)  # place mode
    assert shown.actions.place.isChecked() and "Click where L_apex is" in shown.status.currentMessage()
    mouse_for(shown).click(viewer.image_to_viewport(1250.0, 300.0))
    assert not shown.actions.place.isChecked()  # one click, one placement
    placed = doc.record(image_id, "L_apex")
    assert placed.state == LandmarkState.CORRECTED
    assert abs(placed.x - 1250) <= 2 / viewer.zoom() and abs(placed.y - 300) <= 2 / viewer.zoom()
    assert shown.actions.undo.text() == "Undo Place L_apex"
    # Place mode also moves a placed point to the click; without it a click on the image moves nothing.
    qtbot.keyClick(shown, Qt.Key.Key_P)
    mouse_for(shown).click(viewer.image_to_viewport(1100.0, 450.0))
    moved = doc.record(image_id, "L_apex")
    assert abs(moved.x - 1100) <= 2 / viewer.zoom() and abs(moved.y - 450) <= 2 / viewer.zoom()
    mouse_for(shown).click(viewer.image_to_viewport(700.0, 800.0))
    assert doc.record(image_id, "L_apex").x == moved.x
    qtbot.keyClick(shown, Qt.Key.Key_N)
    assert doc.current_landmark == "L_costophrenic"
    qtbot.keyClick(shown, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert doc.current_landmark == "L_apex"
    assert viewer.frame.selected == doc.landmark_names().index("L_apex")
    qtbot.keyClick(shown, Qt.Key.Key_V)
    assert doc.image().verified
    assert shown.actions.verify.text() == "Unverify Image"


def test_layer_toggles_and_masks_only_with_masks(shown, qtbot):
    viewer, panel = shown.viewer, shown.layers_panel
    for overlay in viewer.overlays:
        if overlay.key != "masks":
            assert overlay.is_shown(), overlay.key
    assert not viewer.overlay("masks").is_shown()
    assert not panel.checks["masks"].isEnabled()
    qtbot.keyClick(shown, Qt.Key.Key_H)
    assert not viewer.overlay("heatmap").is_shown() and not panel.checks["heatmap"].isChecked()
    panel.checks["heatmap"].setChecked(True)
    assert viewer.overlay("heatmap").image.isVisible()
    panel.sliders["edges"].setValue(30)
    assert viewer.overlay("edges").lines.opacity() == pytest.approx(0.3)
    heat = viewer.overlay("heatmap").image
    first = heat.image.copy()
    shown.doc.select_landmark("L_costophrenic")  # the heatmap follows the selected landmark
    assert not np.array_equal(heat.image, first)
    panel.heatmap_mode.setCurrentIndex(1)
    assert viewer.overlay("heatmap").mode == "all"
    assert float(heat.image.max()) == pytest.approx(1.0, abs=0.01)
    # Each map is outlined (issue 17 item 5): the contour follows the map and its transform, and
    # every landmark's point lies inside a ring drawn around it.
    contour = viewer.overlay("heatmap").contour
    assert contour.parentItem() is heat and contour.data is not None
    rect = heat.mapRectToView(contour.boundingRect())
    points = np.asarray(viewer.frame.prediction.points) + 0.5
    inside = (points[:, 0] >= rect.left()) & (points[:, 0] <= rect.right()) & (points[:, 1] >= rect.top()) & (points[:, 1] <= rect.bottom())
    assert inside.all()

    # The model's points are drawn where the prediction puts them (image px + 0.5, ADR 0001).
    prediction = viewer.frame.prediction
    for key, points in (("soft_argmax", prediction.soft_argmax), ("refined", prediction.refined)):
        xs, ys = viewer.overlay(key).scatter.getData()
        assert np.allclose(np.c_[xs, ys], np.asarray(points) + 0.5)

    # A prediction with masks: the mask layer becomes available and draws them.
    frame = viewer.frame
    h, w = frame.image_size
    masks = np.zeros((2, h, w), bool)
    masks[0, 100:400, 100:500] = True
    frame.prediction = dataclasses.replace(frame.prediction, masks=masks, mask_classes=("right_lung", "left_lung"))
    viewer.set_frame(frame)
    panel.refresh_availability()
    assert viewer.overlay("masks").is_shown() and panel.checks["masks"].isEnabled()
    assert viewer.overlay("masks").image.image.shape == (h, w, 4)


def test_initial_window_replaces_only_a_show_everything_window():
    rng = np.random.default_rng(0)
    cr = rng.normal(14000, 2500, (200, 200)).clip(800, 26500)  # a 15-bit CR's values
    assert windowing.initial_window(cr, (15000.0, 30000.0)) == windowing.robust_window(cr)
    assert windowing.initial_window(cr, (14000.0, 8000.0)) == (14000.0, 8000.0)  # a real window stays
    flat = rng.uniform(0, 255, (200, 200))  # values fill the range: the full window is the right one
    assert windowing.initial_window(flat, (127.5, 255.0)) == (127.5, 255.0)
