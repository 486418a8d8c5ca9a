"""The pipeline's geometry, shared by training and inference (so both see the same pixels):
points between image pixels and the global stage's input, the patch stage's fine grid (ADR 0006),
affine maps between image, input and patch pixels (ADR 0001: a 2×3 matrix ``A`` maps each
*output* pixel to the *input* position it is sampled from; points follow with ``A⁻¹``).

Plain NumPy (no PyTorch, an import-linter contract holds it): the compiled runtime uses it too.
The sampling itself (resize, warp, patches, standardisation) is in ``core.resampling`` (PyTorch)
and ``core.runtime.arrays`` (its NumPy twin). Inference imports this, never ``core.training``.
"""

from __future__ import annotations

import math

import numpy as np


def affine_in_from_out(
    out_size: tuple[int, int],
    center_in: tuple[float, float],
    pixel_ratio: tuple[float, float] = (1.0, 1.0),
    angle_deg: float = 0.0,
    zoom: float = 1.0,
    shift_in: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """2×3 matrix mapping output pixels (x, y) to input pixels.

    The output centre lands on ``center_in + shift_in``; one output pixel spans
    ``pixel_ratio / zoom`` input pixels, rotated by ``angle_deg``. With no
    augmentation, ``pixel_ratio = in_size / out_size`` and ``center_in`` the
    input centre, this is the plain resize ``x_in = (x_out + 0.5)·r − 0.5``.
    """
    h, w = out_size
    c_out = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    theta = math.radians(angle_deg)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    linear = np.diag(pixel_ratio) @ rot / zoom
    offset = np.asarray(center_in, dtype=float) + np.asarray(shift_in, dtype=float) - linear @ c_out
    return np.hstack([linear, offset[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """points (..., 2) → (..., 2); NaN stays NaN."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def to_scaled(points: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Image pixels → pixels of the same image resized to ``dst_size`` (ADR 0001)."""
    ratio = np.array([dst_size[1] / src_size[1], dst_size[0] / src_size[0]])
    return (points + 0.5) * ratio - 0.5


def from_scaled(points: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`to_scaled`."""
    ratio = np.array([dst_size[1] / src_size[1], dst_size[0] / src_size[0]])
    return (points + 0.5) / ratio - 0.5


def input_to_image(size: tuple[int, int], input_size: tuple[int, int]) -> np.ndarray:
    """(2, 3) affine from pixels of the network input (h, w) to pixels of the image (H, W): what a
    prediction's ``heatmap_to_image`` is (ADR 0001 pixel centres)."""
    (height, width), (h_in, w_in) = size, input_size
    return np.array([[width / w_in, 0.0, 0.5 * width / w_in - 0.5], [0.0, height / h_in, 0.5 * height / h_in - 0.5]])


def fine_size(shape: tuple[int, int], fine_scale: float) -> tuple[int, int]:
    return max(1, round(shape[0] * fine_scale)), max(1, round(shape[1] * fine_scale))


#: How far a spacing may move the fine grid from ``fine_scale`` (either way): beyond it the
#: spacing is more likely wrong than the unit that different, and memory stays bounded.
MAX_PHYSICAL_RESCALE = 4.0


def fine_grid(shape: tuple[int, int], fine_scale: float, spacing: tuple[float, float] | None = None,
              fine_mm_per_px: float | None = None) -> tuple[int, int]:
    """The patch stage's fine grid (h, w) for an image of ``shape`` (H, W) and ``spacing`` (x, y) mm/px.

    With both the image's spacing and the model's ``fine_mm_per_px`` known the grid is resampled to
    that physical pixel size, so the patch network sees the anatomy at the size it learned whatever
    the unit's detector pitch (docs/adr/0006-physical-fine-grid.md: a 0.1 mm/px cephalogram cost the
    bundled ceph19 +38 % error at a fixed ``fine_scale``); otherwise ``fine_scale`` of the image.
    Training and inference both call this, so both see the same grid.
    """
    if not spacing or not fine_mm_per_px:
        return fine_size(shape, fine_scale)
    low, high = fine_scale / MAX_PHYSICAL_RESCALE, fine_scale * MAX_PHYSICAL_RESCALE
    sy = min(max(spacing[1] / fine_mm_per_px, low), high)
    sx = min(max(spacing[0] / fine_mm_per_px, low), high)
    return max(1, round(shape[0] * sy)), max(1, round(shape[1] * sx))


def patch_matrices(centres: np.ndarray, patch_size: int, angles: np.ndarray | None = None, zooms: np.ndarray | None = None) -> np.ndarray:
    """(N, 2, 3) matrices cutting a patch centred on each fine-grid point."""
    n = len(centres)
    angles = np.zeros(n) if angles is None else angles
    zooms = np.ones(n) if zooms is None else zooms
    return np.stack(
        [affine_in_from_out((patch_size, patch_size), tuple(c), angle_deg=a, zoom=z) for c, a, z in zip(centres, angles, zooms)]
    )
