"""Does an image show what a model marks? The anatomy check (issue 17 item 2).

A model predicts its landmarks on any picture: on a hand, the chest model still draws six lung
points, with confidences that overlap a real chest's. What it cannot do on the wrong anatomy is
put them in the *configuration* of its anatomy. The check compares the predicted points with
the mean shape of the model's training landmarks after the best similarity transform
(Procrustes: position, size and in-plane rotation removed, mirror images not), so it does not
depend on the X-ray unit, the field of view, the pixel size or the tone curve — what differs
between hospitals — only on the anatomy.

The residual ``d`` (0 = the mean shape exactly, 1 = nothing in common) is compared with
``typical``, the largest residual among the training shapes themselves (the card's ``anatomy``
entry, written by ``anatomark calibrate --anatomy``):

- ``d ≤ FITS_WITHIN · typical``: **fits** (predicted points of a real radiograph of that anatomy
  carry the model's errors on top of the anatomy's own variation);
- ``d ≥ MISFIT_BEYOND · typical``: **does not fit**;
- in between: **unsure** (the app asks; the command line warns).

The two factors were chosen on every image we have (user_guide/anatomy_check.md has the
confusion table and the command that makes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.model_card import ModelCard

__all__ = ["FITS_WITHIN", "MISFIT_BEYOND", "AnatomyFit", "anatomy_reference", "check_reference", "fit_of", "fit_to_reference",
           "procrustes_residual"]

FITS_WITHIN = 1.8
MISFIT_BEYOND = 2.4
FITS, UNSURE, MISFIT = "fits", "unsure", "does not fit"


def _normalised(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0)
    norm = np.linalg.norm(centred)
    return centred / norm if norm > 0 else centred


def _rotate_onto(shape: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """``shape`` (normalised) rotated onto ``target`` (normalised), no reflection; and the residual."""
    u, s, vt = np.linalg.svd(target.T @ shape)
    d = 1.0 if np.linalg.det(u @ vt) >= 0 else -1.0
    rotation = u @ np.diag([1.0, d]) @ vt
    overlap = s[0] + d * s[1]
    return shape @ rotation.T, math.sqrt(max(0.0, 1.0 - overlap**2))


def procrustes_residual(points: np.ndarray, mean_shape: np.ndarray) -> float:
    """Distance in [0, 1] between ``points`` (K, 2) and ``mean_shape`` (K, 2) after removing position,
    size and rotation; landmarks missing in ``points`` (NaN) are left out; NaN with fewer than 3."""
    points = np.asarray(points, dtype=np.float64)
    keep = np.isfinite(points).all(axis=1)
    if keep.sum() < 3:
        return float("nan")
    return _rotate_onto(_normalised(points[keep]), _normalised(np.asarray(mean_shape, dtype=np.float64)[keep]))[1]


def anatomy_reference(shapes: list[np.ndarray], source: str) -> dict:
    """The card's ``anatomy`` entry from training landmarks (each (K, 2) px; incomplete ones skipped):
    the generalised-Procrustes mean shape and the largest training residual from it."""
    complete = [np.asarray(s, dtype=np.float64) for s in shapes if np.isfinite(s).all()]
    if len(complete) < 5:
        raise ValueError("an anatomy reference needs at least 5 images with every landmark placed")
    aligned = [_normalised(s) for s in complete]
    mean = aligned[0]
    for _ in range(10):
        aligned = [_rotate_onto(s, mean)[0] for s in aligned]
        new = _normalised(np.mean(aligned, axis=0))
        new, _ = _rotate_onto(new, mean)
        if np.allclose(new, mean, atol=1e-9):
            break
        mean = new
    typical = max(procrustes_residual(s, mean) for s in complete)
    return {"mean_shape": np.round(mean, 6).tolist(), "typical_residual": round(float(typical), 6),
            "n_shapes": len(complete), "source": source}


def check_reference(entry, n_landmarks: int) -> None:
    """ValueError unless ``entry`` is a sound card ``anatomy`` entry for ``n_landmarks`` landmarks."""
    if not isinstance(entry, dict):
        raise ValueError("anatomy must be an object")
    shape = entry.get("mean_shape")
    if not isinstance(shape, list) or len(shape) != n_landmarks or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      and math.isfinite(v) for v in p) for p in shape):
        raise ValueError(f"anatomy.mean_shape must be {n_landmarks} finite [x, y] pairs")
    typical = entry.get("typical_residual")
    if isinstance(typical, bool) or not isinstance(typical, (int, float)) or not 0.0 < typical < 1.0:
        raise ValueError("anatomy.typical_residual must be a number between 0 and 1")


@dataclass(frozen=True)
class AnatomyFit:
    """How well one model's predicted points on one image match its anatomy."""

    model: str
    anatomy: str  # the schema's name, e.g. "ceph19"
    residual: float
    typical: float

    @property
    def ratio(self) -> float:
        return self.residual / self.typical

    @property
    def verdict(self) -> str:
        if not math.isfinite(self.residual) or self.ratio >= MISFIT_BEYOND:
            return MISFIT
        return FITS if self.ratio <= FITS_WITHIN else UNSURE

    @property
    def fits(self) -> bool:
        return self.verdict == FITS

    @property
    def points_phrase(self) -> str:
        """How the predicted points relate to the layout: "match", "only loosely match", "do not match"."""
        return {FITS: "match", UNSURE: "only loosely match", MISFIT: "do not match"}[self.verdict]

    def describe(self) -> str:
        """``"does not fit ceph19: its points are 3.1× as far from a cephalogram's layout as any training image's"``."""
        return (f"{self.verdict} {self.anatomy} (model {self.model}): the predicted points are {self.ratio:.1f}× as far "
                f"from that anatomy's layout as the farthest training image")

    def to_dict(self) -> dict:
        return {"model": self.model, "anatomy": self.anatomy, "verdict": self.verdict,
                "residual": round(self.residual, 4), "ratio": round(self.ratio, 3)}


