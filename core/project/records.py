"""What a project knows about each image and landmark, as plain Qt-free dataclasses.

A landmark's *state* says how far it has been reviewed; its *source* says who
or what put it where it is; ``original`` keeps the model's prediction a person
moved it away from. The three together are what lets corrections become
training data without confusing "the model said so" with "a radiologist said
so" (STYLE.md; SLEAP lost training data exactly there).

Coordinates are ``(x, y)`` pixels of the full-resolution image, origin at the
centre of the top-left pixel (docs/adr/0001-coordinates.md); NaN where there
is no position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum

import numpy as np

__all__ = ["ImageRecord", "LandmarkRecord", "LandmarkState", "utc_now"]


def utc_now() -> str:
    """Current time, ISO 8601 UTC with milliseconds, e.g. ``2025-03-01T09:30:12.345+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class LandmarkState(str, Enum):
    """How far a landmark has been reviewed.

    - ``MISSING``: no position yet (nobody predicted or placed it).
    - ``PREDICTED``: a model's position nobody has reviewed.
    - ``CORRECTED``: a person moved or placed it.
    - ``VERIFIED``: a person confirmed the position (a prediction accepted as
      is, or a correction confirmed).
    - ``ABSENT``: a person said the landmark is not in the image (cut off,
      implant); no position.
    """

    MISSING = "missing"
    PREDICTED = "predicted"
    CORRECTED = "corrected"
    VERIFIED = "verified"
    ABSENT = "absent"

    @property
    def has_position(self) -> bool:
        """True for the states that carry a finite (x, y)."""
        return self in _POSITIONED


_POSITIONED = frozenset({LandmarkState.PREDICTED, LandmarkState.CORRECTED, LandmarkState.VERIFIED})


#: States only a person gives: an image whose landmarks all have one is reviewed.
REVIEWED_STATES = frozenset({LandmarkState.CORRECTED, LandmarkState.VERIFIED, LandmarkState.ABSENT})


def _same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


@dataclass(frozen=True, eq=False)
class LandmarkRecord:
    """One landmark on one image. Immutable: every edit makes a new record.

    Attributes:
        x, y: full-resolution image pixels (ADR 0001); NaN when MISSING/ABSENT.
        state: see :class:`LandmarkState`.
        source: who or what placed the position: ``"model:<model_id>"`` or
            ``"user:<name>"``; ``""`` for a landmark nobody has touched yet.
        updated: ISO 8601 UTC time of the change that made this record.
        original: the model's (x, y) this landmark was corrected away from (or
            declared absent over), kept through later edits; None when no
            model position was ever replaced.
        confidence: the model's confidence in [0, 1] for its prediction (kept
            with ``original`` after a correction), None when no model was involved.

    Records compare equal field by field with NaN equal to NaN, so an undo
    stack can tell a real change from a no-op.
    """

    x: float
    y: float
    state: LandmarkState
    source: str
    updated: str
    original: tuple[float, float] | None = None
    confidence: float | None = None

    def __post_init__(self) -> None:
        state = LandmarkState(self.state)
        x, y = float(self.x), float(self.y)
        if state.has_position and not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"a {state.value} landmark needs a finite position, got ({x}, {y})")
        if not state.has_position and not (math.isnan(x) and math.isnan(y)):
            raise ValueError(f"a {state.value} landmark has no position: x and y must be NaN")
        original = None if self.original is None else (float(self.original[0]), float(self.original[1]))
        confidence = None if self.confidence is None else float(self.confidence)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "source", str(self.source))
        object.__setattr__(self, "updated", str(self.updated))
        object.__setattr__(self, "original", original)
        object.__setattr__(self, "confidence", confidence)

    @classmethod
    def missing(cls, updated: str | None = None, source: str = "") -> LandmarkRecord:
        """A landmark with no position yet."""
        return cls(math.nan, math.nan, LandmarkState.MISSING, source, updated or utc_now())

    @property
    def position(self) -> tuple[float, float] | None:
        """``(x, y)`` or None when the state carries no position."""
        return (self.x, self.y) if self.state.has_position else None

    @property
    def from_model(self) -> bool:
        """True when the current position was placed by a model."""
        return self.source.startswith("model:")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LandmarkRecord):
            return NotImplemented
        if (self.state, self.source, self.updated) != (other.state, other.source, other.updated):
            return False
        if not (_same_float(self.x, other.x) and _same_float(self.y, other.y)):
            return False
        if not _same_float(self.confidence, other.confidence):
            return False
        if self.original is None or other.original is None:
            return self.original is other.original
        return all(_same_float(a, b) for a, b in zip(self.original, other.original))

    def __hash__(self) -> int:
        return hash((self.state, self.source, self.updated))


@dataclass
class ImageRecord:
    """One image of a project and all its landmarks.

    Read these freely but change them only through :class:`~core.project.Project`
    methods: they log, mark the project dirty and refuse read-only projects.

    Attributes:
        id: stable key, the first 16 hex digits of the file content's SHA-256
            (a moved or renamed file is still the same image).
        path: absolute path the image was added from.
        sha256: full SHA-256 of the file content (hex).
        size: ``(height, width)`` in pixels, numpy order.
        spacing: ``(x, y)`` mm per pixel, or None when unknown.
        verified: the whole image has been reviewed and signed off.
        verified_by: who signed it off (None when not verified).
        landmarks: every landmark of the schema, in schema order.
    """

    id: str
    path: str
    sha256: str
    size: tuple[int, int]
    spacing: tuple[float, float] | None
    verified: bool = False
    verified_by: str | None = None
    landmarks: dict[str, LandmarkRecord] = field(default_factory=dict)

    @property
    def reviewed(self) -> bool:
        """True when a person signed the image off or reviewed every landmark (CORRECTED, VERIFIED
        or ABSENT), and at least one landmark has a position: what may train a model
        (``core.learning.selection``) and what "reviewed images only" exports."""
        if not any(lm.state.has_position for lm in self.landmarks.values()):
            return False
        return self.verified or all(lm.state in REVIEWED_STATES for lm in self.landmarks.values())

    @property
    def status(self) -> str:
        """Review status for the image browser.

        ``"verified"`` once signed off; ``"in review"`` as soon as a person has
        touched a landmark (corrected, verified or absent); ``"predicted"`` when
        a model placed some landmarks and nobody reviewed them; ``"new"`` when
        every landmark is missing.
        """
        if self.verified:
            return "verified"
        states = {r.state for r in self.landmarks.values()}
        if states & {LandmarkState.CORRECTED, LandmarkState.VERIFIED, LandmarkState.ABSENT}:
            return "in review"
        if LandmarkState.PREDICTED in states:
            return "predicted"
        return "new"

    def counts(self) -> dict[LandmarkState, int]:
        """Number of landmarks in each state (every state present, zeros included)."""
        out = {s: 0 for s in LandmarkState}
        for r in self.landmarks.values():
            out[r.state] += 1
        return out

    def positions(self) -> np.ndarray:
        """(K, 2) float64 ``(x, y)`` in landmark order, NaN rows where there is no position."""
        return np.array([[r.x, r.y] for r in self.landmarks.values()], dtype=np.float64).reshape(-1, 2)
