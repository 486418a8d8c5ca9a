"""Calibrated per-landmark uncertainty regions by split conformal prediction (issue 5 item 5).

The model's own spread says *where* it is unsure (an elongated heatmap along
an edge, a flat one on a poor image) but not *how much*: the global heatmaps
are coarser than the final points, so their raw spread is several times the
real error (``core.measurements``). Split conformal prediction fixes the scale
with a guarantee that does not depend on the model being right:

1. For each calibration image i and landmark k, the nonconformity score is the
   Mahalanobis length of the final point's error under the heatmap covariance,
   ``s_ik = sqrt(e_ikᵀ Σ_ik⁻¹ e_ik)`` (:func:`nonconformity`).
2. Per landmark, ``q_k`` is the ⌈(n+1)(1−α)⌉-th smallest of the n scores
   (:func:`conformal_quantile`).
3. On a new image the region of landmark k is the ellipse ``{p : (p − x̂)ᵀ Σ⁻¹ (p − x̂) ≤ q_k²}``
   (:func:`ellipses`): it holds the true point with probability ≥ 1 − α when
   the calibration and new images are exchangeable (same population, same model).

Covariances are in image pixels: the heatmap's second moment mapped by the
linear part of ``heatmap_to_image``, plus the variance of a uniform pixel
(1/12 heatmap px² per axis) so a one-pixel peak still has an area.
Shapes: heatmaps (K, h, w), points and errors (..., K, 2) (x, y) image px,
covariances (..., K, 2, 2) image px². No torch, no Qt.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ConformalCalibration",
    "calibrate",
    "conformal_quantile",
    "covered",
    "ellipses",
    "heatmap_covariance",
    "nonconformity",
    "ellipse_mm",
    "prediction_regions",
]

#: What the scores are divided by; stored in the card so a later change of method cannot be mixed up.
SCORE = "mahalanobis/global-heatmap-covariance"


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ⌈(n+1)(1−α)⌉-th smallest of the finite ``scores`` (split conformal).

    Returns ``inf`` when n is too small for that rank to exist (n < 1/α − 1):
    no finite region then has the guaranteed coverage, and saying so beats a
    region that is too small.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    s = s[np.isfinite(s)]
    n = s.size
    rank = math.ceil((n + 1) * (1.0 - alpha))
    if n == 0 or rank > n:
        return math.inf
    return float(s[rank - 1])


def heatmap_covariance(heatmaps: np.ndarray, heatmap_to_image: np.ndarray) -> np.ndarray:
    """Covariance (K, 2, 2) in image px² of each heatmap read as a distribution over pixels.

    heatmaps: (K, h, w) non-negative, any scale (normalised here). An empty
    or non-finite map gives a NaN covariance.
    """
    h = np.clip(np.nan_to_num(np.asarray(heatmaps, dtype=np.float64), nan=0.0, posinf=0.0), 0.0, None)
    k, hh, ww = h.shape
    total = h.sum(axis=(1, 2))
    p = h / np.where(total > 0, total, 1.0)[:, None, None]
    xs, ys = np.arange(ww, dtype=np.float64), np.arange(hh, dtype=np.float64)
    px, py = p.sum(axis=1), p.sum(axis=2)  # (K, w), (K, h) marginals
    mx, my = px @ xs, py @ ys
    vx = px @ xs**2 - mx**2
    vy = py @ ys**2 - my**2
    cxy = np.einsum("kvu,u,v->k", p, xs, ys) - mx * my
    cov = np.stack([np.stack([vx, cxy], -1), np.stack([cxy, vy], -1)], -2)  # heatmap px²
    cov = cov + np.eye(2) / 12.0
    a = np.asarray(heatmap_to_image, dtype=np.float64)[:, :2]
    cov = a @ cov @ a.T
    cov[~(total > 0)] = np.nan
    return cov


def nonconformity(errors: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """Mahalanobis lengths ``sqrt(eᵀ Σ⁻¹ e)``: errors (..., K, 2), covariances (..., K, 2, 2) → (..., K).

    NaN where the error or the covariance is missing.
    """
    e = np.asarray(errors, dtype=np.float64)
    c = np.asarray(covariances, dtype=np.float64)
    det = c[..., 0, 0] * c[..., 1, 1] - c[..., 0, 1] * c[..., 1, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        # Σ⁻¹ of a 2×2 by hand: vectorised over any leading shape, NaN-transparent.
        q = (c[..., 1, 1] * e[..., 0] ** 2 - 2.0 * c[..., 0, 1] * e[..., 0] * e[..., 1] + c[..., 0, 0] * e[..., 1] ** 2) / det
    return np.sqrt(np.where(det > 0, q, np.nan))


def ellipses(covariances: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Regions ``{d : dᵀ Σ⁻¹ d ≤ q²}`` as (..., K, 3): semi-major, semi-minor (px), angle (degrees).

    The angle is the major axis' direction from +x towards +y (image y points
    down, so positive angles turn clockwise on screen), in (−90, 90].
    """
    c = np.asarray(covariances, dtype=np.float64)
    q = np.asarray(quantiles, dtype=np.float64)
    a, b, d = c[..., 0, 0], c[..., 0, 1], c[..., 1, 1]
    mean, half = (a + d) / 2.0, np.sqrt(((a - d) / 2.0) ** 2 + b**2)
    major = np.sqrt(np.clip(mean + half, 0.0, None)) * q
    minor = np.sqrt(np.clip(mean - half, 0.0, None)) * q
    angle = np.degrees(0.5 * np.arctan2(2.0 * b, a - d))
    angle = np.where(angle <= -90.0, angle + 180.0, angle)
    return np.stack([major, minor, angle], axis=-1)


