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
from core.anatomy import AnatomyFit
from core.prediction import Prediction
from core.project.predictions import PredictionEntry, decode_heatmaps, read_only
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
    predictions: dict[str, PredictionEntry]


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
    predictions = _read_predictions(f["predictions"], strings, schema, {im.id: im for im in images})
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


def _optional_rows(g: h5py.Group, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """A per-entry array that files of before its addition lack (None then); ValueError if misshapen."""
    if name not in g:
        return None
    value = g[name][()]
    if value.shape != shape:
        raise ValueError(f"predictions/{name} has shape {value.shape}, expected {shape}")
    return value


def _anatomy(text: str) -> AnatomyFit | None:
    """The stored anatomy fit; None for none, or for one that does not parse (a cache: the app
    computes it again)."""
    if not text:
        return None
    try:
        d = json.loads(text)
        fit = AnatomyFit(str(d["model"]), str(d["anatomy"]), float(d["residual"]), float(d["typical"]))
    except (ValueError, KeyError, TypeError):
        return None
    return fit if np.isfinite([fit.residual, fit.typical]).all() else None


def _read_predictions(g: h5py.Group, strings: StringTable, schema: LandmarkSchema,
                      images: dict[str, ImageRecord]) -> dict[str, PredictionEntry]:
    ids = [i.decode("ascii") for i in g["id"][()]]
    if not ids:
        return {}
    if not set(ids) <= set(images):
        raise ValueError("cached predictions for images the project does not have")
    cols = {key: g[key][()] for key in ("model", "created", "points", "soft_argmax", "refined", "confidence",
                                       "heatmap_to_image", "mask_classes")}
    m, k = len(ids), schema.n_landmarks
    for key, shape in {"points": (m, k, 2), "soft_argmax": (m, k, 2), "refined": (m, k, 2),
                       "confidence": (m, k), "heatmap_to_image": (m, 2, 3)}.items():
        if cols[key].shape != shape:
            raise ValueError(f"predictions/{key} has shape {cols[key].shape}, expected {shape}")
    covariance = _optional_rows(g, "covariance", (m, k, 2, 2))  # absent in files of before 2026-11-23
    # Absent in files of before 2026-12-03: no regions (the overlay then asks the bundled card), soft-argmax.
    region_px, region_mm = _optional_rows(g, "region_px", (m, k, 3)), _optional_rows(g, "region_mm", (m, k, 3))
    coverage, decoder = _optional_rows(g, "coverage", (m,)), _optional_rows(g, "decoder", (m,))
    anatomy = _optional_rows(g, "anatomy", (m,))
    heatmaps, masks = g["heatmaps"], g["masks"]
    out = {}
    for i, image_id in enumerate(ids):
        if image_id not in heatmaps:
            raise ValueError(f"no heatmaps for the cached prediction of image {image_id}")
        calibrated = coverage is not None and region_px is not None and 0.0 < coverage[i] < 1.0
        image = images[image_id]
        summary = Prediction(
            model_id=strings.get(int(cols["model"][i])) or "", schema=schema.name, landmarks=tuple(schema.landmarks),
            image_size=tuple(image.size), spacing=image.spacing,
            points=read_only(cols["points"][i]), soft_argmax=read_only(cols["soft_argmax"][i]),
            refined=read_only(cols["refined"][i]), confidence=read_only(cols["confidence"][i]), heatmaps=None,
            heatmap_to_image=read_only(cols["heatmap_to_image"][i]),
            mask_classes=tuple(json.loads(_text(cols["mask_classes"][i]))),
            region_px=read_only(region_px[i]) if calibrated else None,
            coverage=float(coverage[i]) if calibrated else None,
            region_mm=read_only(region_mm[i]) if calibrated and region_mm is not None and not np.isnan(region_mm[i]).all() else None,
            decoder=(strings.get(int(decoder[i])) if decoder is not None else None) or "soft_argmax",
            anatomy=_anatomy(_text(anatomy[i])) if anatomy is not None else None,
            created=_text(cols["created"][i]),
        )
        out[image_id] = PredictionEntry(
            summary, has_masks=image_id in masks, on_disk=True,
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
