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
reviewed later join the training set; while the subset is smaller than the
reviewed images call for, a retraining run first tops it up from the newly
reviewed images that no version has trained on (:func:`locked_validation`).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path

import numpy as np

from core.project import ImageRecord, Project
from core.training.datasets import Sample

__all__ = ["VAL_FRACTION", "accepted_points", "add_sample_image", "images_to_settle", "is_reviewed", "prepare_validation", "locked_validation", "review_points", "sample_of", "training_split"]

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


def accepted_points(image: ImageRecord, names: tuple[str, ...]) -> np.ndarray:
    """(K,) bool: landmarks whose position a model placed and a person accepted as it is (verified,
    or left on a signed-off image). They score every model by ``validation.censor``, not as exact truth."""
    return np.array([image.landmarks[n].state.has_position and image.landmarks[n].from_model for n in names], dtype=bool)


def add_sample_image(project: Project, sample: Sample) -> ImageRecord:
    """Add a data set sample's image to ``project`` with the sample's spacing when its file has none
    (the data set's table knows it): the project then trains at the spacing the sample is predicted
    and scored at (``geometry.fine_grid``), as a DICOM's own spacing would make it."""
    from dataclasses import replace

    from core.imaging import load_image

    radiograph = load_image(sample.image_path)
    if radiograph.spacing is None and sample.spacing:
        radiograph = replace(radiograph, spacing=sample.spacing)
    return project.add_image(sample.image_path, radiograph)


def sample_of(image: ImageRecord, names: tuple[str, ...]) -> Sample:
    """A training :class:`Sample` from a reviewed image (id = the project's image id)."""
    return Sample(id=image.id, image_path=Path(image.path), points=review_points(image, names), spacing=image.spacing,
                  accepted=accepted_points(image, names))


def _difficulty(image: ImageRecord) -> float:
    """Mean distance (px) the reviewer moved the model's points; 0 when nothing was moved."""
    moves = [math.hypot(lm.x - lm.original[0], lm.y - lm.original[1])
             for lm in image.landmarks.values() if lm.original is not None and lm.state.has_position]
    return float(np.mean(moves)) if moves else 0.0


def _size(n_reviewed: int, fraction: float) -> int:
    """How many validation images ``n_reviewed`` reviewed images call for (0 when too few)."""
    n = max(1, round(n_reviewed * fraction))
    if n_reviewed >= 3 * MIN_VAL:
        n = max(n, MIN_VAL)
    return max(0, min(n, n_reviewed - MIN_TRAIN))


def _pick(images: list[ImageRecord], n: int) -> list[str]:
    """Stratified pick: sort by difficulty, take one image from each of ``n`` equal strata (middle one)."""
    if n <= 0:
        return []
    ordered = sorted(images, key=lambda im: (_difficulty(im), im.id))
    edges = np.linspace(0, len(ordered), n + 1)
    return sorted(ordered[int((edges[i] + edges[i + 1]) // 2)].id for i in range(n))


def locked_validation(project: Project, fraction: float = VAL_FRACTION, untrained: Collection[str] | None = None) -> list[str]:
    """The project's locked validation image ids, choosing (and recording) them on first use.

    Chosen once there are at least ``MIN_TRAIN + 1`` reviewed images; until then
    ``[]`` (runs then report training-set metrics, and say so). Recording it
    marks the project dirty: the caller saves. A read-only project gets the
    choice without recording it.

    ``untrained`` (a retraining run passes the reviewed images no model version has trained
    on) lets a subset chosen when few images were reviewed grow to the size the reviewed
    images now call for, from those images only: a subset locked at 1 image of 4 would
    otherwise keep every later verdict inconclusive. Images any version trained on never
    join it, and no image ever leaves it.
    """
    record = project.learning
    locked = list(record.get("val_ids") or [])
    reviewed = [im for im in project.images if is_reviewed(im)]
    free = None if untrained is None else set(untrained) - set(locked)
    if not locked:
        # An image a version trained on (a first run fell back to the training images) would flatter
        # that version: with ``untrained`` the first choice comes from the others only.
        pool = reviewed if free is None else [im for im in reviewed if im.id in free]
        ids = _pick(pool, min(_size(len(reviewed), fraction), len(pool)))
        note = f"locked validation subset: {len(ids)} images"
    elif free is not None:
        candidates = [im for im in reviewed if im.id in free]
        extra = _pick(candidates, min(_size(len(reviewed), fraction) - len(locked), len(candidates)))
        ids = sorted(locked + extra)
        note = f"validation subset grown by {len(extra)} newly reviewed images to {len(ids)}"
        if not extra:
            return locked
    else:
        return locked
    if ids and not project.read_only:
        record["val_ids"] = ids
        project.set_learning(record, note=note)
    return ids


def images_to_settle(n_reviewed: int, n_val: int, n_informative: int, needed: int = MIN_VAL, fraction: float = VAL_FRACTION) -> int:
    """How many more corrected images would let the validation subset hold ``needed`` images with
    corrected points, if each joins it while it is below its size (:func:`locked_validation`)."""
    for more in range(1, 10_000):
        if _size(n_reviewed + more, fraction) - n_val >= needed - n_informative:
            return more
    return 10_000


def prepare_validation(project: Project) -> list[str]:
    """The locked subset before a training run: chosen on first use, else topped up from the
    reviewed images no version of the project's registry has trained on (:func:`locked_validation`).
    The caller saves (the app does, since its trainer subprocess opens the project read-only)."""
    from core.learning.registry import ModelRegistry

    reviewed = {im.id for im in project.images if is_reviewed(im)}
    return locked_validation(project, untrained=reviewed - ModelRegistry(project.path, project.schema.name).trained_ids())


def training_split(project: Project) -> tuple[list[Sample], list[Sample]]:
    """(train, val) samples: reviewed images outside / inside the locked validation subset
    (grown beforehand by :func:`prepare_validation` in a retraining run).

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
