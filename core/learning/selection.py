"""Training data from provenance, and the locked validation subset.

An image is *reviewed* when a person signed it off (``verified``) or when every
one of its landmarks is CORRECTED, VERIFIED or ABSENT. Only reviewed images
ever train or validate a model: an image with a single PREDICTED (or MISSING)
landmark left is not training data, so a model never learns from its own
unreviewed output (SLEAP #273). ABSENT and MISSING landmarks become NaN
points, which the losses and metrics mask out.

The validation subset is chosen once, from the reviewed images, stratified by
how far the reviewer moved the model's points (easy and hard images in the
same proportion), and recorded in the project (``Project.learning["val_ids"]``);
later runs reuse it, so every model is measured on the same images. Images
reviewed later join the training set, never the validation subset.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from core.project import ImageRecord, Project
from core.training.datasets import Sample

__all__ = ["VAL_FRACTION", "is_reviewed", "locked_validation", "review_points", "sample_of", "training_split"]

VAL_FRACTION = 0.2  # of the reviewed images when the subset is first chosen
MIN_TRAIN = 2  # the subset never takes so many that fewer than this are left to train on
# At least this many validation images once that leaves twice as many to train on (15+ reviewed):
# verdict.judge calls fewer than verdict.MIN_IMAGES "inconclusive" whatever they show, so 20 %
# of 20 images (4) could never give a "better" (user_guide/retraining.md, "The locked validation subset").
MIN_VAL = 5


def is_reviewed(image: ImageRecord) -> bool:
    """True when a person has signed the image off or reviewed every landmark (``ImageRecord.reviewed``)."""
    return image.reviewed


def review_points(image: ImageRecord, names: tuple[str, ...]) -> np.ndarray:
    """(K, 2) reviewed positions in image pixels (x, y); NaN for ABSENT/MISSING (masked in training)."""
    points = np.full((len(names), 2), np.nan)
    for k, name in enumerate(names):
        lm = image.landmarks[name]
        if lm.state.has_position:
            points[k] = (lm.x, lm.y)
    return points


def sample_of(image: ImageRecord, names: tuple[str, ...]) -> Sample:
    """A training :class:`Sample` from a reviewed image (id = the project's image id)."""
    return Sample(id=image.id, image_path=Path(image.path), points=review_points(image, names), spacing=image.spacing)


def _difficulty(image: ImageRecord) -> float:
    """Mean distance (px) the reviewer moved the model's points; 0 when nothing was moved."""
    moves = [math.hypot(lm.x - lm.original[0], lm.y - lm.original[1])
             for lm in image.landmarks.values() if lm.original is not None and lm.state.has_position]
    return float(np.mean(moves)) if moves else 0.0


def _choose(reviewed: list[ImageRecord], fraction: float) -> list[str]:
    """Stratified pick: sort by difficulty, take one image from each of ``n`` equal strata (middle one)."""
    n = max(1, round(len(reviewed) * fraction))
    if len(reviewed) >= 3 * MIN_VAL:
        n = max(n, MIN_VAL)
    n = min(n, len(reviewed) - MIN_TRAIN)
    if n <= 0:
        return []
    ordered = sorted(reviewed, key=lambda im: (_difficulty(im), im.id))
    edges = np.linspace(0, len(ordered), n + 1)
    return sorted(ordered[int((edges[i] + edges[i + 1]) // 2)].id for i in range(n))


def locked_validation(project: Project, fraction: float = VAL_FRACTION) -> list[str]:
    """The project's locked validation image ids, choosing (and recording) them on first use.

    Chosen once there are at least ``MIN_TRAIN + 1`` reviewed images; until then
    ``[]`` (runs then report training-set metrics, and say so). Recording it
    marks the project dirty: the caller saves. A read-only project gets the
    choice without recording it.
    """
    record = project.learning
    if record.get("val_ids"):
        return list(record["val_ids"])
    reviewed = [im for im in project.images if is_reviewed(im)]
    ids = _choose(reviewed, fraction)
    if ids and not project.read_only:
        record["val_ids"] = ids
        project.set_learning(record, note=f"locked validation subset: {len(ids)} images")
    return ids


def training_split(project: Project) -> tuple[list[Sample], list[Sample]]:
    """(train, val) samples: reviewed images outside / inside the locked validation subset.

    Validation images that are no longer reviewed (a verification taken back)
    or were removed are left out of both.
    """
    names = project.schema.landmarks
    val_ids = set(locked_validation(project))
    train, val = [], []
    for image in project.images:
        if not is_reviewed(image):
            continue
        (val if image.id in val_ids else train).append(sample_of(image, names))
    return train, val
