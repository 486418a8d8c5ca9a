"""Inference: a model file in, a :class:`Prediction` in full-resolution image pixels out.

The pipeline is the model's: global U-Net heatmaps → soft-argmax points →
GNN-refined points (DESIGN.md 2.1) → local patch stage around each refined
point (coarse-to-fine, DESIGN.md 2.5). One :class:`Prediction` carries every
intermediate the app draws, so the viewer never recomputes model outputs.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from core.uncertainty.conformal import ConformalCalibration
from core.heatmaps import DECODERS, confidence, decode
from core.imaging import Radiograph, load_image
from core.modelfile import LoadedModel, load_model
from core.prediction import Prediction, from_outputs
from core.resources import resolve_model
from core.devices import select_device
from core.geometry import apply_affine, fine_grid, from_scaled, patch_matrices, to_scaled
from core.resampling import cut_patches, resize_image, standardise

DEFAULT_MODEL = "chest6"


def full_resolution_masks(seg_logits: torch.Tensor, exclusive: bool, size: tuple[int, int]) -> np.ndarray:
    """(1, C[+1], h, w) logits at the network input → (C, H, W) bool at image size (probability > ½).

    Logits are resized with the image resize's own pixel-centre geometry
    (bilinear, align_corners=False), so mask and image pixels line up.
    """
    from core.models.segnet import mask_probabilities

    logits = torch.nn.functional.interpolate(seg_logits.float(), size=size, mode="bilinear", align_corners=False)
    if not exclusive:  # sigmoid(z) > ½ exactly where z > 0: no sigmoid over millions of pixels
        return (logits[0] > 0).cpu().numpy()
    return (mask_probabilities(logits, exclusive)[0] > 0.5).cpu().numpy()


class Predictor:
    """Loads a model once and predicts images; reload by making a new Predictor.

    ``model`` is a bundled name or a path to a model file; ``device`` is
    ``auto``, ``cpu``, ``cuda`` or ``mps``. ``decoder`` overrides the card's
    ``inference.decoder`` (one of ``core.heatmaps.DECODERS``): it turns the
    final heatmaps (the patch stage's, or the global ones of a model without a
    patch stage or refiner) into points.
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, device: str = "auto", decoder: str | None = None) -> None:
        self.device, self.device_reason = select_device(device)
        self.model: LoadedModel = load_model(resolve_model(model), self.device)
        inference = self.model.info.inference
        self.patch_decoder: str = decoder or inference.decoder or "soft_argmax"
        if self.patch_decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.patch_decoder!r}; choose one of {', '.join(DECODERS)}")
        # Regression heatmaps (spatial-configuration, adaptive targets) peak at ~1 over a flat
        # background: a global soft-argmax drifts towards the centre, so their recipes name the
        # decoder of their papers for the global heatmaps. ``decoder`` (the override) wins for a
        # model whose global heatmaps are its final ones.
        global_decoder = inference.global_decoder
        if self.model.patch_net is None and (decoder or not global_decoder):
            global_decoder = self.patch_decoder
        self.global_decoder: str = global_decoder or "soft_argmax"
        if self.global_decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.global_decoder!r}; choose one of {', '.join(DECODERS)}")
        self.conformal = ConformalCalibration.from_card(self.model.card, tuple(self.model.schema.landmarks))
        self.confidence_radius: float = inference.confidence_radius
        # Re-centring the patch on its own answer removes most of the global
        # stage's offset; the card says how many passes the model was tuned for.
        self.patch_iterations: int = inference.patch_iterations

    @property
    def final_decoder(self) -> str:
        """The decoder that makes the final points: the patch stage's, else the global heatmaps'."""
        return self.patch_decoder if self.model.patch_net is not None else self.global_decoder

    @property
    def schema(self):
        return self.model.schema

    @property
    def info(self):
        """The model's typed card (``core.model_card.ModelCard``), as ``CompiledPredictor.info``."""
        return self.model.info

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @torch.inference_mode()
    def predict(self, image: Radiograph | str | Path, spacing: tuple[float, float] | None = None) -> Prediction:
        """Predict one image. ``spacing`` ((x, y) mm/px) is the image's when known from elsewhere than
        its file (a data set's table, a calibration); it wins over the file's and sets the fine grid."""
        t0 = time.perf_counter()
        radiograph = image if isinstance(image, Radiograph) else load_image(image)
        spacing = spacing or radiograph.spacing
        t_load = time.perf_counter()
        pixels = radiograph.display_normalised()
        size = (int(pixels.shape[0]), int(pixels.shape[1]))
        net = self.model.global_net
        input_size = tuple(net.config.input_size)
        out = net(self.global_input(pixels))
        soft = from_scaled(out["soft"][0].cpu().numpy(), size, input_size)
        refined = from_scaled(out["refined"][0].cpu().numpy(), size, input_size)
        prob = out["prob"][0]
        conf = confidence(prob, out["refined"][0], 2.0).cpu().numpy()
        masks = full_resolution_masks(out["seg_logits"], net.config.exclusive, size) if "seg_logits" in out else None
        t_global = time.perf_counter()
        points = refined
        if getattr(net, "refiner", None) is None and self.global_decoder != "soft_argmax":
            points = from_scaled(decode(out["logits"], self.global_decoder, net.config.temperature)[0].cpu().numpy(), size, input_size)
        if self.model.patch_net is not None:
            fine = self.fine_image(pixels, spacing)
            for _ in range(self.patch_iterations):
                points, conf = self.local_stage(fine, size, points)
        t_local = time.perf_counter()
        return from_outputs(
            self, size=size, input_size=input_size, spacing=spacing, points=points, soft=soft, refined=refined,
            confidence=conf, heatmaps=prob.cpu().numpy(), masks=masks, mask_classes=tuple(getattr(net.config, "mask_classes", ())),
            times=(t0, t_load, t_global, t_local),
        )

    def global_input(self, pixels: np.ndarray) -> torch.Tensor:
        """The global network's input (1, 1, h, w) from display-normalised ``pixels`` (H, W)."""
        size = tuple(self.model.global_net.config.input_size)
        return standardise(resize_image(pixels, size)[None]).to(self.device)

    def fine_image(self, pixels: np.ndarray, spacing: tuple[float, float] | None = None) -> torch.Tensor | None:
        """The patch stage's image (1, Hf, Wf) on its fine grid (``geometry.fine_grid``: physical when
        the model and ``spacing`` allow); None for a model without one."""
        if self.model.patch_net is None:
            return None
        cfg = self.model.patch_net.config
        shape = (int(pixels.shape[0]), int(pixels.shape[1]))
        return resize_image(pixels, fine_grid(shape, cfg.fine_scale, spacing, cfg.fine_mm_per_px))

    def local_stage(
        self, fine: torch.Tensor, size: tuple[int, int], centres: np.ndarray, ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Patch stage on the fine-grid image (1, Hf, Wf) around ``centres`` (N, 2) image px of
        landmarks ``ids`` (N,) (default: all K in order)."""
        patch_net = self.model.patch_net
        cfg = patch_net.config
        fsize = (int(fine.shape[-2]), int(fine.shape[-1]))
        matrices = patch_matrices(to_scaled(centres, size, fsize), cfg.patch_size)
        patches = standardise(cut_patches(fine, matrices, cfg.patch_size)).to(self.device)
        ids = torch.arange(len(centres), device=self.device) if ids is None else torch.as_tensor(ids, device=self.device)
        logits = patch_net(patches, ids)
        local = decode(logits, self.patch_decoder, cfg.temperature)
        prob = torch.softmax(logits.flatten(1), dim=-1).view_as(logits)
        conf = confidence(prob, local, self.confidence_radius).cpu().numpy()
        fine_pts = np.stack([apply_affine(m, p) for m, p in zip(matrices, local.cpu().numpy())])
        return from_scaled(fine_pts, size, fsize), conf
