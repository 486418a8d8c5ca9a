"""Leaf types of a schema: :class:`SchemaError`, :class:`SegmentationClass`, :class:`Measurement`.

They depend on nothing else in :mod:`core.schema`, so every other module of the
package can import them without cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

MEASUREMENT_KINDS = ("distance", "angle", "difference", "ratio")
_N_POINTS = {"distance": 2, "angle": 3}


class SchemaError(ValueError):
    """A schema that cannot be used; the message is one line, fit for a dialog."""


@dataclass(frozen=True)
class SegmentationClass:
    """One mask class; ``bit`` is its value / bit flag in mask PNGs (chest: 1, 2, 4, 8, 16)."""

    name: str
    label: str
    bit: int


@dataclass(frozen=True)
class Measurement:
    """A quantity derived from landmark positions.

    ``points`` name landmarks (distance: 2; angle: 3, vertex in the middle, the
    angle A-B-C at B); ``of`` names two other measurements (difference: first
    minus second; ratio: first over second).
    """

    name: str
    kind: str
    points: tuple[str, ...] = ()
    of: tuple[str, ...] = ()
    unit: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.points, str) or isinstance(self.of, str):
            raise SchemaError(f"measurement {self.name!r}: 'points' and 'of' must be sequences of names")
        object.__setattr__(self, "points", tuple(self.points))
        object.__setattr__(self, "of", tuple(self.of))
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError("measurement name must be a non-empty string")
        if self.kind not in MEASUREMENT_KINDS:
            raise SchemaError(
                f"measurement {self.name!r}: kind {self.kind!r} is not one of {', '.join(MEASUREMENT_KINDS)}"
            )
        if self.kind in _N_POINTS:
            n = _N_POINTS[self.kind]
            if len(self.points) != n or self.of:
                raise SchemaError(f"measurement {self.name!r}: a {self.kind} needs {n} points and no 'of'")
            if len(set(self.points)) != n:
                raise SchemaError(f"measurement {self.name!r}: points must be distinct")
        elif len(self.of) != 2 or self.points:
            raise SchemaError(f"measurement {self.name!r}: a {self.kind} needs 'of' with 2 measurements and no points")
