"""A review session with periodic retraining, simulated: does the work get cheaper as it goes?

``anatomark simulate-review … --retrain-every N`` walks a data set in order as a reviewer
would. Each image is predicted by the project's current model and reviewed by the careful
reviewer of :mod:`core.review.effort` (the landmarks beyond the tolerance are moved to the truth, the
others are accepted as predicted); the review is stored in a scratch project exactly as the app
stores it (a correction is ``set_point``, the image is signed off). Every N reviewed images the
project retrains through the same code path as the app and ``anatomark train --project``
(:func:`core.learning.retrain`) and adopts the new version only when its verdict is "better"
(:func:`core.learning.adopt`). The report gives, per block of N images, corrections per image
with the model the session had then and with the starting model on the same images (measured
in the same run), each retrain's verdict and time.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.review.effort import EffortError, Tolerance, review_image
from core.learning.selection import add_sample_image
from core.training.datasets import Sample


def _session_project(folder: Path, path: Path, schema_name: str):
    """A scratch project of ``schema_name`` whose current version is the model file ``path`` (v0 when it
    is the bundled model of that schema, else imported as a version)."""
    from core.learning import ModelRegistry
    from core.project import Project

    project = Project.create(folder / "session.anatomark", schema_name, user="simulated-reviewer")
    registry = ModelRegistry(project.path, schema_name)
    if "v0" not in registry.versions() or registry.path("v0").resolve() != path.resolve():
        record = project.learning
        record["current"] = registry.import_model(path)
        project.set_learning(record, note="simulated session: starting model")
    return project, registry


def _store_review(project, sample: Sample, prediction, corrected: list[int]) -> None:
    """What the app stores for a reviewed image: the prediction, the corrections, the sign-off."""
    image = add_sample_image(project, sample)
    project.store_prediction(image.id, prediction)
    names = project.schema.landmarks
    for k in corrected:
        project.set_point(image.id, names[k], float(sample.points[k, 0]), float(sample.points[k, 1]))
    project.set_verified(image.id, True)


def simulate_session(
    predictor,
    samples: Sequence[Sample],
    tolerance: Tolerance,
    every: int,
    settings=None,
    progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    device: str = "cpu",
) -> dict:
    """Walk ``samples`` in order, retraining every ``every`` reviewed images (see the module docstring).

    ``predictor``: the loaded starting model (``core.inference.Predictor``). ``settings``:
    :class:`core.learning.RetrainSettings` for each retrain (default: the app's fine-tuning).
    Returns ``every``, ``tolerance``, ``blocks`` (per block: ``images`` "a–b", ``n``, ``model``
    (the version that predicted it), ``corrections_per_image`` with it and
    ``baseline_corrections_per_image`` with the starting model), ``retrains`` (after how many
    images, ``version``, ``verdict`` text, ``outcome``, ``adopted``, ``seconds``), and the totals.
    """
    from core.inference import Predictor
    from core.learning import RetrainSettings, adopt, retrain
    from core.learning.active import current_version

    if every < 1:
        raise EffortError(f"--retrain-every must be at least 1, got {every}")
    usable = [s for s in samples if np.isfinite(s.points).all(axis=1).any()]
    if not usable:
        raise EffortError("no ground truth: the images to review have no landmark positions to compare with")
    settings = settings or RetrainSettings(device=device)
    say = progress or (lambda text: None)
    blocks, retrains = [], []
    with tempfile.TemporaryDirectory(prefix="anatomark-session-") as tmp:
        project, registry = _session_project(Path(tmp), predictor.model.path, predictor.schema.name)
        try:
            # The starting version is the loaded model: it predicts its blocks once, for both counts.
            predictors: dict[str, Predictor] = {current_version(project, registry): predictor}
            for start in range(0, len(usable), every):
                if cancel is not None and cancel.is_set():
                    break
                version = current_version(project, registry)
                if version not in predictors:  # an adopted version: keep the starting model for the baseline
                    predictors = {k: v for k, v in predictors.items() if v is predictor}
                    predictors[version] = Predictor(registry.path(version), device)
                current = predictors[version]
                block = usable[start : start + every]
                counts, base_counts = [], []
                for sample in block:
                    prediction = current.predict(sample.image_path, sample.spacing)
                    review = review_image(sample, prediction.points, tolerance, None)
                    counts.append(review.corrections)
                    baseline = review if current is predictor else review_image(
                        sample, predictor.predict(sample.image_path, sample.spacing).points, tolerance, None)
                    base_counts.append(baseline.corrections)
                    _store_review(project, sample, prediction, review.order)
                project.save()
                blocks.append({"images": f"{start + 1}–{start + len(block)}", "n": len(block), "model": version,
                               "corrections_per_image": float(np.mean(counts)),
                               "baseline_corrections_per_image": float(np.mean(base_counts))})
                say(f"images {blocks[-1]['images']}: {np.mean(counts):.2f} corrections per image with {version} "
                    f"({np.mean(base_counts):.2f} with the starting model)")
                if start + every >= len(usable):
                    break
                t0 = time.monotonic()
                result = retrain(project, settings, cancel=cancel)
                outcome = result.verdict.get("outcome")
                adopted = outcome == "better"
                if adopted:
                    adopt(project, result.version, predict=False, device=device)
                retrains.append({"after_images": start + len(block), "version": result.version, "outcome": outcome,
                                 "verdict": result.verdict.get("text"), "adopted": adopted,
                                 "seconds": round(time.monotonic() - t0, 1)})
                say(f"retrained on {start + len(block)} images in {retrains[-1]['seconds']:.0f} s: {result.version} "
                    f"{'adopted' if adopted else 'not adopted'} ({result.verdict.get('text')})")
        finally:
            project.close()
    n = sum(b["n"] for b in blocks)
    total = sum(b["corrections_per_image"] * b["n"] for b in blocks)
    base = sum(b["baseline_corrections_per_image"] * b["n"] for b in blocks)
    return {
        "n_images": n,
        "every": every,
        "tolerance": {"value": tolerance.value, "unit": tolerance.unit},
        "blocks": blocks,
        "retrains": retrains,
        "corrections_per_image": total / n if n else 0.0,
        "baseline_corrections_per_image": base / n if n else 0.0,
        "training_seconds": round(sum(r["seconds"] for r in retrains), 1),
    }
