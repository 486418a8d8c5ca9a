"""The model card, read once and typed (ADR 0002: ``<name>.json`` beside ``<name>.pt``).

A card is untrusted input: ``core.card_checks`` parses it (bounded JSON) and checks what the
loader and the predictor use before any weight is read. :class:`ModelCard` is the typed view
the rest of the code reads: the model's id, its schema, how to decode and score it
(``inference``, ``evaluation``), its anatomy reference, its calibration, its measurements. A
malformed optional field reads as its default rather than failing: the checks that matter ran
first. Writers (training, calibration, metrics) keep building the JSON dict (``ModelCard.data``).

No torch here: the app asks cards while it draws and while it starts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from core.card_checks import CardError, parse_card
from core.metrics import DEFAULT_RADII_MM, DEFAULT_RADII_PX
from core.resources import ModelFileError, models_dir, weights_path

#: The card format this version reads and writes.
FORMAT_VERSION = 1

__all__ = ["FORMAT_VERSION", "EvaluationSettings", "InferenceSettings",
           "ModelCard", "bundled_card", "card_path", "list_models", "read_card", "read_model_card"]


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _radii(value: Any, default: tuple[float, ...]) -> tuple[float, ...]:
    """Positive finite numbers as the card wrote them (3 stays 3: result keys are the radii), else ``default``."""
    if not isinstance(value, (list, tuple)) or not value:
        return tuple(default)
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in value)
    return tuple(value) if ok else tuple(default)


def _positive(value: Any, default: float, zero_ok: bool = False) -> float:
    """A positive (or, with ``zero_ok``, non-negative) finite number, else ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value) if math.isfinite(value) and (value > 0 or (zero_ok and value == 0)) else default


def _names(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, (list, tuple)) else ()


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class InferenceSettings:
    """How the model's heatmaps become points, and how wide its measurement uncertainty is."""

    decoder: str | None  # the final heatmaps' decoder; None: the predictor's default
    global_decoder: str | None  # the global heatmaps' decoder when it differs (regression heatmaps)
    uncertainty_scale: float  # calibrates the heatmap spread for measurements (core.measurements)
    confidence_radius: float  # heatmap px around the peak whose mass is the point's confidence
    patch_iterations: int  # passes re-centring each patch on its own answer

    @classmethod
    def parse(cls, entry: Any) -> InferenceSettings:
        entry = _dict(entry)
        # ``patch_decoder`` is the key of cards written before decoders were selectable.
        decoder = _text(entry.get("decoder")) or _text(entry.get("patch_decoder"))
        iterations = entry.get("patch_iterations", 1)
        return cls(decoder, _text(entry.get("global_decoder")),
                   _positive(entry.get("uncertainty_scale"), 1.0),
                   _positive(entry.get("confidence_radius"), 3.0, zero_ok=True),
                   iterations if isinstance(iterations, int) and not isinstance(iterations, bool) and 1 <= iterations <= 10
                   else 1)


@dataclass(frozen=True)
class EvaluationSettings:
    """How the model is scored: SDR radii, and the resolution its published figures are quoted at."""

    radii_px: tuple[float, ...]
    radii_mm: tuple[float, ...]
    reference_long_side: float | None  # e.g. 1024 for chests scored at the JSRT benchmark's size
    reference_radii_px: tuple[float, ...]

    @classmethod
    def parse(cls, entry: Any) -> EvaluationSettings:
        entry = _dict(entry)
        reference = entry.get("reference_long_side")
        if isinstance(reference, bool) or not isinstance(reference, (int, float)):
            reference = None
        return cls(_radii(entry.get("radii_px"), DEFAULT_RADII_PX), _radii(entry.get("radii_mm"), DEFAULT_RADII_MM),
                   reference if reference is not None and math.isfinite(reference) and reference > 0 else None,
                   _radii(entry.get("reference_radii_px"), (3, 6, 9)))


