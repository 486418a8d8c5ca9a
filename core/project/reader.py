"""Reading a project file into memory, and heatmaps on demand.

Whatever is wrong with the file (missing, not HDF5, not ours, truncated,
written by a newer version, inconsistent inside), the caller gets one
:class:`ProjectError` line; no h5py or numpy exception escapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from core.project.errors import ProjectError, describe_os_error, display_name
from core.project.layout import CODE_STATES, FORMAT_NAME, FORMAT_VERSION, LOG_DTYPE, NO_STATE, NO_STRING, StringTable
from core.project.packing import unpack_images
from core.project.predictions import StoredPrediction, decode_heatmaps
from core.project.records import ImageRecord
from core.schema import LandmarkSchema

__all__ = ["ProjectContents", "check_log", "open_h5", "read_prediction_arrays", "read_project", "sound_log_rows"]


@dataclass
class ProjectContents:
    """Everything :func:`read_project` loads (heatmaps and masks stay in the file)."""

    attrs: dict
    schema: LandmarkSchema
    images: list[ImageRecord]
    strings: StringTable
    log_rows: np.ndarray
    predictions: dict[str, StoredPrediction]


def open_h5(path: Path) -> h5py.File:
    """Open read-only without HDF5's own file locking: the ``.lock`` file governs writers,
    and HDF5's flock fails outright on some network shares."""
    return h5py.File(path, "r", locking=False)


def _open_checked(path: Path) -> h5py.File:
    """Open ``path`` and check it is an Anatomark project of a version we read."""
    name = display_name(path)
    if path.is_dir():
        raise ProjectError(f"{name}: is a folder, not a project file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ProjectError(f"{name}: project file not found") from None
    except OSError as exc:
        raise ProjectError(f"{name}: cannot read the project file ({describe_os_error(exc)})") from exc
    if size == 0:
        raise ProjectError(f"{name}: the file is empty (0 bytes): not an Anatomark project")
    try:
        f = open_h5(path)
    except Exception as exc:
        text = str(exc)
        if "signature not found" in text:
            raise ProjectError(f"{name}: not an Anatomark project (not an HDF5 file)") from exc
        if "truncated" in text:
            raise ProjectError(f"{name}: the project file is incomplete (cut short while copying or "
                               f"saving); open a backup copy") from exc
        raise ProjectError(f"{name}: cannot open the project file ({describe_os_error(exc)})") from exc
    try:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if fmt != FORMAT_NAME:
            raise ProjectError(f"{name}: not an Anatomark project (an HDF5 file without the project format mark)")
        version = f.attrs.get("format_version")
        if not isinstance(version, (int, np.integer)) or int(version) < 1:
            raise ProjectError(f"{name}: damaged project file (format version {version!r} is not valid)")
        if int(version) > FORMAT_VERSION:
            raise ProjectError(f"{name}: saved by a newer Anatomark (project format version {int(version)}; "
                               f"this version reads up to {FORMAT_VERSION}): update Anatomark to open it")
    except BaseException:
        f.close()
        raise
    return f


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_project(path: Path) -> ProjectContents:
    """Load a project file; ProjectError (one line) for every problem."""
    f = _open_checked(path)
    try:
        with f:
            return _read(f)
    except ProjectError:
        raise
    except Exception as exc:  # KeyError, ValueError, OSError from h5py, SchemaError, ...
        raise ProjectError(f"{display_name(path)}: damaged project file ({describe_os_error(exc)}); it was not "
                           f"changed; 'anatomark project recover {display_name(path)} --out NEW' copies what is "
                           f"sound into a new file") from exc


def _read(f: h5py.File) -> ProjectContents:
    attrs = {k: (_text(v) if isinstance(v, (str, bytes)) else v.item() if isinstance(v, np.generic) else v)
             for k, v in f.attrs.items()}
    schema = LandmarkSchema.from_dict(json.loads(_text(f["schema"][()])))
    names = schema.landmarks
    strings = StringTable([_text(s) for s in f["strings"][()]])
    arrays = {f"{group}/{key}": f[group][key][()] for group in ("images", "landmarks") for key in f[group]}
    images = unpack_images(arrays, names, strings)
    log_rows = f["log"][()]
    if log_rows.dtype != LOG_DTYPE:
        log_rows = log_rows.astype(LOG_DTYPE)
    check_log(log_rows, len(strings), len(names))
    predictions = _read_predictions(f["predictions"], strings, len(names))
    known = {im.id for im in images}
    if not set(predictions) <= known:
        raise ValueError("cached predictions for images the project does not have")
    return ProjectContents(attrs, schema, images, strings, log_rows, predictions)


_TIME = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2}|Z)?$")
_IMAGE_ID = re.compile(rb"^[0-9a-f]{0,16}$")


