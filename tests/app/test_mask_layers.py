"""The segmentation layer: one check box per mask class in the Layers panel, each hiding its class."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg

from app.theme import MASK_COLOURS


def _rgb(c: int) -> tuple[int, int, int]:
    colour = pg.mkColor(MASK_COLOURS[c])
    return colour.red(), colour.green(), colour.blue()


def test_each_mask_class_has_its_own_toggle(make_window, qtbot, rg1, wait_for_predictions):
    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    viewer, panel = window.viewer, window.layers_panel
    assert not panel.mask_classes.isVisible()  # the bundled model makes no masks: no class boxes

    frame = viewer.frame
    h, w = frame.image_size
    masks = np.zeros((3, h, w), bool)
    masks[0, 100:400, 100:500] = True  # right lung
    masks[1, 100:400, 900:1300] = True  # left lung
    masks[2, 500:700, 600:900] = True  # heart
    classes = ("right_lung", "left_lung", "heart")
    frame.prediction = dataclasses.replace(frame.prediction, masks=masks, mask_classes=classes)
    viewer.set_frame(frame)
    panel.refresh_availability()

    toggles = panel.mask_classes
    assert toggles.isVisible() and list(toggles.checks) == list(classes)
    assert [c.text() for c in toggles.checks.values()] == ["Right lung", "Left lung", "Heart"]
    image = viewer.overlay("masks").image
    assert tuple(image.image[600, 700, :3]) == _rgb(2) and tuple(image.image[200, 200, :3]) == _rgb(0)

    toggles.checks["heart"].setChecked(False)  # as a click does
    assert image.image[600, 700, 3] == 0  # heart gone
    assert tuple(image.image[200, 200, :3]) == _rgb(0) and tuple(image.image[200, 1000, :3]) == _rgb(1)
    toggles.checks["heart"].setChecked(True)
    assert tuple(image.image[600, 700, :3]) == _rgb(2)

    # The whole layer still has its own toggle (M), independent of the class boxes.
    panel.checks["masks"].setChecked(False)
    assert not viewer.overlay("masks").is_shown()


def test_outlines_only_draws_each_mask_border(make_window, qtbot, rg1, wait_for_predictions):
    """Issue 17 item 5: an outline mode for masks, so the anatomy under them stays visible."""
    from app.overlays.masks import mask_outline, outline_width

    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    viewer, panel = window.viewer, window.layers_panel
    frame = viewer.frame
    h, w = frame.image_size
    masks = np.zeros((1, h, w), bool)
    masks[0, 100:400, 100:500] = True
    frame.prediction = dataclasses.replace(frame.prediction, masks=masks, mask_classes=("right_lung",))
    viewer.set_frame(frame)
    panel.refresh_availability()
    image = viewer.overlay("masks").image
    assert image.image[250, 300, 3] > 0  # filled
    panel.mask_classes.outline.setChecked(True)  # as a click does
    width = outline_width((h, w))
    assert image.image[250, 300, 3] == 0  # the inside is clear now
    assert image.image[100, 300, 3] > 0 and image.image[100 + width, 300, 3] == 0  # a band of `width` px at the border
    band = mask_outline(masks[0], width)
    assert band.sum() == np.count_nonzero(image.image[..., 3])
