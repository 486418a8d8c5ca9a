"""Recovering a damaged project: copy what is sound into a new file, never over the damaged one.

A project file that fails its checks on open is refused and left byte-identical (guarantees.md).
``recover_project`` reads it raw, keeps every part that passes the same checks — the schema, the
images with their landmarks and review states, the history rows that are sound — and writes a
new project file beside it, saying what it dropped: garbled history rows, strings that are not
text (replaced by ``"?"``), the learning record, and the cached predictions (a cache: predicting
again restores them; the landmarks they produced are kept with the images).

``anatomark project recover DAMAGED --out NEW`` runs it; nothing happens without ``--out``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_bytes
from core.project.errors import ProjectError, describe_os_error, display_name
from core.project.layout import LOG_DTYPE, StringTable
from core.project.packing import unpack_images
from core.project.reader import open_h5, sound_log_rows
from core.project.records import utc_now
from core.project.writer import Snapshot, build_project_file
from core.schema import LandmarkSchema

__all__ = ["RecoveryReport", "recover_project"]


@dataclass
class RecoveryReport:
    """What a recovery kept and dropped; ``lines()`` says it to a person."""

    out: Path
    images: int = 0
    log_rows_kept: int = 0
    log_rows_dropped: int = 0
    strings_replaced: int = 0
    predictions_dropped: int = 0
    dropped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"recovered {self.images} images with their landmarks into {self.out.name}",
               f"history: {self.log_rows_kept} rows kept, {self.log_rows_dropped} garbled rows dropped"]
        if self.strings_replaced:
            out.append(f"{self.strings_replaced} damaged names (users, sources, notes) replaced by '?'")
        if self.predictions_dropped:
            out.append(f"{self.predictions_dropped} cached predictions dropped (predict again to restore them)")
        out += self.dropped
        return out


def _text(value: object) -> str | None:
    try:
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError:
        return None


def recover_project(damaged: Path | str, out: Path | str) -> RecoveryReport:
    """Write the sound parts of ``damaged`` to the new file ``out`` (which must not exist).

    ProjectError (one line) when nothing can be recovered (not an HDF5 file, schema or image
    table unreadable) or ``out`` exists or cannot be written; ``damaged`` is only ever read.
    """
    damaged, out = Path(damaged), Path(out)
    name = display_name(damaged)
    if out.exists():
        raise ProjectError(f"{display_name(out)}: already exists; recovery writes a new file")
    if out.resolve() == damaged.resolve():
        raise ProjectError(f"{name}: recovery never writes over the damaged file; give another --out")
    report = RecoveryReport(out)
    try:
        f = open_h5(damaged)
    except Exception as exc:
        raise ProjectError(f"{name}: nothing recoverable (not readable as a project file: {describe_os_error(exc)})") from exc
    with f:
        try:
            schema = LandmarkSchema.from_dict(json.loads(_text(f["schema"][()]) or ""))
        except Exception as exc:
            raise ProjectError(f"{name}: nothing recoverable (the landmark schema is damaged)") from exc
        try:
            raw_strings = [_text(s) for s in f["strings"][()]] if "strings" in f else []
        except Exception as exc:  # the table itself unreadable: names become "?" through the codes
            raise ProjectError(f"{name}: nothing recoverable (the names table is damaged: {describe_os_error(exc)})") from exc
        report.strings_replaced = sum(s is None for s in raw_strings)
        strings = StringTable(["?" if s is None else s for s in raw_strings])
        try:
            arrays = {f"{group}/{key}": f[group][key][()] for group in ("images", "landmarks") for key in f[group]}
            images = unpack_images(arrays, schema.landmarks, strings)
        except Exception as exc:
            raise ProjectError(f"{name}: nothing recoverable (the image table is damaged: {describe_os_error(exc)})") from exc
        report.images = len(images)
        try:
            rows = f["log"][()].astype(LOG_DTYPE)
        except Exception:
            rows = np.zeros(0, dtype=LOG_DTYPE)
            report.dropped.append("the history could not be read at all: it starts anew")
        ok = sound_log_rows(rows, len(strings), schema.n_landmarks)
        report.log_rows_kept, report.log_rows_dropped = int(ok.sum()), int((~ok).sum())
        rows = rows[ok]
        try:
            report.predictions_dropped = len(f["predictions"]["id"][()])
        except Exception:
            report.predictions_dropped = 0
        try:
            created = _text(f.attrs.get("created", "")) or utc_now()
            had_learning = "learning" in f.attrs
        except Exception:
            created, had_learning = utc_now(), True
        attrs = {"project_id": uuid.uuid4().hex, "created": created, "revision": 1,
                 "recovered_from": damaged.name, "recovered": utc_now()}
        if had_learning:
            report.dropped.append("the learning record (validation subset, current version) was not carried over: "
                                  "choose the model again in the new project")
    snap = Snapshot(attrs=attrs, schema_json=json.dumps(schema.to_dict()), names=schema.landmarks, images=images,
                    strings=strings, log_rows=rows, predictions={}, source=None)
    try:
        image, _ = build_project_file(snap)
        atomic_write_bytes(out, image)
    except Exception as exc:
        raise ProjectError(f"{display_name(out)}: could not write the recovered project ({describe_os_error(exc)})") from exc
    return report
