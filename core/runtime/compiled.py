"""A predictor that runs the bundled networks through OpenVINO, without PyTorch.

Same pipeline and same :class:`~core.prediction.Prediction` as :class:`core.inference.Predictor`
(points within 0.05 px: ``tests/core/test_runtime.py``), at about half the CPU time, and a
command-line process that never imports PyTorch (≈1 s of start-up on a 2-core machine). The
networks are compiled once per model into a per-user cache (``core.runtime.export``, which does
need PyTorch); the cache key is the weights' SHA-256, the settings baked into the graphs and the
OpenVINO version, and the weights are checked against their card before every load, so a replaced
model file is never run from a stale cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from core.card_checks import CardError, check_card
from core.geometry import apply_affine, fine_grid, from_scaled, patch_matrices, to_scaled
from core.imaging import Radiograph, load_image
from core.model_card import ModelCard, read_card
from core.prediction import Prediction, from_outputs
from core.resources import ModelFileError, resolve_model, weights_path
from core.schema import LandmarkSchema, SchemaError
from core.runtime import arrays
from core.uncertainty.conformal import ConformalCalibration

DECODERS = ("soft_argmax", "argmax", "local_soft_argmax", "blob")


class RuntimeUnavailable(RuntimeError):
    """The compiled runtime cannot run this model here (OpenVINO missing, a decoder without a graph
    form, a failed compilation); the caller falls back to PyTorch. ``str(e)`` is one line."""


def cache_root() -> Path:
    """``$ANATOMARK_CACHE`` or the platform's per-user cache folder, then ``anatomark/compiled``."""
    base = os.environ.get("ANATOMARK_CACHE")
    if base:
        return Path(base) / "compiled"
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "anatomark" / "compiled"


def _threads() -> int:
    """Inference threads: ``$ANATOMARK_THREADS``, else every core (PyTorch's default too)."""
    try:
        return max(1, int(os.environ.get("ANATOMARK_THREADS", "0"))) if os.environ.get("ANATOMARK_THREADS") else 0
    except ValueError:
        return 0


