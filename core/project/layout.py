"""Names, codes and dtypes of the project file (docs/adr/0003-project-file-format.md).

Everything the reader and the writer must agree on lives here, so a format
change is one diff in one module plus a ``FORMAT_VERSION`` bump.

Layout of format version 1 (N images, K landmarks, M cached predictions,
L log entries)::

    /                      attrs: format, format_version, project_id, revision,
                                  created, saved, saved_by, app_version, schema_name
    /schema                scalar UTF-8 string: the schema as JSON (core.schema format)
    /strings               (S,) UTF-8: append-only table; *_code columns index it, -1 = none
    /images/id             (N,) S16        content-hash keys, insertion order
    /images/path           (N,) UTF-8
    /images/sha256         (N,) S64
    /images/size           (N, 2) int64    (height, width)
    /images/spacing        (N, 2) float64  (x, y) mm, NaN = unknown
    /images/verified       (N,) uint8
    /images/verified_by    (N,) int32      string code
    /landmarks/position    (N, K, 2) float64   (x, y) px, NaN = none
    /landmarks/state       (N, K) uint8        STATE_CODES (also in the dataset's attrs)
    /landmarks/source      (N, K) int32        string code
    /landmarks/updated     (N, K) S<n>         ISO 8601 UTC
    /landmarks/original    (N, K, 2) float64   NaN = none
    /landmarks/confidence  (N, K) float64      NaN = none
    /predictions/id, model (code), created, points, soft_argmax, refined,
                 confidence, heatmap_to_image, mask_classes (JSON),
                 covariance (M, K, 2, 2) px² per heatmap, NaN = not computed yet
                 (optional: files before 2026-11-23 lack it)           one row per image
    /predictions/heatmaps/<image id>   (K, h, w) float16 relative to attr peak (K,) float32,
                                       gzip, one chunk per landmark (predictions.encode_heatmaps)
    /predictions/masks/<image id>      (C, H, W) bool, gzip
    /log                   (L,) LOG_DTYPE, chunked and resizable; rows only ever appended
"""

from __future__ import annotations

import numpy as np

from core.project.records import LandmarkState

FORMAT_NAME = "anatomark-project"
FORMAT_VERSION = 1

#: Suggested file suffix; the store does not insist on it.
PROJECT_SUFFIX = ".anatomark"

STATE_CODES: dict[LandmarkState, int] = {
    LandmarkState.MISSING: 0,
    LandmarkState.PREDICTED: 1,
    LandmarkState.CORRECTED: 2,
    LandmarkState.VERIFIED: 3,
    LandmarkState.ABSENT: 4,
}
CODE_STATES: dict[int, LandmarkState] = {v: k for k, v in STATE_CODES.items()}
NO_STATE = -1  # log rows for image-level actions

NO_STRING = -1

#: ``utc_now()`` is 29 characters; a little room for microsecond times.
TIME_DTYPE = np.dtype("S32")
ID_DTYPE = np.dtype("S16")

LOG_DTYPE = np.dtype(
    [
        ("time", TIME_DTYPE),
        ("user", "<i4"),  # string code
        ("image", ID_DTYPE),  # b"" for project-level entries
        ("landmark", "<i2"),  # schema index, -1 for image- or project-level entries
        ("action", "<i4"),  # string code
        ("old_x", "<f8"),
        ("old_y", "<f8"),
        ("old_state", "i1"),  # STATE_CODES or NO_STATE
        ("new_x", "<f8"),
        ("new_y", "<f8"),
        ("new_state", "i1"),
        ("note", "<i4"),  # string code or NO_STRING
    ]
)
LOG_CHUNK_ROWS = 1024

HEATMAP_COMPRESSION = {"compression": "gzip", "compression_opts": 4}
MASK_COMPRESSION = {"compression": "gzip", "compression_opts": 4}


class StringTable:
    """Append-only list of strings referred to by integer codes.

    Sources, user names, actions and model ids repeat thousands of times;
    storing each once keeps the landmark and log arrays fixed-width (fast to
    write, copyable raw). Codes never change once given out, because the log
    keeps referring to them after the landmarks that used them moved on.
    """

    def __init__(self, strings: list[str] | None = None) -> None:
        self._strings: list[str] = []
        self._codes: dict[str, int] = {}
        for s in strings or ():
            self._strings.append(s)
            self._codes.setdefault(s, len(self._strings) - 1)

    def code(self, text: str | None) -> int:
        """Code of ``text`` (added if new); NO_STRING for None."""
        if text is None:
            return NO_STRING
        found = self._codes.get(text)
        if found is None:
            found = len(self._strings)
            self._strings.append(text)
            self._codes[text] = found
        return found

    def get(self, code: int) -> str | None:
        """The string for ``code``; None for NO_STRING. IndexError for codes never given out."""
        if code == NO_STRING:
            return None
        if not 0 <= code < len(self._strings):
            raise IndexError(f"string code {code} out of range (table has {len(self._strings)})")
        return self._strings[code]

    def lookup(self, codes: np.ndarray) -> list[str | None]:
        """Strings for an array of codes (flattened)."""
        return [self.get(int(c)) for c in np.asarray(codes).ravel()]

    def __len__(self) -> int:
        return len(self._strings)

    def to_list(self) -> list[str]:
        return list(self._strings)
