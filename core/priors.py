"""Anatomical priors of a schema, checked on one image's points: left/right, level order, distances.

Three checks, each giving a per-landmark score and a reason a person can read:

- **Left/right**: a pair is (patient's right, patient's left). Radiographs are shown in
  the radiological convention (the patient's right on the viewer's left), so the right
  member is expected at the smaller x. A reference set (below) overrides the convention
  per pair when it shows the other side in most images (a lateral or flipped view).
- **Level order**: ``levels`` run top to bottom, so every landmark of a level is expected
  above (smaller y than) every landmark of the next level. With a reference set only
  the relations that hold in at least :data:`ORDER_AGREEMENT` of its images are checked.
- **Distances**: log pairwise distances against a reference set's robust statistics
  (median and MAD per pair), after removing the image's own scale (the median offset
  over all pairs: patient size and magnification). A landmark's score is the median
  over its partners of the absolute robust z-score: a misplaced landmark is far from
  typical to most partners, a good one only to the misplaced one.

Reference set: typical positions from other images (:meth:`ShapeReference.from_points`),
in mm where the spacing is known. ``core.review.queue`` chooses which images. Without one,
only the schema conventions (left/right, every level relation) are checked.
Points are (x, y) image pixels or mm, y down (ADR 0001). No Qt here.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np

from core.schema import LandmarkSchema

__all__ = ["MIN_SD", "ORDER_AGREEMENT", "VIOLATION_Z", "PriorCheck", "ShapeReference", "check_priors"]

#: A swapped pair or a broken level order scores as a distance this many robust SDs off.
VIOLATION_Z = 6.0
#: Share of reference images a left/right or order relation must hold in to be checked.
ORDER_AGREEMENT = 0.95
#: Floor of a log-distance SD (5 %): keeps near-constant distances from flagging noise.
MIN_SD = 0.05
_MAD = 1.4826  # MAD -> SD for a normal distribution


@dataclass(frozen=True)
class ShapeReference:
    """Typical geometry of a schema's landmarks over ``n`` images.

    ``log_mean``/``log_sd`` (K, K): robust mean (median) and SD (1.4826 MAD, at
    least :data:`MIN_SD`) of each pairwise log distance after removing each image's
    scale; NaN where fewer than 3 images have both landmarks. ``right_is_left``
    (P,) bool per pair: the patient's right member lies at smaller x (None: too few
    images to tell, the convention holds). ``order`` lists (upper, lower) index
    relations of consecutive levels that hold in the reference. ``source`` says
    where it came from ("12 reviewed images").
    """

    n: int
    log_mean: np.ndarray
    log_sd: np.ndarray
    right_is_left: tuple[bool | None, ...]
    order: tuple[tuple[int, int], ...]
    source: str = ""

    @classmethod
    def from_points(cls, schema: LandmarkSchema, points: np.ndarray, source: str = "") -> ShapeReference:
        """Statistics of ``points`` (N, K, 2) (x, y), NaN rows for absent landmarks."""
        pts = np.asarray(points, dtype=np.float64)
        n, k = pts.shape[0], schema.n_landmarks
        logd = _log_distances(pts)  # (N, K, K)
        with _quiet():
            raw = _nanmedian(logd, axis=0) if n else np.full((k, k), np.nan)
            scale = _nanmedian((logd - raw).reshape(n, -1), axis=1) if n else np.zeros(0)
            logd = logd - np.nan_to_num(scale)[:, None, None]
            counts = np.isfinite(logd).sum(axis=0)
            mean = _nanmedian(logd, axis=0)
            sd = np.maximum(_MAD * _nanmedian(np.abs(logd - mean), axis=0), MIN_SD)
        mean[counts < 3] = np.nan
        sd[counts < 3] = np.nan
        sides = []
        for r, l in schema.pairs:
            dx = pts[:, l, 0] - pts[:, r, 0]
            dx = dx[np.isfinite(dx)]
            share = float((dx > 0).mean()) if dx.size >= 3 else 0.5
            sides.append(True if share >= ORDER_AGREEMENT else False if share <= 1 - ORDER_AGREEMENT else None)
        order = []
        for a, b in _level_relations(schema):
            dy = pts[:, b, 1] - pts[:, a, 1]
            dy = dy[np.isfinite(dy)]
            if dy.size >= 3 and (dy > 0).mean() >= ORDER_AGREEMENT:
                order.append((a, b))
        return cls(n, mean, sd, tuple(sides), tuple(order), source)


@dataclass(frozen=True)
class PriorCheck:
    """Per landmark: score (K,) (robust-z units, 0 = typical), ``broken`` (K,) bool (a left/right
    or level-order rule fails: certainly wrong, not just unusual) and reason (None = nothing to say)."""

    scores: np.ndarray
    broken: np.ndarray
    reasons: tuple[str | None, ...]


@contextlib.contextmanager
def _quiet():
    """Silence numpy's all-NaN slice warnings (an absent landmark is not a problem here)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _nanmedian(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median along ``axis`` ignoring NaN (NaN where all are NaN); numpy's is ~20x slower on small rows."""
    b = np.sort(np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1), axis=-1)  # NaN sort last
    n = np.isfinite(b).sum(axis=-1)
    lo = np.take_along_axis(b, np.maximum((n - 1) // 2, 0)[..., None], -1)[..., 0]
    hi = np.take_along_axis(b, np.minimum(n // 2, b.shape[-1] - 1)[..., None], -1)[..., 0]
    return np.where(n > 0, (lo + hi) / 2, np.nan)


def _log_distances(pts: np.ndarray) -> np.ndarray:
    """(..., K, 2) -> (..., K, K) log distances, NaN on the diagonal and for missing points."""
    d = np.linalg.norm(pts[..., :, None, :] - pts[..., None, :, :], axis=-1)
    with np.errstate(divide="ignore"):
        out = np.log(d)
    out[..., ~np.isfinite(out)] = np.nan
    idx = np.arange(pts.shape[-2])
    out[..., idx, idx] = np.nan
    return out


def _level_relations(schema: LandmarkSchema) -> list[tuple[int, int]]:
    return [(a, b) for upper, lower in zip(schema.levels, schema.levels[1:]) for a in upper for b in lower if a != b]


def check_priors(schema: LandmarkSchema, points: np.ndarray, reference: ShapeReference | None = None,
                 unit: str = "px") -> PriorCheck:
    """Scores and reasons for one image's ``points`` (K, 2) (x, y; NaN rows missing), in ``unit``."""
    pts = np.asarray(points, dtype=np.float64)
    k = schema.n_landmarks
    names = schema.landmarks
    scores = np.zeros(k)
    broken = np.zeros(k, bool)
    reasons: list[list[tuple[float, str]]] = [[] for _ in range(k)]
    if reference is not None and reference.n >= 3:
        z, worst = _distance_z(pts, reference)
        for i in range(k):
            if np.isfinite(z[i]) and z[i] > 0:
                scores[i] = z[i]
                j, got, typical = worst[i]
                reasons[i].append((z[i], f"atypical distances (to {names[j]}: {got:.0f} {unit}, typical {typical:.0f})"))
    for p, (r, l) in enumerate(schema.pairs):
        expect = reference.right_is_left[p] if reference is not None else True
        dx = pts[l, 0] - pts[r, 0]
        if expect is not None and np.isfinite(dx) and (dx > 0) != expect:
            text = f"{names[r]} and {names[l]} swapped (left/right)"
            for i in (r, l):
                scores[i] = max(scores[i], VIOLATION_Z)
                broken[i] = True
                reasons[i].append((VIOLATION_Z + 0.2, text))
    order = reference.order if reference is not None else _level_relations(schema)
    for a, b in order:
        if pts[b, 1] < pts[a, 1]:
            text = f"{names[a]} below {names[b]} (level order)"
            for i in (a, b):
                scores[i] = max(scores[i], VIOLATION_Z)
                broken[i] = True
                reasons[i].append((VIOLATION_Z + 0.1, text))
    return PriorCheck(scores, broken, tuple(max(r)[1] if r else None for r in reasons))


def _distance_z(pts: np.ndarray, ref: ShapeReference) -> tuple[np.ndarray, list[tuple[int, float, float]]]:
    """Per landmark: median |robust z| of its log distances, and (partner, distance, typical) of the worst."""
    logd = _log_distances(pts)
    with _quiet():
        scale = _nanmedian((logd - ref.log_mean).ravel(), axis=0)
        if not np.isfinite(scale):
            scale = 0.0
        z = np.abs(logd - scale - ref.log_mean) / ref.log_sd
        med = _nanmedian(z, axis=1)
    worst = []
    for i in range(len(pts)):
        row = np.where(np.isfinite(z[i]), z[i], -1.0)
        j = int(np.argmax(row))
        worst.append((j, float(np.exp(logd[i, j])), float(np.exp(ref.log_mean[i, j] + scale))))
    return med, worst
