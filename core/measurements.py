"""The schema's measurements with an uncertainty from the model's heatmaps (Monte-Carlo).

A measurement's value comes from the landmarks' current positions
(:meth:`core.schema.LandmarkSchema.compute_measurements` semantics: distances in
mm with a pixel spacing, else px; angles in degrees, 0..180). Its uncertainty
comes from where the model thinks each *unreviewed* landmark could be:

1. :func:`heatmap_offsets` draws N positions per landmark from the cached
   heatmaps (``Prediction.heatmaps`` (K, h, w), mapped to image pixels by
   ``heatmap_to_image`` (2, 3)) and subtracts each heatmap's mean, giving
   offsets (N, K, 2) image px. Done once per prediction (a few ms).
2. :func:`measure` adds those offsets to the current positions of landmarks
   still in the PREDICTED state; corrected and verified landmarks are fixed
   (or jittered by ``user_sd_px``, a person's clicking error). It evaluates
   every measurement on all N samples at once (vectorised, ~1 ms for N=500),
   so the app can call it on every mouse move while a point is dragged.

The global heatmaps are coarser than the final (patch-stage) points, so their
raw spread is 4-6x the real error; a model card's ``inference.uncertainty_scale``
(fitted on measured errors) scales the samples so the intervals are calibrated
(:func:`uncertainty_scale`). No Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.schema import LandmarkSchema

__all__ = ["DEFAULT_SAMPLES", "MeasurementValue", "heatmap_offsets", "measure", "measure_image", "uncertainty_scale"]

DEFAULT_SAMPLES = 500


@dataclass(frozen=True)
class MeasurementValue:
    """One measurement on one image.

    ``value``: at the current positions (None when a landmark is missing or the
    value is undefined). ``mean``/``sd``/``low``/``high``: over the Monte-Carlo
    samples (``low``, ``high`` the 2.5 and 97.5 percentiles); None without
    samples (no prediction, or every landmark involved is fixed and exact).
    """

    name: str
    label: str
    kind: str
    unit: str
    value: float | None
    mean: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None

    def text(self, digits: int = 1) -> str:
        """``"81.2 ± 1.3 deg (95 %: 78.7–83.8)"`` or ``"81.2 deg"`` or ``"—"``."""
        if self.value is None:
            return "—"
        unit = f" {self.unit}" if self.unit else ""
        d = digits if self.kind != "ratio" else digits + 2
        if self.sd is None:
            return f"{self.value:.{d}f}{unit}"
        return f"{self.value:.{d}f} ± {self.sd:.{d}f}{unit} (95 %: {self.low:.{d}f}–{self.high:.{d}f})"


def uncertainty_scale(model_id: str) -> float:
    """The calibration factor of a model's heatmap spread (``inference.uncertainty_scale`` in its card).

    The global heatmaps are coarser than the final points' error, so their spread
    is scaled by a factor fitted on measured errors (see ``resources/models/README.md``). Looked up in the bundled card whose name is
    the part of ``model_id`` before ``@``; 1.0 (uncalibrated, conservative) otherwise.
    """
    return _card_scale(str(model_id).split("@", 1)[0])


def _card_scale(name: str) -> float:
    from core.model_card import bundled_card

    card = bundled_card(name)
    return card.inference.uncertainty_scale if card is not None else 1.0


def heatmap_offsets(heatmaps: np.ndarray, heatmap_to_image: np.ndarray, n: int = DEFAULT_SAMPLES,
                    seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """Samples from each landmark's heatmap, relative to its mean, in image pixels.

    heatmaps: (K, h, w) non-negative (any scale; normalised here).
    heatmap_to_image: (2, 3) affine, heatmap (x, y, 1) -> image (x, y).
    Returns (n, K, 2) float64 offsets (x, y) image px, times ``scale`` (see
    :func:`uncertainty_scale`); rows of a landmark whose heatmap is empty or not
    finite are NaN. Each sample is a heatmap pixel drawn with its probability
    plus a uniform jitter within the pixel.
    """
    h = np.asarray(heatmaps, dtype=np.float64)
    k, hh, ww = h.shape
    a = np.asarray(heatmap_to_image, dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = np.full((n, k, 2), np.nan)
    for i in range(k):
        p = np.clip(np.nan_to_num(h[i].ravel(), nan=0.0, posinf=0.0), 0.0, None)
        total = p.sum()
        if not total > 0:
            continue
        cdf = np.cumsum(p / total)
        idx = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), p.size - 1)
        ys, xs = np.divmod(idx, ww)
        hx = xs + rng.random(n) - 0.5
        hy = ys + rng.random(n) - 0.5
        ix = a[0, 0] * hx + a[0, 1] * hy + a[0, 2]
        iy = a[1, 0] * hx + a[1, 1] * hy + a[1, 2]
        out[:, i, 0] = (ix - ix.mean()) * scale
        out[:, i, 1] = (iy - iy.mean()) * scale
    return out


def _evaluate(schema: LandmarkSchema, pts: np.ndarray) -> dict[str, np.ndarray]:
    """Every measurement on (N, K, 2) physical points -> name -> (N,) values, NaN where undefined."""
    by_name = {m.name: m for m in schema.measurements}
    values: dict[str, np.ndarray] = {}

    def value(name: str) -> np.ndarray:
        if name in values:
            return values[name]
        m = by_name[name]
        if m.kind == "distance":
            p, q = (pts[:, schema.index(n)] for n in m.points)
            v = np.hypot(*(q - p).T)
        elif m.kind == "angle":
            p0, p1, p2 = (pts[:, schema.index(n)] for n in m.points)
            u, w = p0 - p1, p2 - p1
            cross = u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0]
            dot = (u * w).sum(axis=1)
            ok = (np.hypot(*u.T) > 0) & (np.hypot(*w.T) > 0)
            v = np.where(ok, np.degrees(np.arctan2(np.abs(cross), dot)), np.nan)
        else:
            a, b = value(m.of[0]), value(m.of[1])
            if m.kind == "difference":
                v = a - b
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)
        values[name] = v
        return v

    return {m.name: value(m.name) for m in schema.measurements}


def measure(schema: LandmarkSchema, points: np.ndarray, spacing: tuple[float, float] | None,
            offsets: np.ndarray | None = None, uncertain: np.ndarray | None = None,
            user_sd_px: float = 0.0, seed: int = 0) -> list[MeasurementValue]:
    """Every measurement of ``schema`` with its Monte-Carlo spread.

    points: (K, 2) image px (x, y), NaN rows missing. spacing: (sx, sy) mm/px or None.
    offsets: (N, K, 2) from :func:`heatmap_offsets`, or None (values only).
    uncertain: (K,) bool, the landmarks that take the offsets (default: all);
    the others are fixed, plus an isotropic Gaussian of ``user_sd_px`` when > 0.
    """
    pts = np.asarray(points, dtype=np.float64)
    k = schema.n_landmarks
    if pts.shape != (k, 2):
        raise ValueError(f"points must have shape ({k}, 2), got {pts.shape}")
    scale = np.ones(2) if spacing is None else np.array([float(spacing[0]), float(spacing[1])])
    units = schema.measurement_units(spacing)
    exact = {n: v[0] for n, v in _evaluate(schema, (pts * scale)[None]).items()}
    samples = None
    if offsets is not None:
        off = np.nan_to_num(np.asarray(offsets, dtype=np.float64), nan=0.0)
        mask = np.ones(k, bool) if uncertain is None else np.asarray(uncertain, bool)
        off = off * mask[None, :, None]
        if user_sd_px > 0:
            noise = np.random.default_rng(seed).normal(0.0, user_sd_px, off.shape)
            off = off + noise * (~mask)[None, :, None]
        if mask.any() or user_sd_px > 0:
            samples = _evaluate(schema, (pts[None] + off) * scale)
    out = []
    for m in schema.measurements:
        v = float(exact[m.name])
        value = v if math.isfinite(v) else None
        stats: dict = {}
        if samples is not None and value is not None:
            s = samples[m.name]
            s = s[np.isfinite(s)]
            if s.size >= 2:
                low, high = np.percentile(s, [2.5, 97.5])
                stats = dict(mean=float(s.mean()), sd=float(s.std(ddof=1)), low=float(low), high=float(high))
        out.append(MeasurementValue(m.name, m.label or m.name, m.kind, units[m.name], value, **stats))
    return out


def measure_image(schema: LandmarkSchema, image, prediction=None, n: int = DEFAULT_SAMPLES,
                  seed: int = 0, user_sd_px: float = 0.0) -> list[MeasurementValue]:
    """Measurements of one project image (``ImageRecord``) with its cached prediction (or None)."""
    from core.project import LandmarkState

    offsets = None
    if prediction is not None and n > 0:
        offsets = heatmap_offsets(prediction.heatmaps, prediction.heatmap_to_image, n, seed,
                                  uncertainty_scale(prediction.model_id))
    uncertain = np.array([image.landmarks[name].state == LandmarkState.PREDICTED for name in schema.landmarks])
    return measure(schema, image.positions(), image.spacing, offsets, uncertain, user_sd_px, seed)
