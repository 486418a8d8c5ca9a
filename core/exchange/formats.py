"""Format name → module, and the two entry points the CLI and the app share.

``export_project`` writes; ``plan_file`` reads and checks an import without
changing the project (the app turns the plan into one undo step);
``import_file`` reads, checks and applies (the CLI then saves).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.exchange.common import EXPORT_FORMATS, IMPORT_FORMATS, ExchangeError, export_rows
from core.exchange.importing import ImportPlan, ImportResult, apply_import, plan_import


def _module(fmt: str):
    from core.exchange import coco, csv_format, dicom_sr, isbi, labelme

    modules = {"csv": csv_format, "coco": coco, "labelme": labelme, "isbi": isbi, "dicom-sr": dicom_sr}
    if fmt not in modules:
        raise ExchangeError(f"unknown format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})")
    return modules[fmt]


def export_project(project, fmt: str, out: Path | str, include_identifiers: bool = False,
                   reviewed_only: bool = False) -> list[Path]:
    """Write ``project``'s landmarks in ``fmt`` to ``out`` (a file for csv/coco, a folder otherwise).

    By default (anonymised) images are named by their content id
    (``<image id><suffix>``) and a DICOM SR gets pseudonyms for the patient;
    ``include_identifiers`` (the user's explicit opt-in) writes the source file
    names and copies the source's patient and study attributes into DICOM SRs.
    ``reviewed_only``: only images a person has reviewed (``ImageRecord.reviewed``, the training data rule).
    Returns the files written.
    """
    module = _module(fmt)
    if not project.images:
        raise ExchangeError("the project has no images to export")
    rows = export_rows(project, include_identifiers, reviewed_only)
    if not rows:
        raise ExchangeError("no image of the project is reviewed yet: nothing to export")
    out = Path(out)
    extra = {"include_identifiers": include_identifiers} if fmt == "dicom-sr" else {}
    if fmt in FILE_FORMATS:
        return module.export(project, out, rows, **extra)  # one file, published atomically
    return _all_or_nothing(out, lambda folder: module.export(project, folder, rows, **extra))


#: Formats that write one file; the others write a folder of files.
FILE_FORMATS = ("csv", "coco")


def _all_or_nothing(out: Path, write) -> list[Path]:
    """Run ``write(folder)`` into a hidden sibling of ``out``, and only when every file is written move
    them into ``out``: an export that fails midway (disk full, a bad point) leaves ``out`` as it was,
    never old and new files mixed."""
    scratch = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        written = write(scratch)
        out.mkdir(parents=True, exist_ok=True)
        final = []
        for path in written:
            target = out / path.relative_to(scratch)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            final.append(target)
        return final
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def read_file(path: Path | str, fmt: str, schema) -> list:
    """The images and points a file states (``ImportedImage`` list); ExchangeError when it cannot be read."""
    if fmt not in IMPORT_FORMATS:
        raise ExchangeError(f"cannot import format {fmt!r} (one of {', '.join(IMPORT_FORMATS)})")
    return _module(fmt).read(Path(path), schema)


def image_keys(project, fmt: str) -> dict[str, str] | None:
    """The names a format's files give the project's images beyond file name and id (a DICOM SR:
    the SOP Instance UID of the image it reports on), or None."""
    module = _module(fmt)
    return module.image_keys(project) if hasattr(module, "image_keys") else None


def plan_file(project, path: Path | str, fmt: str, state: str = "corrected") -> ImportPlan:
    """Read ``path`` and check it against ``project``: what importing it would change (nothing changes)."""
    return plan_import(project, read_file(path, fmt, project.schema), fmt, path, state, image_keys(project, fmt))


def import_file(project, path: Path | str, fmt: str, state: str = "corrected") -> ImportResult:
    """Read ``path`` in ``fmt`` and apply it to ``project`` (see :func:`plan_import`); not saved."""
    return apply_import(project, read_file(path, fmt, project.schema), fmt, path, state, image_keys(project, fmt))
