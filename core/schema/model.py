"""The :class:`LandmarkSchema` dataclass: structure, graph matrices, measurements, JSON round trip."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.schema.elements import _N_POINTS, Measurement, SchemaError, SegmentationClass
from core.schema.geometry import _geometry, derive_edges
from core.schema.parse import _from_dict, _measurement_to_dict
from core.schema.validate import _validate


@dataclass(frozen=True)
class LandmarkSchema:
    """Landmark names plus the structure models, losses and views use.

    ``pairs`` are (patient's right, patient's left) landmark indices; ``levels``
    run top to bottom, pair members share a level; ``edges`` are undirected,
    ``i < j``, sorted and unique (normalised on construction);
    ``landmark_classes[k]`` indexes ``segmentation_classes`` or is None.
    """

    name: str
    title: str
    landmarks: tuple[str, ...]
    labels: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    levels: tuple[tuple[int, ...], ...]
    edges: tuple[tuple[int, int], ...]
    segmentation_classes: tuple[SegmentationClass, ...]
    landmark_classes: tuple[int | None, ...]
    measurements: tuple[Measurement, ...]
    description: str = ""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_landmarks(self) -> int:
        return len(self.landmarks)

    def index(self, name: str) -> int:
        """Index of landmark ``name``; SchemaError if the schema has no such landmark."""
        try:
            return self.landmarks.index(name)
        except ValueError:
            raise SchemaError(f"schema {self.name!r} has no landmark {name!r}") from None

    def adjacency(self) -> np.ndarray:
        """(K, K) float32 symmetric 0/1 adjacency of ``edges``, zero diagonal."""
        k = self.n_landmarks
        a = np.zeros((k, k), dtype=np.float32)
        for i, j in self.edges:
            a[i, j] = a[j, i] = 1.0
        return a

    def normalized_adjacency(self) -> np.ndarray:
        """(K, K) float32 Â = D^-1/2 (A + I) D^-1/2, D the degree matrix of A + I (DESIGN.md 2.1)."""
        a = self.adjacency().astype(np.float64) + np.eye(self.n_landmarks)
        d = 1.0 / np.sqrt(a.sum(axis=1))
        return (d[:, None] * a * d[None, :]).astype(np.float32)

    def measurement_units(self, spacing: tuple[float, float] | None) -> dict[str, str]:
        """Unit of each value :meth:`compute_measurements` returns for this ``spacing``.

        Distances are "mm" with a spacing and "px" without; angles "deg";
        differences take their first operand's unit; ratios "".
        """
        by_name = {m.name: m for m in self.measurements}

        def unit(m: Measurement) -> str:
            if m.kind == "difference":
                return unit(by_name[m.of[0]])
            return {"distance": "px" if spacing is None else "mm", "angle": "deg"}.get(m.kind, "")

        return {m.name: unit(m) for m in self.measurements}

    def compute_measurements(
        self, points: np.ndarray, spacing: tuple[float, float] | None
    ) -> dict[str, float | None]:
        """Evaluate every measurement on one image.

        points: (K, 2) pixels, (x, y); NaN rows are missing landmarks.
        spacing: (sx, sy) mm per pixel along x and y, or None. With a spacing,
        distances are in mm and angles are measured in physical space (which
        matters for anisotropic pixels); without, distances are in px (see
        :meth:`measurement_units`). Angles are in degrees, 0..180.
        Returns name -> value, None where a point is missing or the value is
        undefined (zero-length arm, division by zero).
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape != (self.n_landmarks, 2):
            raise ValueError(f"points must have shape ({self.n_landmarks}, 2), got {pts.shape}")
        if spacing is not None:
            sx, sy = (float(s) for s in spacing)
            if not (sx > 0 and sy > 0 and math.isfinite(sx) and math.isfinite(sy)):
                raise ValueError(f"spacing must be two positive numbers, got {spacing!r}")
            pts = pts * np.array([sx, sy])
        by_name = {m.name: m for m in self.measurements}
        values: dict[str, float | None] = {}

        def value(m: Measurement) -> float | None:
            if m.name in values:
                return values[m.name]
            if m.kind in _N_POINTS:
                p = pts[[self.index(n) for n in m.points]]
                v = None if np.isnan(p).any() else _geometry(m.kind, p)
            else:
                a, b = (value(by_name[n]) for n in m.of)
                if a is None or b is None or (m.kind == "ratio" and b == 0):
                    v = None
                else:
                    v = a - b if m.kind == "difference" else a / b
            values[m.name] = v
            return v

        for m in self.measurements:
            value(m)
        return {m.name: values[m.name] for m in self.measurements}

    def to_dict(self) -> dict:
        """JSON-ready dict in the package's JSON format; ``edges`` only when they differ from the derived ones."""
        names = self.landmarks
        classes = self.segmentation_classes
        d: dict = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "landmarks": [
                {"name": n, "label": lab, "class": None if c is None else classes[c].name}
                for n, lab, c in zip(names, self.labels, self.landmark_classes)
            ],
            "pairs": [[names[r], names[l]] for r, l in self.pairs],
            "levels": [[names[i] for i in level] for level in self.levels],
        }
        if list(self.edges) != derive_edges(self.n_landmarks, self.pairs, self.levels):
            d["edges"] = [[names[i], names[j]] for i, j in self.edges]
        d["segmentation_classes"] = [{"name": c.name, "label": c.label, "bit": c.bit} for c in classes]
        d["measurements"] = [_measurement_to_dict(m) for m in self.measurements]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LandmarkSchema:
        """Build and validate a schema from the JSON format; SchemaError on any problem."""
        try:
            return _from_dict(cls, d)
        except SchemaError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as e:  # malformed structure
            raise SchemaError(f"malformed schema: {type(e).__name__}: {e}".replace("\n", " ")) from e
