"""Where each landmark's tags go on screen so that crowded ones do not print over each other.

Each landmark has a *block* of tags beside its marker (its name above, its confidence below, at a
fixed screen offset; ``app.overlays.labels``). In a crowded region (the incisors and lips of a
cephalogram at fit zoom) the blocks of neighbours overlap and neither can be read. This module
moves blocks, greedily from the top of the screen down: each takes the first of a few positions
(right of the marker, then above or below it, then left, then further out) that overlaps no block
already placed and no marker; when none is free, the one that overlaps least. A block that moved
gets a leader line to its marker. Pure numpy on screen pixels: no Qt.
"""

from __future__ import annotations

import numpy as np

#: Block origin (its top-left) relative to the marker with no shift, screen px: the name's tag is
#: at (13, −13) and the confidence's at (13, +6) from the marker, each about 16 px tall.
BLOCK_TOP_LEFT = (13.0, -21.0)
BLOCK_HEIGHT = 35.0
#: Half the side of the square kept clear around each marker.
MARKER_HALF = 9.0
#: Candidate shifts in the order tried: (dx, dy) with dx = "left" meaning mirrored to the marker's left.
CANDIDATES = [(0.0, 0.0), (0.0, -24.0), (0.0, 24.0), ("left", 0.0), ("left", -24.0), ("left", 24.0),
              (18.0, -44.0), (18.0, 44.0), ("left", -44.0), ("left", 44.0)]


def _rect(anchor: np.ndarray, width: float, shift: tuple) -> np.ndarray:
    """(x0, y0, x1, y1) of a block of ``width`` at ``anchor`` moved by ``shift``."""
    dx, dy = shift
    if dx == "left":  # mirrored: the block ends as far left of the marker as it usually starts right of it
        x0 = anchor[0] - BLOCK_TOP_LEFT[0] - width
    else:
        x0 = anchor[0] + BLOCK_TOP_LEFT[0] + dx
    y0 = anchor[1] + BLOCK_TOP_LEFT[1] + dy
    return np.array([x0, y0, x0 + width, y0 + BLOCK_HEIGHT])


def block_rect(anchor, width: float, shift) -> np.ndarray:
    """(x0, y0, x1, y1) on screen of a block of ``width`` at ``anchor`` moved by a shift of :func:`place_blocks`."""
    return _rect(np.asarray(anchor, dtype=np.float64), width, (0.0, 0.0)) + np.array([shift[0], shift[1], shift[0], shift[1]])


def _overlap(a: np.ndarray, rects: np.ndarray) -> float:
    """Total area of ``a`` (4,) overlapping the rows of ``rects`` (N, 4)."""
    if not len(rects):
        return 0.0
    w = np.clip(np.minimum(a[2], rects[:, 2]) - np.maximum(a[0], rects[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], rects[:, 3]) - np.maximum(a[1], rects[:, 1]), 0, None)
    return float(np.sum(w * h))


def place_blocks(anchors: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """(K, 2) shifts, screen px, of each landmark's tag block from its usual place.

    anchors: (K, 2) markers on screen (NaN rows: no point, left alone); widths: (K,) block widths.
    A shift of (0, 0) is the usual place; the x of a block mirrored to the left is its real offset.
    """
    anchors = np.asarray(anchors, dtype=np.float64)
    widths = np.asarray(widths, dtype=np.float64)
    k = len(anchors)
    shifts = np.zeros((k, 2))
    present = np.isfinite(anchors).all(axis=1)
    markers = np.array([[x - MARKER_HALF, y - MARKER_HALF, x + MARKER_HALF, y + MARKER_HALF] for x, y in anchors[present]])
    placed: list[np.ndarray] = []
    order = sorted(np.flatnonzero(present), key=lambda i: (anchors[i, 1], anchors[i, 0]))
    for i in order:
        best, best_cost = None, np.inf
        for shift in CANDIDATES:
            rect = _rect(anchors[i], widths[i], shift)
            cost = _overlap(rect, np.array(placed)) + _overlap(rect, markers)
            if cost < best_cost - 1e-9:
                best, best_cost = rect, cost
                if cost == 0.0:
                    break
        placed.append(best)
        usual = _rect(anchors[i], widths[i], (0.0, 0.0))
        shifts[i] = best[:2] - usual[:2]
    return shifts
