"""Model files: weights (``<name>.pt``) + model card (``<name>.json``), ADR 0002.

Weights are a flat ``state_dict`` loaded only with ``torch.load(weights_only=True)``;
the card says what the weights are (schema, architecture, data, metrics,
parent version) and carries the weights' SHA-256, so a truncated, swapped or
foreign file is refused before any tensor is used. The card itself is untrusted
input (``core.card_checks``): bounded, every field checked, and bound to the
weights it was saved with.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from core.atomic import atomic_write_bytes, atomic_write_text
from core.card_checks import CardError, card_binding, check_card
from core.models import PatchNet, PatchNetConfig, build_global_net
from core.model_card import FORMAT_VERSION, ModelCard, card_path, read_card
from core.resources import ModelFileError, weights_path
from core.schema import LandmarkSchema, SchemaError

INTENDED_USE = "research use, not for clinical decisions"
#: The entry of a weights file that holds its card's ``binding`` (``core.card_checks.card_binding``);
#: files saved before it existed have none and load on the card checks alone.
BINDING_KEY = "__anatomark_card_binding__"


def schema_hash(schema: LandmarkSchema) -> str:
    """SHA-256 of what a model depends on: landmark names and order, pairs, levels, edges, classes."""
    content = {
        "landmarks": list(schema.landmarks),
        "pairs": [list(p) for p in schema.pairs],
        "levels": [list(level) for level in schema.levels],
        "edges": [list(e) for e in schema.edges],
        "segmentation_classes": [c.name for c in schema.segmentation_classes],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(path: str | Path, state_dict: dict[str, torch.Tensor], card: dict) -> Path:
    """Publish weights then card atomically; fills ``format_version`` and ``weights_sha256``."""
    pt = Path(path).with_suffix(".pt")
    binding = card_binding(card)
    buffer = io.BytesIO()
    torch.save({BINDING_KEY: binding} | {k: v.detach().cpu().contiguous() for k, v in state_dict.items() if k != BINDING_KEY}, buffer)
    data = buffer.getvalue()
    card = dict(card, format_version=FORMAT_VERSION, weights_sha256=_sha256(data), binding=binding)
    card.setdefault("intended_use", INTENDED_USE)
    atomic_write_bytes(pt, data)
    atomic_write_text(pt.with_suffix(".json"), json.dumps(card, indent=1, sort_keys=False) + "\n")
    return pt


@dataclass
class LoadedModel:
    path: Path
    card: dict  # the card as read, for writing a derived card; read it through ``info``
    schema: LandmarkSchema
    global_net: torch.nn.Module  # LandmarkNet, SegNet or FARNet (core.models.GLOBAL_NETS)
    patch_net: PatchNet | None
    info: ModelCard  # the card, typed (parsed once, when the model is loaded)

    @property
    def model_id(self) -> str:
        """``name@version``; a model imported into a project as a version (``ModelRegistry.import_model``)
        keeps the id of the model it copies (``ModelCard.model_id``)."""
        return self.info.model_id


def load_model(path: str | Path, device: torch.device | str = "cpu", expected_schema: LandmarkSchema | None = None) -> LoadedModel:
    """Verify and load a model file; every failure is a ModelFileError with a reason."""
    pt = weights_path(path)
    card = read_card(pt)
    try:
        data = pt.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{pt.name}: cannot read weights ({exc.strerror or exc})") from exc
    if _sha256(data) != card.get("weights_sha256"):
        raise ModelFileError(f"{pt.name}: weights do not match the model card's checksum (truncated or replaced file)")
    try:
        schema = LandmarkSchema.from_dict(card["schema"]["content"])
    except (KeyError, TypeError, SchemaError) as exc:
        raise ModelFileError(f"{pt.name}: model card has no valid schema ({exc})") from exc
    if schema_hash(schema) != card["schema"].get("hash"):
        raise ModelFileError(f"{pt.name}: model card's schema does not match its hash")
    if expected_schema is not None and schema_hash(expected_schema) != schema_hash(schema):
        raise ModelFileError(f"{pt.name}: model is for schema {schema.name!r}, not {expected_schema.name!r}")
    try:
        check_card(card, schema.n_landmarks)  # untrusted: sizes, counts, settings (core.card_checks)
    except CardError as exc:
        raise ModelFileError(f"{pt.name}: {exc}") from exc
    try:
        state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our weights"
        raise ModelFileError(f"{pt.name}: weights refused by the safe loader ({exc.__class__.__name__})") from exc
    if not isinstance(state, dict):
        raise ModelFileError(f"{pt.name}: weights are not a state_dict ({type(state).__name__})")
    bound = state.pop(BINDING_KEY, None)
    if bound is not None and (bound != card_binding(card) or card.get("binding") != bound):
        raise ModelFileError(f"{pt.name}: the model card was changed after the weights were saved "
                             f"(its schema or architecture no longer match them)")
    arch = card.get("architecture", {})
    try:
        global_net = build_global_net(arch["global"])
        global_net.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("global.")})
        patch_net = None
        if arch.get("patch"):
            patch_net = PatchNet(PatchNetConfig.from_dict(arch["patch"]))
            patch_net.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("patch.")})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{pt.name}: weights do not fit the card's architecture ({exc.__class__.__name__})") from exc
    global_net.to(device).eval()
    if patch_net is not None:
        patch_net.to(device).eval()
    return LoadedModel(pt, card, schema, global_net, patch_net, ModelCard.parse(card, pt.stem))


def combined_state_dict(global_net: torch.nn.Module, patch_net: torch.nn.Module | None) -> dict[str, torch.Tensor]:
    state = {f"global.{k}": v for k, v in global_net.state_dict().items()}
    if patch_net is not None:
        state.update({f"patch.{k}": v for k, v in patch_net.state_dict().items()})
    return state


def republish(src: str | Path, out: str | Path, card: dict) -> Path:
    """Write ``out`` with ``src``'s weights byte for byte and a new ``card``; in place when ``out`` is ``src``.

    For card-only changes (a calibration, notes): the weights are verified
    against ``src``'s checksum first and that checksum is kept, so the new
    file loads exactly as the old one did. Both files are published atomically
    (weights first, so a crash leaves no card pointing at missing weights).
    """
    pt = weights_path(src)
    old = read_card(pt)
    data = pt.read_bytes()
    if _sha256(data) != old.get("weights_sha256"):
        raise ModelFileError(f"{pt.name}: weights do not match the model card's checksum (truncated or replaced file)")
    target = Path(out).with_suffix(".pt")
    if target.resolve() != pt.resolve():
        atomic_write_bytes(target, data)
    card = dict(card, format_version=FORMAT_VERSION, weights_sha256=old["weights_sha256"])
    if "binding" in old:  # the weights keep theirs: the new card must say the same
        card["binding"] = old["binding"]
    atomic_write_text(target.with_suffix(".json"), json.dumps(card, indent=1) + "\n")
    return target


def record_coverage_check(path: str | Path, check: dict) -> None:
    """Store the held-out coverage of the card's conformal regions as ``uncertainty.coverage_check``
    (weights untouched). Refused for a card without a calibration."""
    card = read_card(path)
    uncertainty = dict(card.get("uncertainty") or {})
    if "conformal" not in uncertainty:
        raise ModelFileError(f"{card_path(path).name}: no conformal calibration to record a coverage check for")
    uncertainty["coverage_check"] = check
    card["uncertainty"] = uncertainty
    atomic_write_text(card_path(path), json.dumps(card, indent=1) + "\n")


def record_metrics(path: str | Path, key: str, summary: dict, headline: dict | None = None) -> None:
    """Store an evaluation summary in the model card under ``metrics[key]`` (atomic rewrite).

    The weights and their checksum are untouched; ``headline`` (a few named
    figures) is what ``anatomark models`` prints.
    """
    card = read_card(path)
    metrics = dict(card.get("metrics", {}))
    metrics[key] = summary
    if headline:
        metrics["headline"] = dict(metrics.get("headline", {}), **headline)
    card["metrics"] = metrics
    atomic_write_text(card_path(path), json.dumps(card, indent=1) + "\n")