def ellipse_mm(covariances: np.ndarray, quantiles: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """:func:`ellipses` in millimetres: the covariance scaled by the pixel spacing (sx, sy) first."""
    s = np.diag([float(spacing[0]), float(spacing[1])])
    return ellipses(s @ np.asarray(covariances, dtype=np.float64) @ s, quantiles)


def covered(points: np.ndarray, truth: np.ndarray, covariances: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """(..., K) bool: whether each true point lies in its region (NaN truth → False, excluded by callers)."""
    return nonconformity(np.asarray(truth) - np.asarray(points), covariances) <= np.asarray(quantiles, dtype=np.float64)


@dataclass(frozen=True)
class ConformalCalibration:
    """Per-landmark quantiles of the nonconformity score, as stored in a model card.

    ``card()`` is ``uncertainty.conformal``: alpha, n (calibration images),
    quantiles (K,), the score used, the calibration data and, for reading the
    card, the median region radius per landmark in px (and mm when known).
    """

    alpha: float
    n: int
    landmarks: tuple[str, ...]
    quantiles: np.ndarray
    data: str = ""
    median_radius_px: tuple[float, ...] = ()
    median_radius_mm: tuple[float, ...] | None = None

    @property
    def coverage(self) -> float:
        return 1.0 - self.alpha

    def card(self) -> dict:
        def r(v: float) -> float | None:
            return round(float(v), 4) if math.isfinite(v) else None

        out = {
            "alpha": self.alpha,
            "coverage": self.coverage,
            "n": self.n,
            "score": SCORE,
            "landmarks": list(self.landmarks),
            "quantiles": [r(q) for q in self.quantiles],
            "data": self.data,
            "median_radius_px": [r(v) for v in self.median_radius_px],
        }
        if self.median_radius_mm is not None:
            out["median_radius_mm"] = [r(v) for v in self.median_radius_mm]
        return out

    @classmethod
    def from_card(cls, card: dict, landmarks: tuple[str, ...]) -> "ConformalCalibration | None":
        """The calibration in a model card, or None when it has none (or one for other landmarks/scores)."""
        conf = (card.get("uncertainty") or {}).get("conformal")
        if not isinstance(conf, dict) or conf.get("score") != SCORE or tuple(conf.get("landmarks", ())) != tuple(landmarks):
            return None
        q = np.array([math.inf if v is None else float(v) for v in conf["quantiles"]], dtype=np.float64)
        return cls(float(conf["alpha"]), int(conf["n"]), tuple(landmarks), q, str(conf.get("data", "")))


def calibrate(points: np.ndarray, truth: np.ndarray, covariances: np.ndarray, alpha: float,
              landmarks: tuple[str, ...], data: str = "", spacings: np.ndarray | None = None) -> ConformalCalibration:
    """Split-conformal quantiles from n calibration images.

    points, truth: (n, K, 2) image px; covariances: (n, K, 2, 2) image px²;
    spacings: (n, 2) mm/px or None. Missing truths (NaN) are left out per landmark.
    """
    scores = nonconformity(np.asarray(truth) - np.asarray(points), covariances)  # (n, K)
    quantiles = np.array([conformal_quantile(scores[:, k], alpha) for k in range(scores.shape[1])])
    # Radius of the circle with the ellipse's area: a one-number size to read in the card.
    radii = np.sqrt(np.prod(ellipses(covariances, quantiles)[..., :2], axis=-1))
    median_px = tuple(float(np.nanmedian(radii[:, k])) for k in range(radii.shape[1]))
    median_mm = None
    if spacings is not None:
        mm = radii * np.sqrt(np.prod(np.asarray(spacings, dtype=np.float64), axis=-1))[:, None]
        median_mm = tuple(float(np.nanmedian(mm[:, k])) for k in range(mm.shape[1]))
    return ConformalCalibration(float(alpha), int(scores.shape[0]), tuple(landmarks), quantiles, data, median_px, median_mm)


def heatmap_regions(calibration: ConformalCalibration | None, heatmaps: np.ndarray, heatmap_to_image: np.ndarray,
                    spacing: tuple[float, float] | None) -> tuple[np.ndarray | None, np.ndarray | None, float | None]:
    """``(region_px, region_mm, coverage)`` of a fresh prediction's heatmaps (K, h, w): each landmark's
    calibrated ellipse in image px and, with a spacing, in mm; all None without a calibration."""
    if calibration is None:
        return None, None, None
    cov = heatmap_covariance(heatmaps, heatmap_to_image)
    region_mm = ellipse_mm(cov, calibration.quantiles, spacing) if spacing else None
    return ellipses(cov, calibration.quantiles), region_mm, calibration.coverage


def prediction_regions(prediction, calibration: ConformalCalibration | None = None) -> tuple[np.ndarray, float] | None:
    """``(region_px (K, 3), coverage)`` of a ``Prediction`` (fresh or a project's); None if uncalibrated.

    ``calibration`` (a project's own, ``core.learning.recalibration``) wins when given. Else the
    prediction's own regions (a project stores them with it). Only a prediction stored by a
    project file of before 2026-12-03 (no regions kept) gets them from its heatmaps and the
    calibration in the card of the bundled model with exactly its ``model_id`` (name@version):
    a fine-tuned version has other errors, so it gets no region until it is calibrated itself.
    """
    region = getattr(prediction, "region_px", None)
    if region is not None and calibration is None:
        return np.asarray(region), float(prediction.coverage)
    calibration = calibration or _bundled_calibration(str(prediction.model_id))
    if calibration is None or prediction.heatmaps is None:
        return None
    cov = heatmap_covariance(prediction.heatmaps, prediction.heatmap_to_image)
    if cov.shape[0] != calibration.quantiles.shape[0]:
        return None
    return ellipses(cov, calibration.quantiles), calibration.coverage


@functools.lru_cache(maxsize=16)
def _bundled_calibration(model_id: str) -> ConformalCalibration | None:
    """The installed model's calibration when ``model_id`` is exactly it (no torch: the app calls this
    while drawing)."""
    from core.model_card import bundled_card

    card = bundled_card(model_id.split("@", 1)[0])
    if card is None or card.model_id != model_id or card.conformal is None:
        return None
    try:
        return ConformalCalibration.from_card(card.data, tuple(card.conformal["landmarks"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
