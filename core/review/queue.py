"""The review queue: which images, and which landmarks in them, most need a person, and why.

Four signals per predicted landmark, each from what a project stores:

- **confidence** (uncertainty of the final point): 1 − the model's confidence, the
  probability mass of the patch stage's heatmap near its answer;
- **spread** (uncertainty of the global stage): the spread of the global heatmap (RMS
  distance of its distribution from its mean, :func:`heatmap_spread`), mm with a spacing;
- **disagreement**: how far the model's own stages disagree: the larger of
  |soft-argmax − GNN-refined| and |refined − final| (:func:`stage_disagreement`);
- **priors**: the schema's anatomical priors on the current points
  (:mod:`core.priors`: left/right swap, level order, atypical distances).

Each signal is put on one scale by a robust z-score over every predicted landmark of the
project (median and 1.4826·MAD, reviewed ones included so the scale stays put while a
person works); the score is ``Σ weight · z`` with :data:`WEIGHTS`, chosen on ceph test1
and checked on chest val by ``tests/bench/bench_review.py`` (see
``user_guide/review_queue.md`` for the figures). A landmark a person corrected or
verified (or marked absent) leaves the queue; an image's score is the largest score of
its landmarks still in the queue, and a signed-off image leaves it. A landmark that breaks
a left/right or level-order rule goes first whatever its score: it is certainly wrong,
where the signals only say "likely".

Typical distances come from the project's reviewed images once :data:`MIN_REFERENCE`
images have every landmark reviewed, else from the current points of every predicted
image (robust statistics: most predictions are close), else only the schema's
conventions are checked. No Qt here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.uncertainty.conformal import heatmap_covariance
from core.priors import ShapeReference, check_priors
from core.project import LandmarkState

__all__ = ["MIN_REFERENCE", "SIGNALS", "WEIGHTS", "ImageItem", "LandmarkItem", "ReviewQueue",
           "covariance_spread", "heatmap_spread", "robust_z", "score_signals", "stage_disagreement"]

SIGNALS = ("confidence", "spread", "disagreement", "priors")
#: Weights of the robust z-scores: the best of a 0/0.5/1/2 grid on ceph test1 (points and
#: images found, ``tests/bench/bench_review.py``). Disagreement adds nothing there beyond
#: the confidence (which already sees the final stage) and gets 0: it stays computed and
#: shown in the tooltips' values, and callers may weight it.
WEIGHTS = {"confidence": 2.0, "spread": 0.5, "disagreement": 0.0, "priors": 0.5}
#: Images with every landmark reviewed needed before they define the typical distances.
MIN_REFERENCE = 10
#: A signal whose weighted z-score reaches this is named in the reason.
NOTABLE_Z = 2.0
_REVIEWED = frozenset({LandmarkState.CORRECTED, LandmarkState.VERIFIED, LandmarkState.ABSENT})


def heatmap_spread(heatmaps: np.ndarray, heatmap_to_image: np.ndarray,
                   spacing: tuple[float, float] | None = None) -> np.ndarray:
    """(K,) RMS distance of each heatmap's distribution from its mean, image px (mm with ``spacing``).

    heatmaps: (K, h, w) non-negative (normalised here); heatmap_to_image: (2, 3).
    The square root of the trace of :func:`core.uncertainty.conformal.heatmap_covariance`; NaN for an empty map.
    """
    return covariance_spread(heatmap_covariance(heatmaps, heatmap_to_image), spacing)


def covariance_spread(cov: np.ndarray, spacing: tuple[float, float] | None = None) -> np.ndarray:
    """(K,) RMS spread from (K, 2, 2) image px² covariances, px (mm with ``spacing``)."""
    s = np.ones(2) if spacing is None else np.asarray(spacing, dtype=np.float64)
    return np.sqrt(np.clip(cov[:, 0, 0] * s[0] ** 2 + cov[:, 1, 1] * s[1] ** 2, 0.0, None))


def stage_disagreement(soft_argmax: np.ndarray, refined: np.ndarray, points: np.ndarray,
                       spacing: tuple[float, float] | None = None) -> np.ndarray:
    """(K,) larger of |soft-argmax − refined| and |refined − final|, px (mm with ``spacing``)."""
    s = np.ones(2) if spacing is None else np.asarray(spacing, dtype=np.float64)
    soft, ref, fin = (np.asarray(a, dtype=np.float64) * s for a in (soft_argmax, refined, points))
    return np.maximum(np.linalg.norm(soft - ref, axis=-1), np.linalg.norm(ref - fin, axis=-1))


def robust_z(values: np.ndarray) -> np.ndarray:
    """``(values − median) / scale`` over the finite values, NaN staying NaN.

    ``scale`` is 1.4826·MAD (the SD for normal data), at least a tenth of the median's
    size (differences smaller than that are noise, not a reason to review), and 1 (the
    signal's own unit) when both are zero (every value the same).
    """
    v = np.asarray(values, dtype=np.float64)
    p = v.ravel()[np.isfinite(v.ravel())]
    if p.size == 0:
        return np.zeros_like(v)
    med = float(np.median(p))
    scale = max(1.4826 * float(np.median(np.abs(p - med))), 0.1 * abs(med))
    return (v - med) / (scale if scale > 0 else 1.0)


def score_signals(raw: dict[str, np.ndarray], weights: dict[str, float] | None = None
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Combined scores (N, K) and each signal's robust z (N, K) from raw signals ``name -> (N, K)``.

    The z-scores are taken over every value given (all predicted landmarks of the
    project); NaN (no value) counts as typical (0). ``weights`` default to :data:`WEIGHTS`.
    """
    weights = WEIGHTS if weights is None else weights
    z = {s: np.nan_to_num(robust_z(v)) for s, v in raw.items()}
    total = sum(weights.get(s, 0.0) * v for s, v in z.items())
    return np.asarray(total, dtype=np.float64), z


@dataclass(frozen=True)
class LandmarkItem:
    """One landmark waiting for review: its combined ``score``, the ``signals`` (raw values) and why."""

    image_id: str
    name: str
    score: float
    reason: str
    signals: dict[str, float] = field(default_factory=dict)
    broken: bool = False

    @property
    def rank(self) -> tuple[bool, float]:
        """Sort key, largest first: a broken anatomical rule, then the score."""
        return self.broken, self.score

    @property
    def suspect(self) -> bool:
        """Worth a look before signing the image off: it breaks an anatomical rule, or its combined
        score reaches :data:`NOTABLE_Z` (as unusual as one strong signal)."""
        return self.broken or self.score >= NOTABLE_Z


@dataclass(frozen=True)
class ImageItem:
    """One image waiting for review; ``landmarks`` are its queued landmarks, most urgent first."""

    image_id: str
    score: float
    landmarks: tuple[LandmarkItem, ...]

    @property
    def rank(self) -> tuple[bool, float]:
        return any(m.broken for m in self.landmarks), self.score

    @property
    def reason(self) -> str:
        return self.landmarks[0].reason if self.landmarks else ""

    @property
    def suspects(self) -> tuple[LandmarkItem, ...]:
        """The image's queued landmarks that are :attr:`LandmarkItem.suspect`, most urgent first."""
        return tuple(m for m in self.landmarks if m.suspect)


@dataclass
class _Signals:
    key: tuple
    confidence: np.ndarray
    spread: np.ndarray
    disagreement: np.ndarray


class ReviewQueue:
    """Images and landmarks of a project ordered by how much they need a person.

    Call :meth:`update` after predictions or landmark states change; it recomputes the
    priors and the order (milliseconds). It reads no heatmaps or masks: the spread comes from
    the heatmap covariance stored with each prediction (``Project.prediction_covariance``).
    """

    def __init__(self, weights: dict[str, float] | None = None, min_reference: int = MIN_REFERENCE) -> None:
        self.weights = dict(WEIGHTS if weights is None else weights)
        self.min_reference = min_reference
        self.items: list[ImageItem] = []
        self.reference: ShapeReference | None = None
        self._signals: dict[str, _Signals] = {}

    def update(self, project, calibration: Callable[[str], object | None] | None = None) -> list[ImageItem]:
        """Rebuild the queue of ``project`` (a ``core.project.Project``); returns :attr:`items`.

        ``calibration(model_id)``: the project's own conformal calibration of that model
        (``core.learning.recalibration``), or None. With one, a landmark's spread is its calibrated
        region's size (the spread × that landmark's quantile): a landmark the model has got wrong
        more often on this project's reviews weighs more (``tests/bench/bench_recalibration.py``).
        """
        schema = project.schema
        images = [im for im in project.images if self._load(project, im, calibration) is not None]
        self._signals = {im.id: self._signals[im.id] for im in images}
        self.reference = self._reference(project, images)
        unit = {im.id: "mm" if im.spacing else "px" for im in images}
        checks = [check_priors(schema, _physical(im.positions(), im.spacing), self.reference, unit[im.id])
                  for im in images]
        raw = {
            "confidence": [self._signals[im.id].confidence for im in images],
            "spread": [self._signals[im.id].spread for im in images],
            "disagreement": [self._signals[im.id].disagreement for im in images],
            "priors": [c.scores for c in checks],
        }
        raw = {s: np.stack(v) if v else np.zeros((0, schema.n_landmarks)) for s, v in raw.items()}
        scores, z = score_signals(raw, self.weights)
        items = []
        for i, im in enumerate(images):
            if im.verified:
                continue
            marks = []
            for k, name in enumerate(schema.landmarks):
                if im.landmarks[name].state != LandmarkState.PREDICTED:
                    continue
                values = {s: float(raw[s][i, k]) for s in SIGNALS}
                weighted = {s: self.weights.get(s, 0.0) * float(z[s][i, k]) for s in SIGNALS}
                reason = _reason(weighted, values, checks[i].reasons[k], unit[im.id])
                marks.append(LandmarkItem(im.id, name, float(scores[i, k]), reason, values,
                                          bool(checks[i].broken[k])))
            if marks:
                marks.sort(key=lambda m: m.rank, reverse=True)
                items.append(ImageItem(im.id, max(m.score for m in marks), tuple(marks)))
        items.sort(key=lambda it: it.rank, reverse=True)
        self.items = items
        return items

    def first(self) -> LandmarkItem | None:
        """The most urgent landmark, or None when nothing waits."""
        return self.items[0].landmarks[0] if self.items else None

    def image(self, image_id: str) -> ImageItem | None:
        return next((it for it in self.items if it.image_id == image_id), None)

    def _load(self, project, image, calibration: Callable[[str], object | None] | None = None) -> _Signals | None:
        stamp = project.prediction_stamp(image.id)
        if stamp is None:
            return None
        own = calibration(str(stamp[0])) if calibration is not None else None
        quantiles = None if own is None else np.asarray(own.quantiles, dtype=np.float64)
        key = (*stamp, image.spacing, None if quantiles is None else tuple(quantiles.round(6)))
        old = self._signals.get(image.id)
        if old is not None and old.key == key:
            return old
        # The small arrays and the stored heatmap covariance: no heatmaps or masks are read.
        prediction = project.prediction(image.id, heatmaps=False)
        spread = covariance_spread(project.prediction_covariance(image.id), image.spacing)
        if quantiles is not None and quantiles.shape == spread.shape:
            spread = spread * np.where(np.isfinite(quantiles), quantiles, 1.0)
        sig = _Signals(
            key,
            1.0 - np.asarray(prediction.confidence, dtype=np.float64),
            spread,
            stage_disagreement(prediction.soft_argmax, prediction.refined, prediction.points, image.spacing),
        )
        self._signals[image.id] = sig
        return sig

    def _reference(self, project, images) -> ShapeReference | None:
        done = [im for im in project.images
                if im.verified or all(r.state in _REVIEWED for r in im.landmarks.values())]
        if len(done) >= self.min_reference:
            chosen, source = done, f"{len(done)} reviewed images"
        elif len(images) >= self.min_reference:
            chosen, source = images, f"the current points of {len(images)} predicted images"
        else:
            return None
        pts = np.stack([_physical(im.positions(), im.spacing) for im in chosen])
        return ShapeReference.from_points(project.schema, pts, source)


def _physical(points: np.ndarray, spacing: tuple[float, float] | None) -> np.ndarray:
    return points if spacing is None else points * np.asarray(spacing, dtype=np.float64)


def _reason(weighted: dict[str, float], values: dict[str, float], prior: str | None, unit: str) -> str:
    """The signals that put a landmark high, strongest first: ``"low confidence 0.21; A and B swapped"``.

    ``weighted``: weight × robust z per signal. Named: those of at least :data:`NOTABLE_Z`;
    without one, the strongest if it is at least 1 (mildly unusual), else "nothing unusual".
    """
    texts = {
        "confidence": f"low confidence {1.0 - values['confidence']:.2f}",
        "spread": f"heatmap spread {values['spread']:.1f} {unit}",
        "disagreement": f"model stages disagree by {values['disagreement']:.1f} {unit}",
        "priors": prior,
    }
    order = [s for s in sorted(SIGNALS, key=lambda s: -weighted[s]) if texts[s] and weighted[s] >= 1.0]
    notable = [s for s in order if weighted[s] >= NOTABLE_Z]
    return "; ".join(texts[s] for s in (notable or order[:1])) or "nothing unusual"
