"""The structure-aware landmark network (DESIGN.md 2.1): U-Net heatmaps →
soft-argmax points → GNN-refined points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from core.heatmaps import soft_argmax, softmax_2d
from core.models.adaptive_heatmap import AdaptiveGaussian
from core.models.refiner import GraphRefiner
from core.models.unet import UNet


@dataclass
class LandmarkNetConfig:
    """Architecture of the global stage; stored verbatim in the model card."""

    n_landmarks: int
    input_size: tuple[int, int]  # (H, W) of the network input
    width: int = 32
    depth: int = 4
    use_refiner: bool = True
    refiner_hidden: int = 128
    temperature: float = 1.0  # soft-argmax temperature applied to the logits
    # Training only: Gaussian jitter (input px) added to the points the refiner
    # sees, so it learns to correct offsets rather than echo a U-Net that
    # already fits its (small) training set.
    refiner_noise: float = 0.0
    # Stop the refiner's (and structural losses') gradients at the U-Net, so the
    # heatmaps learn exactly as in the plain model and the GNN can only add a
    # correction on top. Trained end to end on 159 chest images, the extra
    # terms made the heatmaps ≈1.5 px worse than the ablation's (model README).
    refiner_detach: bool = False
    adjacency: list[list[float]] = field(default_factory=list)  # normalised Â, K×K
    # Training targets (core.losses.heatmap): "gaussian", "laplace" or
    # "adaptive", whose learned σ and rotation (``target_generator``) are saved
    # with the weights; ``heatmap_sigma`` is their initial σ, ``heatmap_gamma`` their γ.
    heatmap: str = "gaussian"
    heatmap_sigma: float = 3.0
    heatmap_gamma: float = 50.0
    # Peak of the Gaussian or Laplace targets a regression loss ("l2", "sc") fits. With peak 1, on a
    # 160×128 map of 19 landmarks the flat background dominates ‖H − O‖² and the peaks form
    # ten times slower than the cross-entropy's (issue 21); the SC recipe scales them (and its
    # decoding temperature with them, so soft-argmax keeps its sharpness).
    target_scale: float = 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LandmarkNetConfig":
        d = dict(d)
        d["input_size"] = tuple(d["input_size"])
        return cls(**d)


class LandmarkNet(nn.Module):
    """images (B, 1, H, W) → dict of logits (B, K, H, W), prob, soft (B, K, 2), refined (B, K, 2)
    and the decoder features (B, C, H, W) the refiner samples (kept for re-running it with
    pinned points, ``core.repredict``).

    Points are in input-image pixels (x, y). Without a refiner (the ablation),
    ``refined`` equals ``soft``.
    """

    def __init__(self, config: LandmarkNetConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(1, config.n_landmarks, config.width, config.depth)
        self.refiner: GraphRefiner | None = None
        if config.use_refiner:
            adjacency = np.asarray(config.adjacency, dtype=np.float32)
            if adjacency.shape != (config.n_landmarks, config.n_landmarks):
                raise ValueError("refiner needs a K×K normalised adjacency")
            self.refiner = GraphRefiner(self.unet.feature_channels, adjacency, config.refiner_hidden)
        if config.heatmap == "adaptive":
            self.target_generator = AdaptiveGaussian(config.n_landmarks, config.heatmap_sigma, config.heatmap_gamma)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, features = self.unet(images)
        prob = softmax_2d(logits, self.config.temperature)
        soft = soft_argmax(logits, self.config.temperature)
        if self.refiner is None:
            return {"logits": logits, "prob": prob, "soft": soft, "refined": soft, "features": features}
        refined = self.refiner.refine_soft_argmax(features, soft, prob, self.config.refiner_noise, self.config.refiner_detach)
        return {"logits": logits, "prob": prob, "soft": soft, "refined": refined, "features": features}
