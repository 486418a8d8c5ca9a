"""The in-memory radiograph every other part of ``core`` works on.

Conventions (see ``docs/adr/0001-coordinates.md``):

* ``pixels[y, x]``: row-major array of shape ``(H, W)``; landmark coordinates
  elsewhere in ``core`` are ``(x, y)`` pixels of this array.
* ``pixels`` are the *modality* values (DICOM: after the Modality LUT or
  Rescale Slope/Intercept; raster files: the stored grey values). They are
  never windowed or inverted, so measurements and interactive window/level
  work on the physical values.
* MONOCHROME1 (low value = white) is **not** inverted in ``pixels``: the
  radiograph carries ``invert_display=True`` instead and
  :meth:`Radiograph.display_normalised` inverts. Keeping the raw values means a
  window taken from the DICOM header still applies to ``pixels`` unchanged.
* ``window`` is ``(center, width)`` in the units of ``pixels``. It maps
  ``[center - width/2, center + width/2]`` linearly onto ``[0, 1]`` (the
  simple form; DICOM's LINEAR formula differs by half a grey level).

:meth:`Radiograph.display_normalised` is what the models take as input: a
float32 image in ``[0, 1]`` with bones bright, like an ordinary PNG divided by
255. For 8-bit images the default window is the full range, so an 8-bit PNG
gives exactly ``pixels / 255``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Largest image accepted, in pixels (rows × columns). 20000² float32 is 1.6 GB
#: already; anything bigger is a broken header or a hostile file.
MAX_PIXELS = 20000 * 20000

#: ITU-R BT.601 luma weights (R, G, B), the ones Pillow's ``convert("L")`` uses.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: Percentiles of the robust default window when a file carries none.
ROBUST_PERCENTILES = (0.5, 99.5)

#: Percentiles are taken on a strided sample of at most about this many pixels:
#: the window does not need every pixel and full-size percentiles cost ~100 ms.
_WINDOW_SAMPLE_PIXELS = 1_000_000

Window = tuple[float, float]
"""``(center, width)`` in pixel-value units, width > 0."""

MetadataValue = str | int | float


def window_from_bounds(low: float, high: float) -> Window:
    """``(center, width)`` for the value range ``[low, high]``; a flat range gets width 1."""
    low, high = float(low), float(high)
    if not high > low:
        return (low, 1.0)
    return ((low + high) / 2.0, high - low)


def full_range_window(bits: int) -> Window:
    """Window over ``[0, 2**bits - 1]``: an 8-bit image then normalises to ``pixels / 255``."""
    return window_from_bounds(0.0, float(2**bits - 1))


def robust_window(pixels: np.ndarray, percentiles: tuple[float, float] = ROBUST_PERCENTILES) -> Window:
    """Window spanning the given percentiles of the finite values of ``pixels`` (H, W).

    Used when a file carries no window: percentiles ignore the few saturated
    or collimator pixels that would make a min/max window look washed out.
    """
    step = max(1, int(math.sqrt(pixels.size / _WINDOW_SAMPLE_PIXELS)))
    sample = np.asarray(pixels[::step, ::step] if pixels.ndim == 2 else pixels, dtype=np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return (0.5, 1.0)
    low, high = np.percentile(sample, percentiles)
    if not high > low:  # nearly flat image: fall back to min/max
        low, high = sample.min(), sample.max()
    return window_from_bounds(low, high)


def apply_window(pixels: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """Map ``pixels`` (H, W) through ``window`` to float32 in ``[0, 1]``; ``invert`` flips it."""
    center, width = window
    low = center - width / 2.0
    # Divide (not multiply by 1/width): for the 8-bit full-range window the
    # result is then bit-identical to ``pixels / 255``, as training code expects.
    out = np.asarray(pixels, dtype=np.float32) - np.float32(low)
    np.divide(out, np.float32(width), out=out)
    np.clip(out, 0.0, 1.0, out=out)
    if invert:
        np.subtract(np.float32(1.0), out, out=out)
    return out


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Grey values (H, W) float32 of a colour image (H, W, C), C >= 3, channels R, G, B[, A].

    X-rays exported as RGB are nearly always grey stored three times; then the
    red channel is returned unchanged so the values stay exact. Otherwise the
    BT.601 weighted sum is used. Alpha is ignored.
    """
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected (H, W, C>=3) colour pixels, got shape {rgb.shape}")
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        return r.astype(np.float32)
    wr, wg, wb = LUMA_WEIGHTS
    grey = wr * r.astype(np.float32) + wg * g.astype(np.float32) + wb * b.astype(np.float32)
    return grey.astype(np.float32, copy=False)


