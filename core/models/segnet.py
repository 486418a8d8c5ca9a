"""Segmentation-informed landmark network (DESIGN.md 2.3).

One shared encoder, two decoders (transposed-conv upsampling, skip
concatenation, a residual block with BatchNorm + ReLU per level): K heatmap
logits and segmentation logits. The paper's encoder is HRNet-style; here it
is the U-Net encoder of DESIGN.md 2.1 (same blocks, same input sizes), so the
comparison with the structure-aware model isolates the second head and the
losses, not a different backbone.

Optionally (``use_refiner``) the GNN refiner of DESIGN.md 2.1 sits on the
heatmap decoder's last features, exactly as in the structure-aware model, so a
segmenting model keeps the refined-point layer and pinned re-prediction
(``core.repredict``).

Segmentation logits are C per-class logits (sigmoid, structures may overlap:
the JSRT clavicles lie over the lungs) or C + 1 (softmax with a background
channel first) when ``exclusive`` — the paper's form for disjoint bones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from core.heatmaps import soft_argmax, softmax_2d
from core.models.refiner import GraphRefiner
from core.models.unet import conv_block


@dataclass
class SegNetConfig:
    """Architecture of the segmentation-informed model; stored verbatim in the model card."""

    n_landmarks: int
    input_size: tuple[int, int]  # (H, W)
    mask_classes: list[str] = field(default_factory=list)  # schema class names, in channel order
    landmark_classes: list[int | None] = field(default_factory=list)  # per landmark: index into mask_classes
    exclusive: bool = False  # softmax over C + 1 (disjoint classes) instead of C sigmoids
    width: int = 32
    depth: int = 4
    temperature: float = 1.0
    kind: str = "segnet"
    # GNN refiner on the heatmap decoder's features (see LandmarkNetConfig for the three settings).
    use_refiner: bool = False
    refiner_hidden: int = 128
    refiner_noise: float = 0.0
    refiner_detach: bool = False
    adjacency: list[list[float]] = field(default_factory=list)  # normalised Â, K×K

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SegNetConfig":
        d = dict(d)
        d["input_size"] = tuple(d["input_size"])
        return cls(**d)

    @property
    def seg_channels(self) -> int:
        return len(self.mask_classes) + (1 if self.exclusive else 0)


class ResidualBlock(nn.Module):
    """x + conv-BN-ReLU-conv-BN(x), then ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class Decoder(nn.Module):
    """Encoder levels (fine → coarse) → (out_channels, H, W) logits at the input resolution."""

    def __init__(self, channels: list[int], out_channels: int) -> None:
        super().__init__()
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for c_low, c_high in zip(reversed(channels[1:]), reversed(channels[:-1])):
            self.ups.append(nn.ConvTranspose2d(c_low, c_high, 2, stride=2))
            self.blocks.append(
                nn.Sequential(
                    nn.Conv2d(2 * c_high, c_high, 1, bias=False), nn.BatchNorm2d(c_high), nn.ReLU(inplace=True), ResidualBlock(c_high)
                )
            )
        self.head = nn.Conv2d(channels[0], out_channels, 1)

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, the last features before the 1×1 head)."""
        x = levels[-1]
        for up, block, skip in zip(self.ups, self.blocks, reversed(levels[:-1])):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x), x


class SegNet(nn.Module):
    """images (B, 1, H, W) → logits, prob (B, K, H, W), soft, refined (B, K, 2), features, seg_logits (B, C[+1], H, W).

    H and W must be divisible by 2**(depth-1). The same keys as
    :class:`~core.models.LandmarkNet`, so training, inference and evaluation
    treat both alike; ``seg_logits`` is the extra head. Without a refiner
    ``refined`` is ``soft``.
    """

    def __init__(self, config: SegNetConfig) -> None:
        super().__init__()
        if len(config.landmark_classes) != config.n_landmarks:
            raise ValueError("segnet needs one mask class (or None) per landmark")
        self.config = config
        channels = [config.width * 2**i for i in range(config.depth)]
        self.encoders = nn.ModuleList()
        c_prev = 1
        for c in channels:
            self.encoders.append(conv_block(c_prev, c))
            c_prev = c
        self.pool = nn.MaxPool2d(2)
        self.heatmap_decoder = Decoder(channels, config.n_landmarks)
        self.seg_decoder = Decoder(channels, config.seg_channels)
        self.refiner: GraphRefiner | None = None  # stages, inference and re-prediction check this
        if config.use_refiner:
            adjacency = np.asarray(config.adjacency, dtype=np.float32)
            if adjacency.shape != (config.n_landmarks, config.n_landmarks):
                raise ValueError("refiner needs a K×K normalised adjacency")
            self.refiner = GraphRefiner(channels[0], adjacency, config.refiner_hidden)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        levels, x = [], images
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else self.pool(x))
            levels.append(x)
        logits, features = self.heatmap_decoder(levels)
        prob = softmax_2d(logits, self.config.temperature)
        soft = soft_argmax(logits, self.config.temperature)
        out = {"logits": logits, "prob": prob, "soft": soft, "refined": soft, "features": features, "seg_logits": self.seg_decoder(levels)[0]}
        if self.refiner is not None:
            out["refined"] = self.refiner.refine_soft_argmax(features, soft, prob, self.config.refiner_noise, self.config.refiner_detach)
        return out


def mask_probabilities(seg_logits: torch.Tensor, exclusive: bool) -> torch.Tensor:
    """(B, C[+1], H, W) logits → (B, C, H, W) per-class probabilities in [0, 1]."""
    if exclusive:
        return torch.softmax(seg_logits, dim=1)[:, 1:]
    return torch.sigmoid(seg_logits)