@dataclass(frozen=True)
class ModelCard:
    """The typed view of one card; ``data`` is the card as read (treat it as read-only)."""

    data: dict[str, Any]
    name: str
    version: str
    title: str
    date: str | None
    schema_name: str
    family: str
    mask_classes: tuple[str, ...]
    parent_version: str | None
    imported_from: str | None  # ``name@version`` of the installed model a project version was made from
    imported_sha256: str | None  # the weights it copied
    weights_sha256: str | None
    inference: InferenceSettings
    evaluation: EvaluationSettings

    @classmethod
    def parse(cls, card: Mapping[str, Any], fallback_name: str = "model") -> ModelCard:
        data = dict(card)
        arch = _dict(data.get("architecture"))
        imported = _dict(data.get("imported_from"))
        return cls(
            data=data,
            name=_text(data.get("name")) or fallback_name,
            version=_text(data.get("version")) or "0",
            title=_text(data.get("title")) or "",
            date=_text(data.get("date")),
            schema_name=_text(_dict(data.get("schema")).get("name")) or "?",
            family=_text(arch.get("family")) or "",
            mask_classes=_names(_dict(arch.get("global")).get("mask_classes")),
            parent_version=_text(data.get("parent_version")),
            imported_from=_text(imported.get("model")),
            imported_sha256=_text(imported.get("weights_sha256")),
            weights_sha256=_text(data.get("weights_sha256")),
            inference=InferenceSettings.parse(data.get("inference")),
            evaluation=EvaluationSettings.parse(data.get("evaluation")),
        )

    @property
    def model_id(self) -> str:
        """``name@version``, or the installed model's id for a project version that copies it (predictions,
        provenance and the bundled calibration lookup then name the same model)."""
        if self.imported_from and self.imported_sha256 == self.weights_sha256:
            return self.imported_from
        return f"{self.name}@{self.version}"

    @property
    def landmarks(self) -> tuple[str, ...]:
        """The schema's landmark names (schema files list them as names or as ``{"name": …}`` entries)."""
        content = _dict(_dict(self.data.get("schema")).get("content"))
        entries = content.get("landmarks")
        if not isinstance(entries, list):
            return ()
        return tuple(str(e["name"]) if isinstance(e, dict) and isinstance(e.get("name"), str) else str(e)
                     for e in entries if isinstance(e, (str, dict)))

    @property
    def anatomy(self) -> dict | None:
        """The anatomy reference (``core.anatomy``), unchecked; None without one."""
        entry = self.data.get("anatomy")
        return entry if isinstance(entry, dict) else None

    @property
    def conformal(self) -> dict | None:
        """The conformal calibration entry (``core.uncertainty.conformal``), unchecked; None without one."""
        entry = _dict(self.data.get("uncertainty")).get("conformal")
        return entry if isinstance(entry, dict) else None

    @property
    def validation(self) -> dict:
        """The before/after measurement a retraining run recorded (``metrics.validation``), or {}."""
        return _dict(_dict(self.data.get("metrics")).get("validation"))


def card_path(path: str | Path) -> Path:
    return weights_path(path).with_suffix(".json")


def read_card(path: str | Path) -> dict:
    """The model card as a dict; ModelFileError when missing, unreadable or of an unknown format."""
    path = card_path(path)
    try:
        card = parse_card(path.read_bytes())
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path.name}: model card missing") from exc
    except CardError as exc:
        raise ModelFileError(f"{path.name}: {exc}") from exc
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, text, or a 5000-digit number
        raise ModelFileError(f"{path.name}: model card unreadable ({exc.__class__.__name__})") from exc
    if not isinstance(card, dict) or card.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path.name}: not an Anatomark model card of format {FORMAT_VERSION}")
    return card


def read_model_card(path: str | Path) -> ModelCard:
    """:func:`read_card`, typed."""
    return ModelCard.parse(read_card(path), weights_path(path).stem)


def bundled_card(name: str) -> ModelCard | None:
    """The card of the installed model ``name`` (``chest6``), or None when there is none or it is
    unreadable. Cached per file and modification time: the app asks while drawing, and a card
    rewritten in place (``anatomark calibrate --out`` onto it) or another resources folder is seen."""
    path = models_dir() / f"{name}.json"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    return _card_at(str(path), stamp)


@functools.lru_cache(maxsize=32)
def _card_at(path: str, _stamp: int) -> ModelCard | None:
    try:
        return read_model_card(path)
    except ModelFileError:
        return None


def list_models(folder: Path | None = None) -> list[dict]:
    """Cards of the models in ``folder`` (default: bundled), with ``path``; unreadable ones report ``error``."""
    folder = folder or models_dir()
    cards = []
    for pt in sorted(folder.glob("*.pt")):
        try:
            card = read_card(pt)
        except ModelFileError as exc:
            card = {"name": pt.stem, "error": str(exc)}
        cards.append(dict(card, path=str(pt)))
    return cards
