"""Where bundled resources (schemas, models, samples) live.

The repository keeps them in the top-level ``resources/`` folder; an editable
install (``pip install -e .``) and a source checkout both find it next to the
``core`` package; a frozen bundle (PyInstaller, ``packaging/``) carries it as
``resources/`` in its data folder (``core.frozen.bundle_dir``). ``ANATOMARK_RESOURCES``
overrides the location (tests with private copies use it).
"""

from __future__ import annotations

import os
from pathlib import Path

from core.frozen import bundle_dir


def resources_dir() -> Path:
    """Folder holding ``schemas/``, ``models/`` and ``samples/``."""
    override = os.environ.get("ANATOMARK_RESOURCES")
    if override:
        return Path(override)
    bundle = bundle_dir()
    if bundle is not None:
        return bundle / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def schemas_dir() -> Path:
    return resources_dir() / "schemas"


def models_dir() -> Path:
    return resources_dir() / "models"


def samples_dir() -> Path:
    return resources_dir() / "samples"


def user_guide_dir() -> Path:
    """Folder of the user guide's Markdown pages and images (``user_guide/`` in a checkout or an
    editable install; ``user_guide/`` in a frozen bundle's data folder)."""
    bundle = bundle_dir()
    if bundle is not None:
        return bundle / "user_guide"
    return Path(__file__).resolve().parent.parent / "user_guide"


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the project checkout, or ``ANATOMARK_DATA``; None when absent.

    Only tests, benchmarks and training scripts use this: the product never
    ships or needs the research data sets.
    """
    override = os.environ.get("ANATOMARK_DATA")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


class ModelFileError(Exception):
    """A model file that cannot be used; ``str(e)`` is one human line."""


def weights_path(path: str | Path) -> Path:
    """The ``.pt`` of a model given as ``.pt``, ``.json`` or a folder holding one pair."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.pt"))
        if len(found) != 1:
            raise ModelFileError(f"{path}: expected one .pt model file in the folder, found {len(found)}")
        return found[0]
    return path.with_suffix(".pt")


def resolve_model(name_or_path: str | Path) -> Path:
    """A bundled model name (``chest6``) or a path → the weights path; ModelFileError if none."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".pt", ".json") or candidate.is_dir() or candidate.exists():
        pt = weights_path(candidate)
        if not pt.exists() or not pt.with_suffix(".json").exists():
            raise ModelFileError(f"{candidate}: no model there (need both {pt.name} and {pt.with_suffix('.json').name})")
        return pt
    bundled = models_dir() / f"{name_or_path}.pt"
    if bundled.exists():
        return bundled
    known = ", ".join(sorted(p.stem for p in models_dir().glob("*.pt"))) or "none"
    raise ModelFileError(f"no model named {name_or_path!r} (bundled: {known}); give a name or a path to a .pt file")
