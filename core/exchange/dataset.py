"""A data set folder in an exchange format becomes a project's images and landmarks (issue 19 item 5).

``anatomark project import P --dataset DIR --format coco|labelme|isbi|csv``: the folder holds the
images and the format's annotations (COCO: one keypoints JSON; CSV: one table; labelme: one JSON per
image; ISBI: one ``.txt`` per image), as another tool or an Anatomark export (with the images copied
beside it) lays them out. The annotations are read with the format's reader (the same checks as
``import --file``); every image they name must be found in the folder (by file name or stem, in any
sub-folder) and decode, or nothing is added; then the images are added and the landmarks imported
(``importing.apply_import``). The caller saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.exchange.common import DATASET_FORMATS, ExchangeError, ImportedImage
from core.exchange.formats import read_file
from core.exchange.importing import ImportResult, apply_import

__all__ = ["DatasetContents", "annotations_of", "import_dataset", "read_dataset"]

#: Images named but not found, or not decodable, listed in the one-line refusal.
LISTED = 3


def annotations_of(folder: Path, fmt: str) -> Path:
    """The annotation file (csv, coco) or folder (labelme, isbi) of a data set folder in ``fmt``."""
    folder = Path(folder)
    if fmt not in DATASET_FORMATS:
        raise ExchangeError(f"a data set folder is read as {', '.join(DATASET_FORMATS)}, not {fmt}"
                            + ("; add the DICOM images, then import their reports as a file" if fmt == "dicom-sr" else ""))
    if not folder.is_dir():
        raise ExchangeError(f"{folder.name}: not a folder")
    if fmt in ("labelme", "isbi"):
        return folder
    suffix = ".csv" if fmt == "csv" else ".json"
    found = sorted(p for p in folder.glob(f"*{suffix}") if p.is_file())
    if fmt == "coco" and len(found) > 1:
        found = [p for p in found if _looks_like_coco(p)]
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise ExchangeError(f"{folder.name}: {what} {fmt} annotation files ({suffix}) at the top of the folder; "
                            f"expected one")
    return found[0]


def _looks_like_coco(path: Path) -> bool:
    try:
        head = path.read_bytes()[:65536]
    except OSError:
        return False
    return b'"annotations"' in head or b'"images"' in head


def _image_files(folder: Path) -> dict[str, Path]:
    """Lower-case file name and stem → the image file (the first one when two share a stem)."""
    from core.imaging import SUPPORTED_SUFFIXES

    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.setdefault(path.name.lower(), path)
            files.setdefault(path.stem.lower(), path)
    return files


@dataclass
class DatasetContents:
    """A checked data set folder: its annotation file, what it states per image, and the image files
    (in the order of ``images``, every one found and decodable)."""

    annotations: Path
    images: list[ImportedImage]
    paths: list[Path]


def read_dataset(folder: Path | str, fmt: str, schema) -> DatasetContents:
    """Read and check a data set folder without touching any project (the app runs this off the UI
    thread). ExchangeError when the annotations cannot be read, an image they name is not in the
    folder, or one does not decode."""
    from core.imaging import ImageLoadError, load_image

    folder = Path(folder)
    annotations = annotations_of(folder, fmt)
    images = read_file(annotations, fmt, schema)
    if not images:
        raise ExchangeError(f"{annotations.name}: names no image")
    files = _image_files(folder)
    paths, missing = [], []
    for item in images:
        key = item.key.replace("\\", "/")
        path = files.get(Path(key).name.lower()) or files.get(Path(key).stem.lower())
        (missing.append(item.key[:80]) if path is None else paths.append(path))
    if missing:
        raise ExchangeError(f"{folder.name}: {len(missing)} image(s) named by {annotations.name} are not in the folder: "
                            + ", ".join(missing[:LISTED]) + (" …" if len(missing) > LISTED else ""))
    broken = []
    for path in paths:
        try:
            load_image(path)
        except ImageLoadError as exc:
            broken.append(f"{path.name} ({str(exc).split(': ', 1)[-1][:60]})")
    if broken:
        raise ExchangeError(f"{folder.name}: {len(broken)} image(s) do not decode: " + ", ".join(broken[:LISTED])
                            + (" …" if len(broken) > LISTED else ""))
    return DatasetContents(annotations, images, paths)


def import_dataset(project, folder: Path | str, fmt: str, state: str = "corrected") -> ImportResult:
    """Add the images of a data set folder in ``fmt`` and import their landmarks (not saved);
    ExchangeError from :func:`read_dataset` before anything changes."""
    contents = read_dataset(folder, fmt, project.schema)
    for path in contents.paths:
        project.add_image(path)
    return apply_import(project, contents.images, fmt, contents.annotations, state)
