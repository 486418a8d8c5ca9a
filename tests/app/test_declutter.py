"""Crowded labels are moved apart (issue 17 item 5): the placement, and the labels on a real cephalogram."""

from __future__ import annotations

import numpy as np

from app.overlays.declutter import BLOCK_HEIGHT, BLOCK_TOP_LEFT, place_blocks


def _rects(anchors, widths, shifts):
    x0 = anchors[:, 0] + BLOCK_TOP_LEFT[0] + shifts[:, 0]
    y0 = anchors[:, 1] + BLOCK_TOP_LEFT[1] + shifts[:, 1]
    return np.stack([x0, y0, x0 + widths, y0 + BLOCK_HEIGHT], 1)


def _overlaps(r):
    n = 0
    for i in range(len(r)):
        for j in range(i + 1, len(r)):
            n += r[i, 0] < r[j, 2] and r[j, 0] < r[i, 2] and r[i, 1] < r[j, 3] and r[j, 1] < r[i, 3]
    return n


def test_lone_points_keep_their_place_and_crowded_ones_move_apart():
    anchors = np.array([[100.0, 100.0], [110.0, 106.0], [118.0, 96.0], [400.0, 400.0], [np.nan, np.nan]])
    widths = np.full(5, 44.0)
    shifts = place_blocks(anchors, widths)
    assert (shifts[3] == 0).all() and (shifts[4] == 0).all()  # alone, and no point
    assert _overlaps(_rects(anchors[:3], widths[:3], np.zeros((3, 2)))) > 0
    assert _overlaps(_rects(anchors[:3], widths[:3], shifts[:3])) == 0


def test_ceph_labels_at_fit_zoom_do_not_print_over_each_other(ceph_window):
    window = ceph_window
    labels = window.viewer.overlay("labels")
    rects = [t.sceneBoundingRect() for t in labels.tags if t.isVisible()]
    assert len(rects) == 19
    crowded = sum(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
    assert crowded <= 2, f"{crowded} pairs of labels overlap"
    def moved():
        return sum(t.offset != t.base for t in labels.tags)

    before = moved()
    assert before > 0  # the incisors, lips and chin are crowded at fit zoom
    window.viewer.zoom_by(3.0)  # zooming in frees room: the blocks are placed again, fewer moved
    assert moved() < before
