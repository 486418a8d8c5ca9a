"""A model card is untrusted input: every field the loader and the predictor use is checked first.

A card travels with its weights, from other sites and other tools; its checksum covers only the
weights, and anybody can recompute the schema hash. So before a network is built from it:

- the file is at most ``MAX_CARD_BYTES`` and nested at most ``MAX_DEPTH`` deep (a card of
  200,000 ``[`` is refused, not a ``RecursionError``);
- every size is a whole number in a sane range (an ``input_size`` of 60000² would allocate 14 GB
  at the first prediction), every number finite;
- the networks' landmark counts equal the schema's: ceph19 weights under a chest6 schema (hash
  recomputed) would otherwise "predict" six wrong points with exit 0;
- the inference settings are of the known kinds and in range;
- a card written by this version carries ``binding``, a hash of what the weights were saved with
  (schema hash, architecture, input size), also stored *inside* the weights file: a card edited
  after saving no longer matches the weights it sits beside (:func:`card_binding`).

Each failure is a :class:`core.modelfile.ModelFileError`-compatible one-line message.
"""

from __future__ import annotations

import hashlib
import json
import math

__all__ = ["MAX_CARD_BYTES", "MAX_DEPTH", "CardError", "card_binding", "check_card", "parse_card"]

MAX_CARD_BYTES = 32 * 1024 * 1024  # the largest bundled card is ~60 kB (history, metrics)
MAX_DEPTH = 64
MAX_INPUT_SIDE = 4096
MIN_INPUT_SIDE = 8
MAX_WIDTH = 512
MAX_DEPTH_LEVELS = 8
MAX_PATCH = 1024
DECODERS = ("soft_argmax", "argmax", "local_soft_argmax", "blob")
#: The card fields the weights were saved with; ``binding`` hashes them.
BOUND_FIELDS = ("architecture", "input_size")


class CardError(ValueError):
    """A card field that cannot be trusted; ``str(e)`` is the reason, without the file name."""