class CompiledPredictor:
    """Loads a model's compiled graphs once and predicts images; the CPU only.

    ``model`` is a bundled name or a path; ``decoder`` overrides the card's, as for
    :class:`core.inference.Predictor`. RuntimeUnavailable when OpenVINO is missing or the model
    cannot be compiled; ModelFileError for a model file that fails its checks.
    """

    device = "cpu"

    def __init__(self, model: str | Path = "chest6", decoder: str | None = None, cache_dir: Path | None = None) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise RuntimeUnavailable("OpenVINO is not installed") from exc
        pt = weights_path(resolve_model(model))
        data = self._verified_card(pt)
        self.card = data
        self.info = ModelCard.parse(data, pt.stem)
        try:
            self.schema = LandmarkSchema.from_dict(data["schema"]["content"])
        except (KeyError, TypeError, SchemaError) as exc:
            raise ModelFileError(f"{pt.name}: model card has no valid schema ({exc})") from exc
        self.device_reason = "compiled for the CPU (OpenVINO)"
        arch = data.get("architecture") or {}
        self._global_cfg, self._patch_cfg = dict(arch.get("global") or {}), arch.get("patch") or None
        inference = self.info.inference
        self.patch_decoder = decoder or inference.decoder or "soft_argmax"
        global_decoder = inference.global_decoder
        if self._patch_cfg is None and (decoder or not global_decoder):
            global_decoder = self.patch_decoder
        self.global_decoder = global_decoder or "soft_argmax"
        for d in (self.patch_decoder, self.global_decoder):
            if d not in DECODERS:
                raise ValueError(f"unknown decoder {d!r}; choose one of {', '.join(DECODERS)}")
        refiner = bool(self._global_cfg.get("use_refiner")) and self._global_cfg.get("kind", "unet") != "farnet"
        self._use_decoded = not refiner and self.global_decoder != "soft_argmax"
        self.conformal = ConformalCalibration.from_card(data, tuple(self.schema.landmarks))
        self.confidence_radius = inference.confidence_radius
        self.patch_iterations = inference.patch_iterations
        folder = self._graphs(pt, data, cache_dir or cache_root(), ov.get_version())
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads := _threads():
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self._global = core.compile_model(str(folder / "global.xml"), "CPU", config).create_infer_request()
            self._patch = (core.compile_model(str(folder / "patch.xml"), "CPU", config).create_infer_request()
                           if self._patch_cfg else None)
        except Exception as exc:  # noqa: BLE001 - a damaged cache or an OpenVINO failure: run on PyTorch
            raise RuntimeUnavailable(f"cannot load the compiled model ({exc.__class__.__name__})") from exc

    @staticmethod
    def _verified_card(pt: Path) -> dict:
        """The card, checked as ``core.modelfile.load_model`` checks it, and the weights' checksum."""
        card = read_card(pt)
        try:
            data = pt.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"{pt.name}: cannot read weights ({exc.strerror or exc})") from exc
        if hashlib.sha256(data).hexdigest() != card.get("weights_sha256"):
            raise ModelFileError(f"{pt.name}: weights do not match the model card's checksum (truncated or replaced file)")
        try:
            check_card(card, len((card.get("schema") or {}).get("content", {}).get("landmarks", [])))
        except (CardError, AttributeError, TypeError) as exc:
            raise ModelFileError(f"{pt.name}: {exc}") from exc
        return card

    def _graphs(self, pt: Path, card: dict, root: Path, version: str) -> Path:
        """The compiled graphs' folder, exporting them (PyTorch, once) on a cache miss."""
        settings = {"weights": card["weights_sha256"], "binding": card.get("binding"), "openvino": version,
                    "global_decoder": self.global_decoder if self._use_decoded else None,
                    "patch_decoder": self.patch_decoder, "radius": self.confidence_radius}
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]
        folder = root / key
        if (folder / "graphs.json").is_file():
            return folder
        try:
            from core.runtime.export import ExportError, export_model
        except ImportError as exc:  # no PyTorch: nothing can compile the model
            raise RuntimeUnavailable(f"the model is not compiled yet and PyTorch is missing ({exc.name})") from exc
        try:
            return export_model(pt, folder, self.global_decoder, self._use_decoded, self.patch_decoder,
                                self.confidence_radius)
        except ExportError as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        except OSError as exc:
            raise RuntimeUnavailable(f"cannot write the compiled model to {root} ({exc.strerror or exc})") from exc

    @property
    def model_id(self) -> str:
        return self.info.model_id

    @property
    def final_decoder(self) -> str:
        return self.patch_decoder if self._patch_cfg else self.global_decoder

    def predict(self, image: Radiograph | str | Path, spacing: tuple[float, float] | None = None) -> Prediction:
        """Predict one image (as ``core.inference.Predictor.predict``)."""
        t0 = time.perf_counter()
        radiograph = image if isinstance(image, Radiograph) else load_image(image)
        spacing = spacing or radiograph.spacing
        t_load = time.perf_counter()
        pixels = radiograph.display_normalised()
        size = (int(pixels.shape[0]), int(pixels.shape[1]))
        input_size = tuple(int(v) for v in self._global_cfg["input_size"])
        x = arrays.standardise(arrays.resize_image(pixels, input_size)[None, None])
        out = self._global.infer([x])
        values = [out[o] for o in self._global.model_outputs]
        prob, soft, refined, conf, decoded = (v[0] for v in values[:5])
        masks = None
        if len(values) > 5:
            masks = arrays.upsample_masks(values[5][0], bool(self._global_cfg.get("exclusive")), size)
        soft, refined = from_scaled(soft, size, input_size), from_scaled(refined, size, input_size)
        points = from_scaled(decoded, size, input_size) if self._use_decoded else refined
        conf = np.asarray(conf, dtype=np.float32)
        t_global = time.perf_counter()
        if self._patch is not None:
            fine = self._fine_image(pixels, spacing)
            for _ in range(self.patch_iterations):
                points, conf = self._local_stage(fine, size, points)
        t_local = time.perf_counter()
        return from_outputs(
            self, size=size, input_size=input_size, spacing=spacing, points=points, soft=soft, refined=refined,
            confidence=conf, heatmaps=prob, masks=masks, mask_classes=tuple(self._global_cfg.get("mask_classes") or ()),
            times=(t0, t_load, t_global, t_local),
        )

    def _fine_image(self, pixels: np.ndarray, spacing: tuple[float, float] | None) -> np.ndarray:
        cfg = self._patch_cfg
        shape = (int(pixels.shape[0]), int(pixels.shape[1]))
        return arrays.resize_image(pixels, fine_grid(shape, cfg["fine_scale"], spacing, cfg.get("fine_mm_per_px")))

    def _local_stage(self, fine: np.ndarray, size: tuple[int, int], centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = int(self._patch_cfg["patch_size"])
        fsize = (int(fine.shape[0]), int(fine.shape[1]))
        matrices = patch_matrices(to_scaled(centres, size, fsize), p)
        patches = arrays.standardise(arrays.warp(fine, matrices, (p, p)))
        out = self._patch.infer([patches, np.arange(len(centres), dtype=np.int64)])
        local, conf = (out[o] for o in self._patch.model_outputs)
        fine_pts = np.stack([apply_affine(m, q) for m, q in zip(matrices, np.asarray(local, np.float64))])
        return from_scaled(fine_pts, size, fsize), np.asarray(conf, dtype=np.float32)
