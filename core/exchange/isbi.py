"""The ISBI 2015 cephalometric layout: a folder of ``<image stem>.txt``, one ``x,y`` line per landmark.

As in the challenge's annotation files, the first K lines (K = 19 for
``ceph19``) are the landmarks in schema order, in pixels of the image the
landmarks were placed on (the challenge's files are in their 1935×2400 source
pixels; ours are in the project image's pixels, origin at the top-left pixel
centre). Integral values are written as integers, others with full precision.
Lines after the K-th (the challenge adds classification labels there) are
ignored on import, unless the next one is another ``x,y`` pair: then the file
has more landmarks than the schema (written for another schema) and is refused. The format has no states and no "absent": images with a
landmark lacking a position are skipped on export.
"""

from __future__ import annotations

import math
from pathlib import Path

from core.exchange.common import ExchangeError, ExportRow, ImportedImage, number, read_text, write_text


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def export(project, out: Path, rows: list[ExportRow]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for _image, file_name, pts, _states in rows:
        if not all(math.isfinite(v) for v in pts.ravel()):
            continue
        text = "".join(f"{_fmt(x)},{_fmt(y)}\n" for x, y in pts)
        written.append(write_text(out / f"{Path(file_name).stem}.txt", text, encoding="ascii"))
    if not written:
        raise ExchangeError("ISBI export: no image has every landmark placed (the format cannot say 'absent')")
    return written


def read_one(path: Path, schema) -> ImportedImage:
    lines = [ln.strip() for ln in read_text(path, "ISBI annotation").splitlines()]
    k = schema.n_landmarks
    if len(lines) < k:
        raise ExchangeError(f"{path.name}: {len(lines)} lines, expected {k} 'x,y' lines for schema {schema.name!r}")
    item = ImportedImage(path.stem)
    for i, (name, line) in enumerate(zip(schema.landmarks, lines[:k]), start=1):
        parts = line.replace(" ", "").split(",")
        if len(parts) != 2:
            raise ExchangeError(f"{path.name} line {i}: expected 'x,y', got {line[:40]!r}")
        x, y = (number(v, f"{path.name} line {i}") for v in parts)
        item.points[name] = (x, y, None)
    if len(lines) > k and _is_pair(lines[k]):
        raise ExchangeError(f"{path.name}: more than {k} 'x,y' lines: not written for schema {schema.name!r}")
    return item


def _is_pair(line: str) -> bool:
    parts = line.replace(" ", "").split(",")
    try:
        [float(v) for v in parts]
    except ValueError:
        return False
    return len(parts) == 2


def read(path: Path, schema) -> list[ImportedImage]:
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise ExchangeError(f"{path.name}: no .txt annotation files in the folder")
        return [read_one(f, schema) for f in files]
    return [read_one(path, schema)]