def _brackets_depth(text: str) -> int:
    """Maximum bracket nesting of JSON text, strings skipped; checked before ``json.loads`` recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_card(data: bytes) -> object:
    """JSON of a card file, bounded in size and nesting; CardError otherwise."""
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"model card is {len(data) / 2**20:.0f} MB, more than a card can be ({MAX_CARD_BYTES // 2**20} MB)")
    text = data.decode("utf-8")
    if _brackets_depth(text) > MAX_DEPTH:
        raise CardError(f"model card is nested more than {MAX_DEPTH} levels deep")
    return json.loads(text)


def _int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CardError(f"model card's {name} must be a whole number from {low} to {high}, got {str(value)[:40]}")
    return value


def _number(value, name: str, low: float, high: float, above: bool = False) -> float:
    """``value`` as a finite float in [low, high] (``above``: strictly above ``low``); CardError otherwise."""
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer of hundreds of digits
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high or (above and number <= low):
        bound = f"above {low:g}" if above else f"from {low:g}"
        raise CardError(f"model card's {name} must be a number {bound} to {high:g}, got {str(value)[:40]}")
    return number


def _size(value, name: str, high: int = MAX_INPUT_SIDE) -> None:
    if not isinstance(value, list) or len(value) != 2:
        raise CardError(f"model card's {name} must be [height, width], got {str(value)[:40]}")
    for side in value:
        _int(side, name, MIN_INPUT_SIDE, high)


def _check_network(config, part: str, n_landmarks: int) -> None:
    if not isinstance(config, dict):
        raise CardError(f"model card's architecture.{part} must be an object")
    if _int(config.get("n_landmarks"), f"architecture.{part}.n_landmarks", 1, 10_000) != n_landmarks:
        raise CardError(f"the {part} network predicts {config['n_landmarks']} landmarks but the card's schema has "
                        f"{n_landmarks}: these weights are not for this schema")
    for key in ("width", "growth", "init_features", "fr_channels", "refiner_hidden"):
        if key in config:
            _int(config[key], f"architecture.{part}.{key}", 1, MAX_WIDTH if key != "refiner_hidden" else 4096)
    if "depth" in config:
        _int(config["depth"], f"architecture.{part}.depth", 1, MAX_DEPTH_LEVELS)
    for key in ("blocks", "msfa_channels"):
        if key in config:
            if not isinstance(config[key], list) or not 1 <= len(config[key]) <= 8:
                raise CardError(f"model card's architecture.{part}.{key} must be a short list")
            for v in config[key]:
                _int(v, f"architecture.{part}.{key}", 1, 1024)
    for key in ("temperature", "heatmap_sigma", "fine_scale", "target_scale"):  # divided by: must be above 0
        if key in config:
            _number(config[key], f"architecture.{part}.{key}", 0.0, 1e4, above=True)
    for key in ("refiner_noise", "decode_radius"):
        if key in config:
            _number(config[key], f"architecture.{part}.{key}", 0.0, 1e4)
    if "heatmap_gamma" in config:  # γ of adaptive targets: peak × 2πσ², e.g. 100 × 2π × 4² ≈ 10⁴
        _number(config["heatmap_gamma"], f"architecture.{part}.heatmap_gamma", 0.0, 1e7)
    if config.get("adjacency"):  # empty for a network without a refiner
        adjacency = config["adjacency"]
        if not isinstance(adjacency, list) or len(adjacency) != n_landmarks or any(
                not isinstance(row, list) or len(row) != n_landmarks for row in adjacency):
            raise CardError(f"model card's architecture.{part}.adjacency must be {n_landmarks}×{n_landmarks}")
        for row in adjacency:
            for v in row:
                _number(v, f"architecture.{part}.adjacency", -1e3, 1e3)
    if "landmark_classes" in config and (not isinstance(config["landmark_classes"], list) or len(config["landmark_classes"]) != n_landmarks):
        raise CardError(f"model card's architecture.{part}.landmark_classes must list {n_landmarks} classes")


def check_card(card: dict, n_landmarks: int) -> None:
    """Every field the loader and the predictor read, for a schema of ``n_landmarks``; CardError otherwise."""
    arch = card.get("architecture")
    if not isinstance(arch, dict):
        raise CardError("model card has no architecture")
    if "global" not in arch:
        raise CardError("model card's architecture has no global network")
    _check_network(arch["global"], "global", n_landmarks)
    _size(arch["global"].get("input_size"), "architecture.global.input_size")
    if "input_size" in card and card["input_size"] != arch["global"]["input_size"]:
        raise CardError("model card's input_size differs from its architecture's")
    if arch.get("patch"):
        patch = arch["patch"]
        _check_network(patch, "patch", n_landmarks)
        _int(patch.get("patch_size"), "architecture.patch.patch_size", MIN_INPUT_SIDE, MAX_PATCH)
        _number(patch.get("fine_scale", 0.5), "architecture.patch.fine_scale", 0.01, 4.0)
        if patch.get("fine_mm_per_px") is not None:
            _number(patch["fine_mm_per_px"], "architecture.patch.fine_mm_per_px", 1e-3, 100.0)
    inference = card.get("inference", {})
    if not isinstance(inference, dict):
        raise CardError("model card's inference must be an object")
    for key in ("decoder", "patch_decoder", "global_decoder"):
        if key in inference and inference[key] is not None and inference[key] not in DECODERS:
            raise CardError(f"model card's inference.{key} {str(inference[key])[:40]!r} is not one of {', '.join(DECODERS)}")
    if "patch_iterations" in inference:
        _int(inference["patch_iterations"], "inference.patch_iterations", 1, 10)
    for key, high in (("confidence_radius", 1e3), ("uncertainty_scale", 1e3)):
        if key in inference:
            _number(inference[key], f"inference.{key}", 0.0, high)
    _check_uncertainty(card.get("uncertainty"), n_landmarks)
    if card.get("anatomy") is not None:
        from core.anatomy import check_reference

        try:
            check_reference(card["anatomy"], n_landmarks)
        except ValueError as exc:
            raise CardError(f"model card's {exc}") from None
    imported = card.get("imported_from")
    if imported is not None and (not isinstance(imported, dict) or not all(isinstance(imported.get(k, ""), str)
                                                                           for k in ("model", "weights_sha256"))):
        raise CardError("model card's imported_from must name a model and its weights' checksum")


def _check_uncertainty(uncertainty, n_landmarks: int) -> None:
    """The conformal calibration the predictor draws regions with (``core.uncertainty.conformal.ConformalCalibration``)."""
    if uncertainty is None:
        return
    if not isinstance(uncertainty, dict):
        raise CardError("model card's uncertainty must be an object")
    conformal = uncertainty.get("conformal")
    if conformal is None:
        return
    if not isinstance(conformal, dict):
        raise CardError("model card's uncertainty.conformal must be an object")
    _number(conformal.get("alpha"), "uncertainty.conformal.alpha", 0.0, 1.0, above=True)
    _int(conformal.get("n"), "uncertainty.conformal.n", 0, 10**9)
    landmarks, quantiles = conformal.get("landmarks"), conformal.get("quantiles")
    if not isinstance(landmarks, list) or not all(isinstance(n, str) for n in landmarks):
        raise CardError("model card's uncertainty.conformal.landmarks must be a list of names")
    if not isinstance(quantiles, list) or len(quantiles) != len(landmarks):
        raise CardError("model card's uncertainty.conformal.quantiles must give one value per landmark")
    for q in quantiles:
        if q is not None:
            _number(q, "uncertainty.conformal.quantiles", 0.0, 1e6)


def card_binding(card: dict) -> str:
    """SHA-256 of what weights are saved with (schema hash, :data:`BOUND_FIELDS`): stored in the card
    and inside the weights file, so a card changed after saving no longer matches its weights."""
    core = {"schema_hash": (card.get("schema") or {}).get("hash")} | {k: card.get(k) for k in BOUND_FIELDS}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()
