"""Pixel spacing from a ruler on the image (issue 17 item 4).

A PNG or JPEG says nothing about its pixel size, and a DICOM's PixelSpacing may be missing, broken
(the demo's ``0\\0``) or the detector's rather than the patient's (ImagerPixelSpacing: anatomy at
the detector is magnified, about 10 % on a cephalostat). A radiograph with a ruler or a calibration
object in view tells the truth: the user marks two points a known distance apart and types it.

Pixels are taken as square (the ruler gives one length, not a direction-dependent one); the result
is stored with :meth:`core.project.Project.set_spacing`, whose history row is its provenance.
"""

from __future__ import annotations

import math

__all__ = ["MAX_MM_PER_PX", "MIN_RULER_PX", "ruler_note", "spacing_from_ruler"]

#: A ruler shorter than this on the image (px) is a slip of the mouse, not a measurement.
MIN_RULER_PX = 5.0
#: Beyond this (mm per pixel) the typed length or the marks are wrong: no radiograph is that coarse.
MAX_MM_PER_PX = 10.0


def spacing_from_ruler(start: tuple[float, float], end: tuple[float, float], length_mm: float) -> tuple[float, float]:
    """(x, y) mm per pixel from two image points ``length_mm`` apart. ValueError (one line) for a
    ruler of (nearly) zero length, a length that is not a positive number, or an absurd result."""
    try:
        length_mm = float(length_mm)
    except (TypeError, ValueError):
        raise ValueError(f"the ruler's length must be a number of millimetres, got {length_mm!r}") from None
    if not math.isfinite(length_mm) or length_mm <= 0:
        raise ValueError(f"the ruler's length must be more than 0 mm, got {length_mm:g}")
    pixels = math.hypot(end[0] - start[0], end[1] - start[1])
    if not math.isfinite(pixels) or pixels < MIN_RULER_PX:
        raise ValueError(f"the two marks are {pixels:.1f} px apart: mark the two ends of a known length "
                         f"at least {MIN_RULER_PX:g} px apart")
    mm = length_mm / pixels
    if mm > MAX_MM_PER_PX:
        raise ValueError(f"{length_mm:g} mm over {pixels:.1f} px is {mm:.1f} mm per pixel, more than any radiograph; "
                         "check the length and the marks")
    return (mm, mm)


def ruler_note(start: tuple[float, float], end: tuple[float, float], length_mm: float) -> str:
    """The provenance line stored with a calibrated spacing."""
    pixels = math.hypot(end[0] - start[0], end[1] - start[1])
    return (f"calibrated on a ruler: {float(length_mm):g} mm over {pixels:.1f} px from ({start[0]:.1f}, {start[1]:.1f}) "
            f"to ({end[0]:.1f}, {end[1]:.1f})")
