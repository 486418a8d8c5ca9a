"""Landmark exchange formats: export a project's landmarks, import landmarks into a project.

One module per format, each with ``export(project, out, ...)`` and (except
``dicom_sr``) ``read(path, schema) -> list[ImportedImage]``:

- ``csv_format``: generic CSV, ``id, <name>_x, <name>_y, <name>_state`` per image.
- ``coco``: COCO keypoints JSON (visibility 0/1/2, categories with the schema's skeleton).
- ``labelme``: labelme JSON, one file per image, one ``point`` shape per landmark.
- ``isbi``: the ISBI 2015 cephalometric layout, one ``<image stem>.txt`` of ``x,y`` lines.
- ``dicom_sr``: DICOM Comprehensive SR, one per image, landmarks as SCOORD POINTs that
  reference the source image's SOP Instance UID, measurements as NUMs (export only).

Coordinates are (x, y) full-resolution image pixels, origin at the centre of the
top-left pixel (ADR 0001), in every format except DICOM SR, whose SCOORDs put
the origin at the pixel's top-left corner (+0.5 on export). Every problem with
a file is an :class:`ExchangeError` with a one-line message. No Qt here.

Exports are anonymised unless the caller opts in (``include_identifiers``):
images are named by their content id, never by their source file name (see
``core.exchange.common``). Imports are checked whole before anything changes
(``core.exchange.importing``).
"""

from __future__ import annotations

from core.exchange.common import EXPORT_FORMATS, IMPORT_FORMATS, ExchangeError, ImportedImage
from core.exchange.formats import export_project, import_file, plan_file, read_file
from core.exchange.importing import IMPORT_STATES, ImportChange, ImportPlan, ImportResult, apply_import, plan_import

__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "IMPORT_STATES",
    "ExchangeError",
    "ImportChange",
    "ImportPlan",
    "ImportResult",
    "ImportedImage",
    "apply_import",
    "export_project",
    "import_file",
    "plan_file",
    "plan_import",
    "read_file",
]
