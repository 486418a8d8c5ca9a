"""Bundled schemas (``resources/schemas/*.json``) and loading schema JSON files."""

from __future__ import annotations

import json
from pathlib import Path

from core.resources import schemas_dir
from core.schema.elements import SchemaError
from core.schema.model import LandmarkSchema


def available_schemas() -> list[str]:
    """Names of the bundled schemas (``resources/schemas/*.json``), sorted."""
    folder = schemas_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_schema(name_or_path: str | Path) -> LandmarkSchema:
    """Load a bundled schema by name ("chest6") or a schema JSON file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".json") or "/" in text or "\\" in text:
        path = Path(name_or_path)
    else:
        path = schemas_dir() / f"{text}.json"
        if not path.is_file():
            known = ", ".join(available_schemas()) or "none"
            raise SchemaError(f"no bundled schema {text!r} (available: {known})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SchemaError(f"{path}: cannot read schema ({e.strerror or e})") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SchemaError(f"{path}: not valid JSON ({e})".replace("\n", " ")) from e
    try:
        return LandmarkSchema.from_dict(data)
    except SchemaError as e:
        raise SchemaError(f"{path.name}: {e}") from e