def fit_to_reference(points: np.ndarray, reference, model: str, anatomy: str) -> AnatomyFit | None:
    """The fit of ``points`` (K, 2) predicted by ``model`` against an ``anatomy`` entry; None when the
    entry is missing or unsound (the check cannot be made)."""
    try:
        check_reference(reference, len(points))
    except ValueError:
        return None
    residual = procrustes_residual(points, np.asarray(reference["mean_shape"], dtype=np.float64))
    return AnatomyFit(model, anatomy, residual, float(reference["typical_residual"]))


def fit_of(points: np.ndarray, card: ModelCard, model: str) -> AnatomyFit | None:
    """The fit of predicted ``points`` (K, 2) for a model with ``card`` (its ``anatomy`` entry)."""
    return fit_to_reference(points, card.anatomy, model, card.schema_name)


def schema_models(folder=None) -> list[str]:
    """The bundled models that stand for an anatomy: each named after its schema (``chest6``,
    ``ceph19``; not variants such as ``chest6-seg``) with a sound ``anatomy`` entry in its card."""
    from core.model_card import list_models

    names = []
    for entry in list_models(folder):
        card = ModelCard.parse(entry, str(entry.get("name", "?")))
        try:
            check_reference(card.anatomy, len(card.landmarks))
        except ValueError:
            continue
        if card.name == card.schema_name:
            names.append(card.name)
    return names


def reference_for_schema(schema_name: str, folder=None) -> dict | None:
    """The ``anatomy`` entry of the bundled model named after ``schema_name``, or None (no such model,
    or its card has none): what images of a project of that schema should look like."""
    from core.model_card import read_model_card
    from core.resources import ModelFileError, models_dir

    path = (folder or models_dir()) / f"{schema_name}.json"
    try:
        card = read_model_card(path)
        check_reference(card.anatomy, len(card.landmarks))
    except (ModelFileError, ValueError, OSError):
        return None
    return card.anatomy


class BundledChooser:
    """Picks the bundled model whose anatomy an image shows (``anatomark predict`` without ``--model``,
    new projects in the app). Each candidate predicts the image; the one whose points fit their anatomy
    best wins if it fits. Predictors are loaded once and kept."""

    def __init__(self, device: str = "auto", decoder: str | None = None, candidates: list[str] | None = None,
                 runtime: str = "auto") -> None:
        self.device, self.decoder, self.runtime = device, decoder, runtime
        self.candidates = schema_models() if candidates is None else list(candidates)
        self._predictors: dict = {}

    def _predictor(self, name: str):
        if name not in self._predictors:
            from core.runtime import open_predictor

            self._predictors[name] = open_predictor(name, self.device, self.decoder, self.runtime)
        return self._predictors[name]

    def choose(self, image, spacing: tuple[float, float] | None = None):
        """(the prediction of the model that fits best, or None when none fits; every candidate's
        fit, best first). ``image``: a Radiograph or a path (decoded once)."""
        from pathlib import Path

        from core.imaging import load_image

        radiograph = load_image(image) if isinstance(image, (str, Path)) else image
        results = []
        for name in self.candidates:
            prediction = self._predictor(name).predict(radiograph, spacing)
            if prediction.anatomy is not None:
                results.append((prediction.anatomy, prediction))
        results.sort(key=lambda r: r[0].ratio)
        fits = [fit for fit, _ in results]
        best = results[0][1] if results and results[0][0].fits else None
        return best, fits


def no_fit_message(fits: list[AnatomyFit]) -> str:
    """One line for an image no bundled model fits, naming the closest."""
    if not fits:
        return "no bundled model fits this image (no bundled model can check its anatomy)"
    closest = fits[0]
    return (f"no bundled model fits this image (the closest, {closest.model}, {closest.verdict}: its points are "
            f"{closest.ratio:.1f}× as far from a {closest.anatomy} layout as the farthest training image's); "
            f"give --model to predict anyway")