def check_spacing(spacing: tuple[float, float] | None) -> tuple[float, float] | None:
    """``(x, y)`` as floats, or None; ValueError unless two positive finite mm-per-pixel values."""
    if spacing is None:
        return None
    sx, sy = (float(v) for v in spacing)
    if not (math.isfinite(sx) and math.isfinite(sy) and sx > 0 and sy > 0):
        raise ValueError(f"a pixel spacing must be two positive mm values (finite, per pixel), got {spacing!r}")
    return (sx, sy)


@dataclass(eq=False)
class Radiograph:
    """A single-channel X-ray image with its physical spacing and display window.

    Attributes:
        pixels: (H, W) float32 modality values (see module docstring).
        window: ``(center, width)`` default display window in pixel units.
        spacing: ``(x, y)`` mm per pixel, or None when unknown. Note the order:
            DICOM PixelSpacing is (row, column) = (y, x); loaders swap it.
        source: the file it came from, if any.
        metadata: small, non-identifying facts about the file (format,
            modality, transfer syntax, bit depth, ...). Never patient or study
            identifiers: the dict is shown, logged and saved in project files.
        invert_display: True for MONOCHROME1 images, whose low values are white;
            :meth:`display_normalised` inverts so bones come out bright.

    ``eq=False``: comparing numpy arrays with ``==`` is ambiguous; compare
    ``pixels`` explicitly.
    """

    pixels: np.ndarray
    window: Window
    spacing: tuple[float, float] | None = None
    source: Path | None = None
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    invert_display: bool = False

    def __post_init__(self) -> None:
        pixels = np.ascontiguousarray(self.pixels, dtype=np.float32)
        if pixels.ndim != 2 or pixels.size == 0:
            raise ValueError(f"pixels must be a non-empty (H, W) array, got shape {pixels.shape}")
        self.pixels = pixels
        center, width = (float(v) for v in self.window)
        if not (math.isfinite(center) and math.isfinite(width) and width > 0):
            raise ValueError(f"window must be (center, width) with width > 0, got {self.window!r}")
        self.window = (center, width)
        self.spacing = check_spacing(self.spacing)
        if self.source is not None:
            self.source = Path(self.source)

    @classmethod
    def from_array(
        cls,
        pixels: np.ndarray,
        spacing: tuple[float, float] | None = None,
        source: str | os.PathLike[str] | None = None,
    ) -> Radiograph:
        """Wrap an array (tests, generated data, images from other libraries).

        ``pixels`` is (H, W) grey or (H, W, 3|4) colour (converted to grey).
        uint8 and bool arrays get the full-range window (so
        ``display_normalised() == pixels / 255`` for uint8); anything else gets
        the robust percentile window.
        """
        arr = np.asarray(pixels)
        if arr.ndim == 3 and arr.shape[2] in (3, 4):
            grey = luminance(arr)
        else:
            grey = arr
        if arr.dtype == np.bool_:
            window = full_range_window(1)
        elif arr.dtype == np.uint8:
            window = full_range_window(8)
        else:
            window = robust_window(np.asarray(grey, dtype=np.float32))
        h, w = grey.shape[:2]
        metadata: dict[str, MetadataValue] = {"format": "array", "rows": int(h), "columns": int(w)}
        return cls(
            pixels=grey,
            window=window,
            spacing=spacing,
            source=Path(source) if source is not None else None,
            metadata=metadata,
        )

    @property
    def height(self) -> int:
        """Number of rows H."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Number of columns W."""
        return int(self.pixels.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``, numpy order (not (x, y))."""
        return (self.height, self.width)

    def display_normalised(self, window: Window | None = None) -> np.ndarray:
        """(H, W) float32 in ``[0, 1]``, bones bright: the models' input and the default view.

        Applies ``window`` (default: ``self.window``) and, for MONOCHROME1,
        the inversion. Returns a new array; ``pixels`` is untouched.
        """
        return apply_window(self.pixels, window or self.window, invert=self.invert_display)
