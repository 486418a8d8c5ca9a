"""Image and landmark records ↔ the compact column arrays stored in the file.

One array per field across all images (``(N, K, 2)`` positions, ``(N, K)``
state codes, ...) instead of a group per image: a few datasets write in
milliseconds where thousands of tiny ones take a second, and a reader in any
language gets the whole project as a handful of numpy arrays.
"""

from __future__ import annotations

import math

import numpy as np

from core.project.layout import CODE_STATES, ID_DTYPE, STATE_CODES, StringTable
from core.project.records import ImageRecord, LandmarkRecord

__all__ = ["pack_images", "unpack_images"]


def pack_images(images: list[ImageRecord], names: tuple[str, ...], strings: StringTable) -> dict[str, np.ndarray]:
    """Column arrays keyed ``images/<field>`` and ``landmarks/<field>`` (see ``layout``)."""
    n, k = len(images), len(names)
    position = np.full((n, k, 2), np.nan)
    original = np.full((n, k, 2), np.nan)
    confidence = np.full((n, k), np.nan)
    state = np.zeros((n, k), np.uint8)
    source = np.zeros((n, k), np.int32)
    updated: list[bytes] = []
    spacing = np.full((n, 2), np.nan)
    code = strings.code
    for i, image in enumerate(images):
        if image.spacing is not None:
            spacing[i] = image.spacing
        for j, name in enumerate(names):
            r = image.landmarks[name]
            position[i, j] = (r.x, r.y)
            state[i, j] = STATE_CODES[r.state]
            source[i, j] = code(r.source)
            updated.append(r.updated.encode("utf-8"))
            if r.original is not None:
                original[i, j] = r.original
            if r.confidence is not None:
                confidence[i, j] = r.confidence
    return {
        "images/id": np.array([im.id.encode("ascii") for im in images], dtype=ID_DTYPE),
        "images/path": np.array([im.path for im in images], dtype=object),
        "images/sha256": np.array([im.sha256.encode("ascii") for im in images], dtype="S64"),
        "images/size": np.array([im.size for im in images], dtype=np.int64).reshape(n, 2),
        "images/spacing": spacing,
        "images/verified": np.array([im.verified for im in images], dtype=np.uint8),
        "images/verified_by": np.array([code(im.verified_by) for im in images], dtype=np.int32),
        "landmarks/position": position,
        "landmarks/state": state,
        "landmarks/source": source,
        # np.array picks the width of the longest time; (N*K,) reshaped, S1 when empty
        "landmarks/updated": (np.array(updated) if updated else np.zeros(0, "S1")).reshape(n, k),
        "landmarks/original": original,
        "landmarks/confidence": confidence,
    }


def unpack_images(arrays: dict[str, np.ndarray], names: tuple[str, ...], strings: StringTable) -> list[ImageRecord]:
    """Inverse of :func:`pack_images`; ValueError when shapes or codes do not fit together."""
    ids = arrays["images/id"]
    n, k = len(ids), len(names)
    expected = {
        "images/path": (n,), "images/sha256": (n,), "images/size": (n, 2), "images/spacing": (n, 2),
        "images/verified": (n,), "images/verified_by": (n,), "landmarks/position": (n, k, 2),
        "landmarks/state": (n, k), "landmarks/source": (n, k), "landmarks/updated": (n, k),
        "landmarks/original": (n, k, 2), "landmarks/confidence": (n, k),
    }
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")
    get = strings.get
    position = arrays["landmarks/position"].tolist()
    original = arrays["landmarks/original"].tolist()
    confidence = arrays["landmarks/confidence"].tolist()
    state = arrays["landmarks/state"].tolist()
    source = arrays["landmarks/source"].tolist()
    updated = arrays["landmarks/updated"].tolist()
    images = []
    for i in range(n):
        landmarks = {}
        for j, name in enumerate(names):
            ox, oy = original[i][j]
            conf = confidence[i][j]
            landmarks[name] = LandmarkRecord(
                x=position[i][j][0],
                y=position[i][j][1],
                state=CODE_STATES[state[i][j]],
                source=get(source[i][j]) or "",
                updated=updated[i][j].decode("utf-8"),
                original=None if math.isnan(ox) else (ox, oy),
                confidence=None if math.isnan(conf) else conf,
            )
        sx, sy = arrays["images/spacing"][i].tolist()
        h, w = arrays["images/size"][i].tolist()
        path = arrays["images/path"][i]
        images.append(
            ImageRecord(
                id=ids[i].decode("ascii"),
                path=path.decode("utf-8") if isinstance(path, bytes) else str(path),
                sha256=arrays["images/sha256"][i].decode("ascii"),
                size=(int(h), int(w)),
                spacing=None if math.isnan(sx) else (sx, sy),
                verified=bool(arrays["images/verified"][i]),
                verified_by=get(int(arrays["images/verified_by"][i])),
                landmarks=landmarks,
            )
        )
    return images
