"""Reviewer effort: corrections per image, simulated on data with ground truth (DESIGN.md 1).

A careful reviewer looks at the model's points and moves the landmark with the largest error
beyond a tolerance to its true place: that is one *correction*. In **assisted** review the
model then re-predicts every landmark not yet corrected, with the corrected ones pinned
(:class:`core.repredict.Repredictor`), and the reviewer looks again; a landmark that the
re-prediction moves out of tolerance needs a correction too. In **manual** review nothing
is re-predicted, so the count is the number of landmarks beyond tolerance. The reviewer
stops when every landmark with a ground truth is within tolerance.

Besides the counts, the *curve* follows Kim et al. (MICCAI 2022): the mean radial error of
all landmarks after 0, 1, … 5 corrections of the worst landmark, whatever the tolerance.

The simulator talks to a :class:`ReviewModel` (predict, re-predict with pins), so tests can
drive it with generated cases of known errors; :class:`PredictorReviewModel` is the real one.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from core.training.datasets import Sample

CURVE_STEPS = 5  # corrections on the curve after the model's own answer (Kim et al.'s format)
UNITS = ("mm", "px")


class EffortError(ValueError):
    """Input the simulator cannot use (no ground truth, no spacing for mm, tolerance ≤ 0); one line."""


@dataclass(frozen=True)
class Tolerance:
    """How far from the truth a landmark may be and still be left alone."""

    value: float
    unit: str  # "mm" or "px"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise EffortError(f"tolerance unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if not np.isfinite(self.value) or self.value <= 0:
            raise EffortError(f"the tolerance must be a positive number of {self.unit}, got {self.value:g}")

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


class ReviewModel(Protocol):
    """What the simulator needs of a model: its points for an image, and again with pins.

    ``repredict`` gets the pinned landmarks {index: (x, y) image px} and the points shown
    before (K, 2); it returns all K points, the pinned ones at their pins.
    """

    def predict(self, sample: Sample) -> np.ndarray: ...

    def repredict(self, sample: Sample, pinned: Mapping[int, np.ndarray], previous: np.ndarray) -> np.ndarray: ...


def landmark_errors(points: np.ndarray, truth: np.ndarray, spacing: tuple[float, float] | None, unit: str) -> np.ndarray:
    """(K,) distance of each point to its truth in ``unit``; NaN where the truth is missing."""
    delta = np.asarray(points, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    if unit == "mm":
        if spacing is None:
            raise EffortError("a tolerance in mm needs the images' pixel spacing; this data set has none (use --tolerance-px)")
        delta = delta * np.asarray(spacing, dtype=np.float64)
    return np.linalg.norm(delta, axis=1)


@dataclass
class ImageReview:
    """One image reviewed one way: how many corrections, in which order, what they did."""

    corrections: int
    order: list[int]
    #: per correction: mean error change (after − before, tolerance unit) of the landmarks not pinned
    neighbour_change: list[float] = field(default_factory=list)
    #: landmarks within tolerance that a re-prediction moved out of it
    pushed_out: int = 0


def review_image(
    sample: Sample,
    initial: np.ndarray,
    tolerance: Tolerance,
    repredict: Callable[[Mapping[int, np.ndarray], np.ndarray], np.ndarray] | None,
) -> ImageReview:
    """Play the careful reviewer on one image; ``repredict`` None is manual review."""
    truth = sample.points
    known = np.isfinite(truth).all(axis=1)
    current = np.array(initial, dtype=np.float64)
    pinned: dict[int, np.ndarray] = {}
    review = ImageReview(0, [])
    for _ in range(int(known.sum())):  # each correction pins one more landmark exactly: ≤ K steps
        err = landmark_errors(current, truth, sample.spacing, tolerance.unit)
        beyond = known & (err > tolerance.value)
        if not beyond.any():
            break
        k = int(np.nanargmax(np.where(beyond, err, -np.inf)))
        pinned[k] = truth[k].copy()
        review.corrections += 1
        review.order.append(k)
        current[k] = truth[k]
        if repredict is None:
            continue
        before = landmark_errors(current, truth, sample.spacing, tolerance.unit)
        current = np.array(repredict(dict(pinned), current.copy()), dtype=np.float64)
        for j, xy in pinned.items():
            current[j] = xy
        after = landmark_errors(current, truth, sample.spacing, tolerance.unit)
        free = known & ~np.isin(np.arange(len(truth)), list(pinned))
        if free.any():
            review.neighbour_change.append(float(np.mean(after[free] - before[free])))
        review.pushed_out += int(np.sum(free & (before <= tolerance.value) & (after > tolerance.value)))
    return review


def correction_curve(
    sample: Sample,
    initial: np.ndarray,
    unit: str,
    repredict: Callable[[Mapping[int, np.ndarray], np.ndarray], np.ndarray] | None,
    steps: int = CURVE_STEPS,
) -> np.ndarray:
    """(steps + 1,) MRE of the image's landmarks after 0 … ``steps`` corrections of the worst one
    (Kim et al.'s protocol: no tolerance, the largest error is always corrected next)."""
    truth = sample.points
    known = np.isfinite(truth).all(axis=1)
    current = np.array(initial, dtype=np.float64)
    pinned: dict[int, np.ndarray] = {}
    curve = [float(np.nanmean(landmark_errors(current, truth, sample.spacing, unit)[known]))]
    for _ in range(steps):
        err = landmark_errors(current, truth, sample.spacing, unit)
        free = known & ~np.isin(np.arange(len(truth)), list(pinned))
        if free.any():
            k = int(np.nanargmax(np.where(free, err, -np.inf)))
            pinned[k] = truth[k].copy()
            current[k] = truth[k]
            if repredict is not None:
                current = np.array(repredict(dict(pinned), current.copy()), dtype=np.float64)
                for j, xy in pinned.items():
                    current[j] = xy
        curve.append(float(np.nanmean(landmark_errors(current, truth, sample.spacing, unit)[known])))
    return np.array(curve)


def _mode_summary(reviews: list[ImageReview], curves: list[np.ndarray]) -> dict:
    counts = np.array([r.corrections for r in reviews], dtype=np.float64)
    return {
        "corrections_per_image": float(counts.mean()) if len(counts) else 0.0,
        "corrections": int(counts.sum()),
        "images_without_corrections": int(np.sum(counts == 0)),
        "curve": [round(float(v), 4) for v in np.mean(curves, axis=0)] if curves else [],
    }


def simulate_review(
    model: ReviewModel,
    samples: Sequence[Sample],
    tolerance: Tolerance,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Corrections per image, manual and assisted, over ``samples`` (see the module docstring).

    Returns ``n_images``, ``tolerance`` {value, unit}, ``manual`` and ``assisted`` (each
    ``corrections_per_image``, ``corrections``, ``images_without_corrections`` and ``curve``:
    MRE in the tolerance's unit after 0…5 corrections), ``ratio`` (assisted / manual
    corrections; None when manual review needs none), for assisted review the mean change of
    the unpinned landmarks' error per correction (``neighbour_change``, negative = they came
    closer) and how many landmarks re-prediction pushed out of tolerance, the median
    re-prediction time, and ``per_image`` {id, manual, assisted}.
    """
    usable = [s for s in samples if np.isfinite(s.points).all(axis=1).any()]
    if not usable:
        raise EffortError("no ground truth: the images to review have no landmark positions to compare with")
    if tolerance.unit == "mm":
        missing = [s.id for s in usable if s.spacing is None]
        if missing:
            raise EffortError(f"a tolerance in mm needs pixel spacing; image {missing[0]} has none (use --tolerance-px)")
    manual: list[ImageReview] = []
    assisted: list[ImageReview] = []
    curves: dict[str, list[np.ndarray]] = {"manual": [], "assisted": []}
    times: list[float] = []
    for i, sample in enumerate(usable):
        if cancel is not None and cancel.is_set():
            break
        initial = np.asarray(model.predict(sample), dtype=np.float64)

        def timed(pinned: Mapping[int, np.ndarray], previous: np.ndarray, sample: Sample = sample) -> np.ndarray:
            t0 = time.perf_counter()
            out = model.repredict(sample, pinned, previous)
            times.append((time.perf_counter() - t0) * 1e3)
            return out

        manual.append(review_image(sample, initial, tolerance, None))
        assisted.append(review_image(sample, initial, tolerance, timed))
        curves["manual"].append(correction_curve(sample, initial, tolerance.unit, None))
        curves["assisted"].append(correction_curve(sample, initial, tolerance.unit, timed))
        if progress is not None:
            progress(i + 1, len(usable))
    result = {
        "n_images": len(manual),
        "tolerance": {"value": tolerance.value, "unit": tolerance.unit},
        "manual": _mode_summary(manual, curves["manual"]),
        "assisted": _mode_summary(assisted, curves["assisted"]),
    }
    m, a = result["manual"]["corrections"], result["assisted"]["corrections"]
    result["ratio"] = round(a / m, 4) if m else None
    changes = [c for r in assisted for c in r.neighbour_change]
    result["assisted"]["neighbour_change"] = round(float(np.mean(changes)), 4) if changes else 0.0
    result["assisted"]["pushed_out"] = int(sum(r.pushed_out for r in assisted))
    result["repredict_ms_median"] = round(statistics.median(times), 1) if times else None
    result["per_image"] = [
        {"id": s.id, "manual": mr.corrections, "assisted": ar.corrections} for s, mr, ar in zip(usable, manual, assisted)
    ]
    return result


class PredictorReviewModel:
    """:class:`ReviewModel` over a loaded :class:`core.inference.Predictor` and its
    :class:`core.repredict.Repredictor`; each image is loaded and run through the global
    stage once, re-predictions reuse its cached outputs as the app does."""

    def __init__(self, predictor, repredictor=None) -> None:
        from core.repredict import Repredictor

        self.predictor = predictor
        self.repredictor = repredictor or Repredictor(predictor, cache_size=1)
        self._image: tuple[str, object] | None = None
        self._base: np.ndarray | None = None

    def _radiograph(self, sample: Sample):
        from core.imaging import load_image

        if self._image is None or self._image[0] != sample.id:
            radiograph = load_image(sample.image_path)
            if sample.spacing:  # the data set's spacing (its table) wins, as in Predictor.predict
                radiograph = replace(radiograph, spacing=sample.spacing)
            self._image = (sample.id, radiograph)
        return self._image[1]

    def predict(self, sample: Sample) -> np.ndarray:
        self._base = self.predictor.predict(self._radiograph(sample)).points
        return self._base

    def repredict(self, sample: Sample, pinned: Mapping[int, np.ndarray], previous: np.ndarray) -> np.ndarray:
        names = self.predictor.schema.landmarks
        result = self.repredictor.repredict(
            self._radiograph(sample), {names[k]: tuple(map(float, xy)) for k, xy in pinned.items()}, key=sample.id, previous=self._base
        )
        out = np.array(previous, dtype=np.float64)
        for k, name in enumerate(names):
            if name in result.points:
                out[k] = result.points[name]
        return out
