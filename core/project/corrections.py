"""The append-only correction log: who changed which landmark when, from what to what.

Every change to a project (a drag, a state change, a prediction, an undo,
signing off an image) adds one row; rows are never edited or removed, so the
log is an audit trail of how each training label came to be. In memory it is
one structured array of saved rows plus a list of rows added since the last
save; the writer stores them as one resizable dataset (``layout.LOG_DTYPE``).
"""

from __future__ import annotations

import math

import numpy as np

from core.project.layout import CODE_STATES, LOG_DTYPE, NO_STATE, NO_STRING, STATE_CODES, StringTable
from core.project.records import LandmarkRecord

__all__ = ["CorrectionLog"]


def _point(record: LandmarkRecord | None) -> tuple[float, float, int]:
    if record is None:
        return (math.nan, math.nan, NO_STATE)
    return (record.x, record.y, STATE_CODES[record.state])


class CorrectionLog:
    """Rows of ``LOG_DTYPE``; string columns are codes into the project's :class:`StringTable`."""

    def __init__(self, strings: StringTable, landmarks: tuple[str, ...], saved: np.ndarray | None = None) -> None:
        self._strings = strings
        self._landmarks = landmarks
        self._saved = np.zeros(0, dtype=LOG_DTYPE) if saved is None else np.asarray(saved, dtype=LOG_DTYPE)
        self._pending: list[tuple] = []

    def __len__(self) -> int:
        return len(self._saved) + len(self._pending)

    @property
    def pending(self) -> int:
        """Rows added since the last save."""
        return len(self._pending)

    def append(
        self,
        time: str,
        user: str,
        action: str,
        image_id: str = "",
        landmark: int = -1,
        old: LandmarkRecord | None = None,
        new: LandmarkRecord | None = None,
        note: str | None = None,
    ) -> None:
        """Add one row. ``landmark`` is the schema index, -1 for image- or project-level actions."""
        s = self._strings
        self._pending.append(
            (time.encode("ascii"), s.code(user), image_id.encode("ascii"), landmark, s.code(action),
             *_point(old), *_point(new), s.code(note))
        )

    def rows(self) -> np.ndarray:
        """All rows, saved and pending, as one ``LOG_DTYPE`` array (what the writer stores)."""
        if not self._pending:
            return self._saved
        return np.concatenate([self._saved, np.array(self._pending, dtype=LOG_DTYPE)])

    def mark_saved(self, rows: np.ndarray) -> None:
        """The writer stored ``rows`` (as returned by :meth:`rows`); later rows stay pending."""
        done = len(rows) - len(self._saved)
        self._saved = rows
        self._pending = self._pending[done:]

    def entries(self, image_id: str | None = None) -> list[dict]:
        """Rows as dicts, oldest first, optionally only those of one image.

        Keys: ``time``, ``user``, ``image`` (None for project-level rows),
        ``landmark`` (name, None for image-level rows), ``action``, ``old`` and
        ``new`` (``{"x", "y", "state"}``, x and y None for a state without a
        position; None for image-level rows), ``note`` (str or None).
        """
        rows = self.rows()
        if image_id is not None:
            rows = rows[rows["image"] == image_id.encode("ascii")]
        get = self._strings.get
        out = []
        for r in rows.tolist():
            time, user, image, landmark, action, ox, oy, ostate, nx, ny, nstate, note = r
            out.append(
                {
                    "time": time.decode("ascii"),
                    "user": get(user),
                    "image": image.decode("ascii") or None,
                    "landmark": self._landmarks[landmark] if landmark >= 0 else None,
                    "action": get(action),
                    "old": _state_dict(ox, oy, ostate),
                    "new": _state_dict(nx, ny, nstate),
                    "note": get(note) if note != NO_STRING else None,
                }
            )
        return out


def _state_dict(x: float, y: float, state: int) -> dict | None:
    """``{"x", "y", "state"}``; x and y None (not NaN: JSON-safe and comparable) without a position."""
    if state == NO_STATE:
        return None
    s = CODE_STATES[state]
    if not s.has_position:
        return {"x": None, "y": None, "state": s.value}
    return {"x": x, "y": y, "state": s.value}
