"""What the overlays draw for one image: a snapshot of the project, Qt-free.

``Frame`` is rebuilt when the image, its prediction or a stored landmark changes;
during a drag only ``points[k]`` changes, in place, and overlays redraw that point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.project.records import LandmarkState


@dataclass
class Frame:
    """Landmarks of one image in schema order. Points are (x, y) image pixels (ADR 0001).

    - ``points`` (K, 2): current positions, NaN where there is none.
    - ``states`` (K,): each landmark's ``LandmarkState``.
    - ``confidence`` (K,): the model's confidence of each stored point, NaN where none.
    - ``prediction``: the cached prediction (``core.prediction.Prediction``) or None.
    - ``selected``: index of the current landmark, or None.
    - ``calibration``: the project's own calibration of the prediction's model
      (``core.learning.recalibration.ProjectCalibration``), or None: the bundled one applies.
    """

    names: tuple[str, ...]
    labels: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    image_size: tuple[int, int]
    points: np.ndarray
    states: list[LandmarkState]
    confidence: np.ndarray
    prediction: object | None = None
    selected: int | None = None
    mask_classes: tuple[str, ...] = field(default_factory=tuple)
    calibration: object | None = None

    @property
    def n(self) -> int:
        return len(self.names)

    def has_point(self, k: int) -> bool:
        return bool(np.isfinite(self.points[k]).all())

    def index(self, name: str | None) -> int | None:
        return self.names.index(name) if name in self.names else None

    def update_record(self, k: int, record) -> None:
        """Copy one ``LandmarkRecord`` into the frame.

        An absent landmark has no position; it is drawn (as a grey cross) where the model
        had put it, when there was a model position, so the reader sees what was rejected.
        """
        self.states[k] = record.state  # a LandmarkState (LandmarkRecord converts on construction)
        if self.states[k] is LandmarkState.ABSENT and record.original is not None:
            self.points[k] = record.original
        else:
            self.points[k] = (record.x, record.y)
        self.confidence[k] = np.nan if record.confidence is None else float(record.confidence)


def frame_from_image(schema, image, prediction, selected: str | None, image_size: tuple[int, int],
                     calibration=None) -> Frame:
    """A :class:`Frame` for ``image`` (``core.project.ImageRecord``) under ``schema``."""
    names = tuple(schema.landmarks)
    k = len(names)
    frame = Frame(
        names=names,
        labels=tuple(schema.labels),
        edges=tuple(tuple(e) for e in schema.edges),
        image_size=image_size,
        points=np.full((k, 2), np.nan),
        states=[LandmarkState.MISSING] * k,
        confidence=np.full(k, np.nan),
        prediction=prediction,
        selected=names.index(selected) if selected in names else None,
        mask_classes=tuple(getattr(prediction, "mask_classes", ()) or ()),
        calibration=calibration,
    )
    for i, name in enumerate(names):
        record = image.landmarks.get(name)
        if record is not None:
            frame.update_record(i, record)
    return frame
