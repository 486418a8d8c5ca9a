"""Building a complete project file (the caller publishes it atomically).

Saving rewrites the whole file, so that a crash at any instant leaves either
the old file or the new one, never a mix (``core.atomic.atomic_write_bytes``).
To keep that cheap, the big arrays are not re-encoded: heatmaps and masks the
previous file already holds are carried over with one raw HDF5 object copy
(``H5Ocopy`` moves the compressed chunks as they are), and only new
predictions are compressed and written. Landmarks, images and the log are a
handful of column arrays (``packing``) that write in milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from core.project.layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HEATMAP_COMPRESSION,
    ID_DTYPE,
    LOG_CHUNK_ROWS,
    LOG_DTYPE,
    MASK_COMPRESSION,
    STATE_CODES,
    TIME_DTYPE,
    StringTable,
)
from core.project.packing import pack_images
from core.project.predictions import PredictionEntry, encode_heatmaps
from core.project.reader import open_h5
from core.project.records import ImageRecord

__all__ = ["Snapshot", "build_project_file"]

_STR = h5py.string_dtype("utf-8")
_BLOCK = 1 << 20  # the in-memory file grows in 1 MiB steps


@dataclass
class Snapshot:
    """What one save writes.

    ``source`` is the file to carry on-disk heatmaps over from (the current
    project file), trusted only when its ``project_id`` and ``revision``
    attributes match ``attrs``' (the file we last wrote or read).
    """

    attrs: dict
    schema_json: str
    names: tuple[str, ...]
    images: list[ImageRecord]
    strings: StringTable
    log_rows: np.ndarray
    predictions: dict[str, PredictionEntry]
    source: Path | None = None
    source_revision: int | None = None
    stats: dict = field(default_factory=dict)


def build_project_file(snap: Snapshot) -> tuple[bytes, set[str]]:
    """The complete file for ``snap`` as bytes, and the ids whose predictions it holds.

    The file is built in memory (HDF5 "core" driver) and written to disk by
    the caller with plain Python I/O. A write that fails inside the HDF5
    library (disk full while it flushes) leaves h5py objects in a state that
    crashed the interpreter later (SIGSEGV at garbage collection, seen with
    h5py 3.16 / HDF5 2.0); a failing ``os.write`` is an ordinary OSError with
    its errno. Costs one file-sized buffer for the duration of the save.

    An on-disk prediction whose heatmaps are not in memory and cannot be
    carried over (the source file vanished or was replaced) is left out: it
    is a cache, and the landmarks it produced are stored regardless.
    """
    with h5py.File("project", "w", driver="core", backing_store=False, block_size=_BLOCK) as f:
        for key, value in snap.attrs.items():
            f.attrs[key] = value
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.create_dataset("schema", data=snap.schema_json, dtype=_STR)
        arrays = pack_images(snap.images, snap.names, snap.strings)
        for key, value in arrays.items():
            f.create_dataset(key, data=value, dtype=_STR if value.dtype == object else value.dtype)
        f["landmarks/state"].attrs["codes"] = json.dumps({s.value: c for s, c in STATE_CODES.items()})
        f["landmarks"].attrs["names"] = json.dumps(list(snap.names))
        written = _write_predictions(f, snap)
        rows = snap.log_rows
        f.create_dataset("log", data=rows, dtype=LOG_DTYPE, maxshape=(None,), chunks=(LOG_CHUNK_ROWS,))
        # last: packing and the prediction table may have added strings
        f.create_dataset("strings", data=np.array(snap.strings.to_list(), dtype=object), dtype=_STR)
        f.flush()
        image = f.id.get_file_image()
    return image, written


def _write_predictions(f: h5py.File, snap: Snapshot) -> set[str]:
    g = f.create_group("predictions")
    carried = _carry_over(g, snap)
    heatmaps, masks = g.require_group("heatmaps"), g.require_group("masks")
    written: list[str] = []
    new = 0
    for image_id, entry in snap.predictions.items():
        if image_id not in carried:
            if entry.heatmaps is None:
                continue  # lives only in a file we cannot trust: dropped
            values, peaks = encode_heatmaps(entry.heatmaps)
            d = heatmaps.create_dataset(image_id, data=values, chunks=(1, *values.shape[1:]), **HEATMAP_COMPRESSION)
            d.attrs["peak"] = peaks
            if entry.masks is not None:
                m = entry.masks
                masks.create_dataset(image_id, data=m, chunks=(1, *m.shape[1:]), **MASK_COMPRESSION)
            new += 1
        written.append(image_id)
    snap.stats.update(carried=len(carried), new=new)
    rows = [snap.predictions[i].summary for i in written]
    m = len(rows)
    k = len(snap.names)

    def stack(name: str, shape: tuple[int, ...]) -> np.ndarray:
        """(m, *shape) float64; NaN for an entry without the array (regions of an uncalibrated model)."""
        nan = np.full(shape, np.nan)
        return np.array([nan if getattr(r, name) is None else getattr(r, name) for r in rows],
                        dtype=np.float64).reshape(m, *shape)

    g.create_dataset("id", data=np.array([i.encode("ascii") for i in written], dtype=ID_DTYPE))
    g.create_dataset("model", data=np.array([snap.strings.code(r.model_id) for r in rows], dtype=np.int32))
    g.create_dataset("created", data=np.array([r.created.encode("ascii") for r in rows], dtype=TIME_DTYPE))
    for name in ("points", "soft_argmax", "refined"):
        g.create_dataset(name, data=stack(name, (k, 2)))
    g.create_dataset("confidence", data=stack("confidence", (k,)))
    g.create_dataset("heatmap_to_image", data=stack("heatmap_to_image", (2, 3)))
    # Not computed yet (an entry read from an older file): NaN.
    covariance = [snap.predictions[i].covariance for i in written]
    g.create_dataset("covariance", data=np.array([np.full((k, 2, 2), np.nan) if c is None else c for c in covariance],
                                                 dtype=np.float64).reshape(m, k, 2, 2))
    g.create_dataset("mask_classes", data=np.array([json.dumps(list(r.mask_classes)) for r in rows], dtype=object),
                     dtype=_STR)
    # The prediction whole (ADR 0003, since 2026-12-03): calibrated regions, the decoder, the anatomy fit.
    for name in ("region_px", "region_mm"):
        g.create_dataset(name, data=stack(name, (k, 3)))
    g.create_dataset("coverage", data=np.array([np.nan if r.coverage is None else r.coverage for r in rows], dtype=np.float64))
    g.create_dataset("decoder", data=np.array([snap.strings.code(r.decoder) for r in rows], dtype=np.int32))
    g.create_dataset("anatomy", data=np.array([_anatomy_json(r.anatomy) for r in rows], dtype=object), dtype=_STR)
    return set(written)


def _anatomy_json(fit) -> str:
    """An ``AnatomyFit`` as its four fields in JSON; "" for none."""
    if fit is None:
        return ""
    return json.dumps({"model": fit.model, "anatomy": fit.anatomy, "residual": fit.residual, "typical": fit.typical})


def _carry_over(g: h5py.Group, snap: Snapshot) -> set[str]:
    """Copy the on-disk heatmaps and masks still wanted from ``snap.source``; return their ids.

    One ``H5Ocopy`` of each whole group (a C loop over raw chunks: ~20 ms for
    300 images' heatmaps) is far cheaper than a Python loop of per-dataset
    copies; entries no longer wanted are unlinked from the copy afterwards.
    """
    keep = {i for i, e in snap.predictions.items() if e.on_disk}
    if not keep or snap.source is None or not snap.source.exists():
        return set()
    try:
        with open_h5(snap.source) as src:
            same = (str(src.attrs.get("project_id", "")) == snap.attrs["project_id"]
                    and int(src.attrs.get("revision", -1)) == snap.source_revision)
            if not same:
                return set()
            for name in ("heatmaps", "masks"):
                src.copy(src["predictions"][name], g, name=name)
    except Exception:  # an unreadable cache must never block saving corrections: drop it
        for name in ("heatmaps", "masks"):
            if name in g:
                del g[name]
        snap.stats["carry_over_failed"] = True
        return set()
    heatmaps, masks = g["heatmaps"], g["masks"]
    for group in (heatmaps, masks):
        for name in list(group):
            if name not in keep:
                del group[name]
    carried = set()
    for image_id in keep:
        entry = snap.predictions[image_id]
        if image_id in heatmaps and (image_id in masks) == entry.has_masks:
            carried.add(image_id)
        else:  # incomplete in the source: rewritten from memory if loaded, else dropped
            for group in (heatmaps, masks):
                if image_id in group:
                    del group[image_id]
    return carried
