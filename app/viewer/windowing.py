"""Window/level arithmetic for the viewer, Qt-free so it is testable on its own.

A window is ``(center, width)`` in the radiograph's modality units (``Radiograph.window``).
The viewer hands ``levels(window)`` to the image item, so dragging re-maps the
existing data instead of recomputing a VOI LUT per frame (STYLE.md, known traps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.imaging.radiograph import Window, robust_window, window_from_bounds

#: Screen pixels of right-drag that sweep the whole data range once.
DRAG_PIXELS_PER_RANGE = 600.0


@dataclass(frozen=True)
class Preset:
    key: str
    title: str


PRESETS: tuple[Preset, ...] = (
    Preset("default", "Default (from file)"),
    Preset("auto", "Auto (0.5–99.5 %)"),
    Preset("full", "Full range"),
    Preset("contrast", "High contrast"),
    Preset("soft", "Low contrast"),
)


def data_range(pixels: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values, sampled for speed on large images."""
    step = max(1, int(np.sqrt(pixels.size / 1_000_000)))
    sample = pixels[::step, ::step]
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return (0.0, 1.0)
    return (float(finite.min()), float(finite.max()))


def preset_window(key: str, pixels: np.ndarray, default: Window) -> Window:
    """The window a preset asks for on this image; ``default`` is the file's window."""
    if key == "default":
        return default
    if key == "auto":
        return robust_window(pixels)
    if key == "full":
        return window_from_bounds(*data_range(pixels))
    center, width = robust_window(pixels)
    if key == "contrast":
        return (center, width * 0.5)
    if key == "soft":
        return (center, width * 2.0)
    raise KeyError(f"unknown window preset {key!r}")


#: A file's window this much wider than the robust one, while spanning all the data, is a "show
#: everything" window (e.g. the demo's CR: W 30000 over 15-bit data): the viewer opens on the robust one.
UNINFORMATIVE_WIDTH = 1.1


def initial_window(pixels: np.ndarray, default: Window) -> Window:
    """The window an image opens with: the file's, unless it only spans the whole value range (a
    "show everything" window), when the robust 0.5–99.5 % window shows the anatomy instead. The
    file's stays one key away (Default, W); the model always sees the file's (``Radiograph.window``)."""
    low, high = levels(default)
    data_low, data_high = data_range(pixels)
    robust = robust_window(pixels)
    if low <= data_low and high >= data_high and default[1] > UNINFORMATIVE_WIDTH * robust[1]:
        return robust
    return default


def drag_window(window: Window, dx: float, dy: float, value_range: tuple[float, float]) -> Window:
    """New window after a right-drag of (dx, dy) screen pixels.

    Right widens the window (less contrast), down raises the level (darker image), as in
    Weasis and OsiriX. One ``DRAG_PIXELS_PER_RANGE`` sweep covers the data range.
    """
    center, width = window
    span = max(value_range[1] - value_range[0], 1e-6)
    step = span / DRAG_PIXELS_PER_RANGE
    new_width = max(width + dx * step, span * 1e-4)
    return (center + dy * step, new_width)


def levels(window: Window) -> tuple[float, float]:
    """``(low, high)`` for ``ImageItem.setLevels``."""
    center, width = window
    return (center - width / 2.0, center + width / 2.0)
