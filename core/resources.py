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
