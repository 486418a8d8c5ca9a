"""Inference: a model file in, a :class:`Prediction` in full-resolution image pixels out.

The pipeline is the model's: global U-Net heatmaps → soft-argmax points →
GNN-refined points (DESIGN.md 2.1) → local patch stage around each refined
point (coarse-to-fine, DESIGN.md 2.5). One :class:`Prediction` carries every
intermediate the app draws, so the viewer never recomputes model outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.heatmaps import confidence, decode
from core.imaging import Radiograph, load_image
from core.modelfile import LoadedModel, load_model, resolve_model
from core.training.augment import apply_affine, standardise
from core.training.devices import select_device
from core.training.samplers import cut_patches, fine_size, from_scaled, patch_matrices, resize_image, to_scaled

DEFAULT_MODEL = "chest6"


@dataclass
class Prediction:
    """Everything a model says about one image. Points are (x, y) image pixels (ADR 0001).

    - ``points`` (K, 2): the final answer (after the local stage).
    - ``soft_argmax`` (K, 2): the global heatmaps' soft-argmax.
    - ``refined`` (K, 2): the GNN refiner's output (equals ``soft_argmax`` without one).
    - ``confidence`` (K,): probability mass near the final point, in [0, 1].
    - ``heatmaps`` (K, h, w): the global stage's spatial distributions (sum 1 each);
      ``heatmap_to_image`` (2, 3) maps heatmap pixels to image pixels.
    - ``masks`` (C, H, W) bool or None: segmentation when the model makes it.
    """

    model_id: str
    schema: str
    landmarks: tuple[str, ...]
    image_size: tuple[int, int]  # (H, W)
    spacing: tuple[float, float] | None
    points: np.ndarray
    soft_argmax: np.ndarray
    refined: np.ndarray
    confidence: np.ndarray
    heatmaps: np.ndarray
    heatmap_to_image: np.ndarray
    masks: np.ndarray | None = None
    mask_classes: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, include_heatmaps: bool = False) -> dict:
        """JSON-ready summary: per-landmark points, refined and soft-argmax positions, confidence."""
        def pt(p: np.ndarray) -> list[float]:
            return [round(float(p[0]), 2), round(float(p[1]), 2)]

        out = {
            "model": self.model_id,
            "schema": self.schema,
            "image_size": list(self.image_size),
            "spacing_mm": list(self.spacing) if self.spacing else None,
            "landmarks": [
                {
                    "name": name,
                    "x": pt(self.points[k])[0],
                    "y": pt(self.points[k])[1],
                    "refined": pt(self.refined[k]),
                    "soft_argmax": pt(self.soft_argmax[k]),
                    "confidence": round(float(self.confidence[k]), 4),
                }
                for k, name in enumerate(self.landmarks)
            ],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if include_heatmaps:
            out["heatmaps"] = self.heatmaps.tolist()
        return out


class Predictor:
    """Loads a model once and predicts images; reload by making a new Predictor.

    ``model`` is a bundled name or a path to a model file; ``device`` is
    ``auto``, ``cpu``, ``cuda`` or ``mps``.
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, device: str = "auto") -> None:
        self.device, self.device_reason = select_device(device)
        self.model: LoadedModel = load_model(resolve_model(model), self.device)
        inference = self.model.card.get("inference", {})
        self.patch_decoder: str = inference.get("patch_decoder", "soft_argmax")
        self.confidence_radius: float = float(inference.get("confidence_radius", 3.0))
        # Re-centring the patch on its own answer removes most of the global
        # stage's offset; the card says how many passes the model was tuned for.
        self.patch_iterations: int = int(inference.get("patch_iterations", 1))

    @property
    def schema(self):
        return self.model.schema

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @torch.inference_mode()
    def predict(self, image: Radiograph | str | Path) -> Prediction:
        t0 = time.perf_counter()
        radiograph = image if isinstance(image, Radiograph) else load_image(image)
        t_load = time.perf_counter()
        pixels = radiograph.display_normalised()
        size = (int(pixels.shape[0]), int(pixels.shape[1]))
        net = self.model.global_net
        input_size = tuple(net.config.input_size)
        coarse = standardise(resize_image(pixels, input_size)[None]).to(self.device)
        out = net(coarse)
        soft = from_scaled(out["soft"][0].cpu().numpy(), size, input_size)
        refined = from_scaled(out["refined"][0].cpu().numpy(), size, input_size)
        prob = out["prob"][0]
        conf = confidence(prob, out["refined"][0], 2.0).cpu().numpy()
        t_global = time.perf_counter()
        points = refined
        if self.model.patch_net is not None:
            fine = resize_image(pixels, fine_size(size, self.model.patch_net.config.fine_scale))
            for _ in range(self.patch_iterations):
                points, conf = self._local_stage(fine, size, points)
        t_local = time.perf_counter()
        h_in, w_in = input_size
        heatmap_to_image = np.array([[size[1] / w_in, 0.0, 0.5 * size[1] / w_in - 0.5], [0.0, size[0] / h_in, 0.5 * size[0] / h_in - 0.5]])
        return Prediction(
            model_id=self.model_id,
            schema=self.schema.name,
            landmarks=tuple(self.schema.landmarks),
            image_size=size,
            spacing=radiograph.spacing,
            points=points,
            soft_argmax=soft,
            refined=refined,
            confidence=conf,
            heatmaps=prob.cpu().numpy().astype(np.float32),
            heatmap_to_image=heatmap_to_image,
            timings_ms={
                "load": (t_load - t0) * 1e3,
                "global": (t_global - t_load) * 1e3,
                "local": (t_local - t_global) * 1e3,
                "total": (t_local - t0) * 1e3,
            },
        )

    def _local_stage(self, fine: torch.Tensor, size: tuple[int, int], centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Patch stage on the fine-grid image (1, Hf, Wf) around ``centres`` (K, 2) image px."""
        patch_net = self.model.patch_net
        cfg = patch_net.config
        fsize = (int(fine.shape[-2]), int(fine.shape[-1]))
        matrices = patch_matrices(to_scaled(centres, size, fsize), cfg.patch_size)
        patches = standardise(cut_patches(fine, matrices, cfg.patch_size)).to(self.device)
        ids = torch.arange(len(centres), device=self.device)
        logits = patch_net(patches, ids)
        local = decode(logits, self.patch_decoder, cfg.temperature)
        prob = torch.softmax(logits.flatten(1), dim=-1).view_as(logits)
        conf = confidence(prob, local, self.confidence_radius).cpu().numpy()
        fine_pts = np.stack([apply_affine(m, p) for m, p in zip(matrices, local.cpu().numpy())])
        return from_scaled(fine_pts, size, fsize), conf
