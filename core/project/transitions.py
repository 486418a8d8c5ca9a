"""The rules for changing a landmark, as pure functions from old record to new record.

Kept apart from :class:`~core.project.Project` so the rules read as a table
and are tested without files. The invariant they protect: a model never
overwrites a person's decision, and a person's correction never forgets the
model position it replaced (``original``), so training data can always tell
"model said", "person moved" and "person confirmed" apart.
"""

from __future__ import annotations

import math

from core.project.records import LandmarkRecord, LandmarkState

__all__ = ["OVERWRITABLE_BY_MODEL", "corrected", "model_origin", "predicted", "with_state"]

#: States a new prediction may replace. CORRECTED, VERIFIED and ABSENT are a person's word.
OVERWRITABLE_BY_MODEL = frozenset({LandmarkState.MISSING, LandmarkState.PREDICTED})

S = LandmarkState


def model_origin(old: LandmarkRecord) -> tuple[float, float] | None:
    """The model position behind ``old``: its ``original``, or its own position if a model placed it."""
    if old.original is not None:
        return old.original
    if old.from_model and old.state.has_position:
        return (old.x, old.y)
    return None


def corrected(old: LandmarkRecord, x: float, y: float, user: str, now: str) -> LandmarkRecord:
    """A person moved or placed the landmark at (x, y)."""
    x, y = float(x), float(y)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"a corrected position must be finite, got ({x}, {y})")
    origin = model_origin(old)
    return LandmarkRecord(x, y, S.CORRECTED, f"user:{user}", now, original=origin,
                          confidence=old.confidence if origin is not None else None)


def predicted(old: LandmarkRecord, x: float, y: float, model_id: str, confidence: float,
              now: str) -> LandmarkRecord | None:
    """A model's new position, or None when ``old`` must not be overwritten (or the point is not finite)."""
    if old.state not in OVERWRITABLE_BY_MODEL or not (math.isfinite(x) and math.isfinite(y)):
        return None
    conf = float(confidence)
    return LandmarkRecord(float(x), float(y), S.PREDICTED, f"model:{model_id}", now,
                          confidence=conf if math.isfinite(conf) else None)


def with_state(old: LandmarkRecord, state: LandmarkState | str, user: str, now: str) -> LandmarkRecord | None:
    """``old`` moved to ``state`` by a person; None when it already is in that state.

    - VERIFIED: from PREDICTED (accept as is) or CORRECTED (confirm the
      correction); position, source, original and confidence are kept.
    - ABSENT: from any state; the position goes, the model's original stays.
    - MISSING: from any state; a clean slate (no original, no confidence).
    - PREDICTED: only from a VERIFIED model position (take back an accept).
    - CORRECTED: only from a VERIFIED correction (take back a confirmation);
      a new position is :func:`corrected`'s job.

    ValueError for any other change, with the reason.
    """
    state = LandmarkState(state)
    if state == old.state:
        return None
    by = f"user:{user}"
    if state == S.VERIFIED:
        if old.state not in (S.PREDICTED, S.CORRECTED):
            raise ValueError(f"cannot verify a {old.state.value} landmark: it has no position; place it first")
        return LandmarkRecord(old.x, old.y, S.VERIFIED, old.source, now, old.original, old.confidence)
    if state == S.ABSENT:
        origin = model_origin(old)
        return LandmarkRecord(math.nan, math.nan, S.ABSENT, by, now, origin,
                              old.confidence if origin is not None else None)
    if state == S.MISSING:
        return LandmarkRecord.missing(now, source=by)
    if state == S.PREDICTED:
        if old.state == S.VERIFIED and old.from_model:
            return LandmarkRecord(old.x, old.y, S.PREDICTED, old.source, now, old.original, old.confidence)
        raise ValueError(f"only an accepted prediction can go back to predicted (this one is {old.state.value}); "
                         f"store a new prediction instead")
    if old.state == S.VERIFIED and not old.from_model:  # state == CORRECTED
        return LandmarkRecord(old.x, old.y, S.CORRECTED, old.source, now, old.original, old.confidence)
    raise ValueError(f"cannot mark a {old.state.value} landmark corrected without a position: use set_point")
