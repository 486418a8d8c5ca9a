"""Generic landmark CSV: one row per image.

Columns: ``id`` (the image's export name, see ``core.exchange.common``), ``<name>_x, <name>_y`` for every
landmark in schema order (image px to 0.001 px, empty without a position), then
``<name>_state`` (``predicted``, ``corrected``, ``verified``, ``absent``,
``missing``), ``<name>_confidence`` (the model's confidence in [0, 1] where a model
placed or once predicted the point, else empty) and ``<name>_source`` (who placed it:
``model:<id>``, ``user:<name>``, ``import:…``). On import the state, confidence and
source columns are optional (confidence and source are not read back: an import
records its own provenance), unknown columns are an error (usually a schema
mismatch), and ``id`` may also be a file stem or a project image id.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from pathlib import Path

from core.exchange.common import ExchangeError, ExportRow, ImportedImage, check_state, number, read_text, write_text


def _fmt(v: float) -> str:
    """A coordinate to 0.001 px (far below any annotator's precision), trailing zeros dropped."""
    return "" if not math.isfinite(v) else f"{float(v):.3f}".rstrip("0").rstrip(".")


def export(project, out: Path, rows: list[ExportRow]) -> list[Path]:
    names = project.schema.landmarks
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", *[f"{n}_{c}" for n in names for c in ("x", "y")], *[f"{n}_{c}" for c in ("state", "confidence", "source")
                                                                               for n in names]])
    for image, file_name, pts, states in rows:
        records = [image.landmarks[n] for n in names]
        confidences = ["" if r.confidence is None else f"{r.confidence:.3f}" for r in records]
        writer.writerow([file_name, *[_fmt(v) for p in pts for v in p], *states, *confidences, *[r.source for r in records]])
    return [write_text(out, buf.getvalue())]


def read(path: Path, schema) -> list[ImportedImage]:
    text = read_text(path, "CSV")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ExchangeError(f"{path.name}: not a valid CSV file ({exc})") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ExchangeError(f"{path.name}: empty CSV file")
    header = [h.strip() for h in rows[0]]
    if not header or header[0].lower() not in ("id", "image", "file"):
        raise ExchangeError(f"{path.name}: the first column must be 'id' (the image file name)")
    twice = sorted(h for h, n in Counter(header).items() if n > 1)  # one pass: headers may have 200k columns
    if twice:
        raise ExchangeError(f"{path.name}: column {twice[0][:40]!r} appears twice")
    col = {h: i for i, h in enumerate(header)}
    known = {"id", "image", "file"} | {f"{n}_{c}" for n in schema.landmarks for c in ("x", "y", "state", "confidence", "source")}
    unknown = [h for h in header[1:] if h not in known]
    if unknown:
        raise ExchangeError(f"{path.name}: column {unknown[0][:40]!r} names no landmark of schema {schema.name!r}")
    lone = [n for n in schema.landmarks if (f"{n}_x" in col) != (f"{n}_y" in col)]
    if lone:
        raise ExchangeError(f"{path.name}: {lone[0]} has an _x or a _y column but not both")
    present = [n for n in schema.landmarks if f"{n}_x" in col and f"{n}_y" in col]
    if not present:
        raise ExchangeError(f"{path.name}: no <landmark>_x, <landmark>_y columns for schema {schema.name!r}")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ExchangeError(f"{path.name} line {line}: {len(row)} fields, the header has {len(header)}")
        key = row[0].strip()
        if not key:
            raise ExchangeError(f"{path.name} line {line}: empty id")
        item = ImportedImage(key)
        for n in present:
            xs, ys = row[col[f"{n}_x"]].strip(), row[col[f"{n}_y"]].strip()
            state = check_state(row[col[f"{n}_state"]], f"{path.name} line {line}") if f"{n}_state" in col else None
            if xs == "" and ys == "":
                x = y = math.nan
            else:
                x, y = (number(v, f"{path.name} line {line} {n}") for v in (xs, ys))
            if math.isnan(x) != math.isnan(y):
                raise ExchangeError(f"{path.name} line {line}: {n} has only one coordinate")
            if math.isnan(x) and state in ("predicted", "corrected", "verified"):
                raise ExchangeError(f"{path.name} line {line}: {n} is {state} but has no position")
            item.points[n] = (x, y, state)
        out.append(item)
    return out