def check_log(rows: np.ndarray, n_strings: int, n_landmarks: int) -> None:
    """Every history row readable: times ISO 8601, string codes in the table, landmark indexes in
    the schema, states known, positions finite where the state has one. A garbled row would
    otherwise open, be saved again and break reading the history later (issue 18); ValueError
    names the first bad row."""
    ok = sound_log_rows(rows, n_strings, n_landmarks)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"history row {i + 1} of {len(rows)} is garbled")


def sound_log_rows(rows: np.ndarray, n_strings: int, n_landmarks: int) -> np.ndarray:
    """(L,) bool: which history rows pass :func:`check_log`'s tests (recovery keeps those)."""
    if not len(rows):
        return np.zeros(0, dtype=bool)
    codes_ok = (rows["user"] >= 0) & (rows["user"] < n_strings) & (rows["action"] >= 0) & (rows["action"] < n_strings)
    codes_ok &= (rows["note"] == NO_STRING) | ((rows["note"] >= 0) & (rows["note"] < n_strings))
    landmark_ok = (rows["landmark"] >= -1) & (rows["landmark"] < n_landmarks)
    known_states = np.array(sorted(CODE_STATES) + [NO_STATE])
    positioned = np.array(sorted(code for code, state in CODE_STATES.items() if state.has_position))
    ok = codes_ok & landmark_ok
    for side in ("old", "new"):
        state = rows[f"{side}_state"]
        ok &= np.isin(state, known_states)
        with np.errstate(invalid="ignore"):
            xy = np.stack([rows[f"{side}_x"], rows[f"{side}_y"]], axis=1)
        has = np.isin(state, positioned)
        ok &= ~has | np.isfinite(xy).all(axis=1)
        ok &= has | np.isnan(xy).all(axis=1) | (state == NO_STATE)
    for i, (time, image) in enumerate(zip(rows["time"].tolist(), rows["image"].tolist())):
        if ok[i] and not (_TIME.match(time) and _IMAGE_ID.match(image)):
            ok[i] = False
    return ok


def _read_predictions(g: h5py.Group, strings: StringTable, k: int) -> dict[str, StoredPrediction]:
    ids = [i.decode("ascii") for i in g["id"][()]]
    if not ids:
        return {}
    cols = {key: g[key][()] for key in ("model", "created", "points", "soft_argmax", "refined", "confidence",
                                       "heatmap_to_image", "mask_classes")}
    m = len(ids)
    for key, shape in {"points": (m, k, 2), "soft_argmax": (m, k, 2), "refined": (m, k, 2),
                       "confidence": (m, k), "heatmap_to_image": (m, 2, 3)}.items():
        if cols[key].shape != shape:
            raise ValueError(f"predictions/{key} has shape {cols[key].shape}, expected {shape}")
    covariance = g["covariance"][()] if "covariance" in g else None  # absent in files of before 2026-11-23
    if covariance is not None and covariance.shape != (m, k, 2, 2):
        raise ValueError(f"predictions/covariance has shape {covariance.shape}, expected {(m, k, 2, 2)}")
    heatmaps, masks = g["heatmaps"], g["masks"]
    out = {}
    for i, image_id in enumerate(ids):
        if image_id not in heatmaps:
            raise ValueError(f"no heatmaps for the cached prediction of image {image_id}")
        out[image_id] = StoredPrediction(
            model_id=strings.get(int(cols["model"][i])) or "",
            created=_text(cols["created"][i]),
            points=cols["points"][i],
            soft_argmax=cols["soft_argmax"][i],
            refined=cols["refined"][i],
            confidence=cols["confidence"][i],
            heatmap_to_image=cols["heatmap_to_image"][i],
            mask_classes=tuple(json.loads(_text(cols["mask_classes"][i]))),
            has_masks=image_id in masks,
            on_disk=True,
            covariance=None if covariance is None or np.isnan(covariance[i]).all() else covariance[i],
        )
    return out


def read_prediction_arrays(path: Path, image_id: str, project_id: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Heatmaps (K, h, w) float32 and masks (C, H, W) bool or None of one image, from the file.

    ``project_id`` guards against reading another project that was copied
    over this path since it was opened.
    """
    name = display_name(path)
    try:
        with open_h5(path) as f:
            if _text(f.attrs.get("project_id", "")) != project_id:
                raise ProjectError(f"{name}: the project file was replaced by another project since it was "
                                   f"opened; cannot load the cached heatmaps")
            stored = f["predictions/heatmaps"][image_id]
            heatmaps = decode_heatmaps(stored[()], stored.attrs["peak"])
            masks_group = f["predictions/masks"]
            masks = masks_group[image_id][()].astype(bool) if image_id in masks_group else None
    except ProjectError:
        raise
    except Exception as exc:
        raise ProjectError(f"{name}: cannot read the cached heatmaps of image {image_id} "
                           f"({describe_os_error(exc)})") from exc
    return heatmaps, masks
