"""FARNet (Ao et al. 2023; DESIGN.md 2.4): DenseNet encoder, multi-scale feature
aggregation (MSFA) and a full-resolution feature refinement (FR) module.

MSFA over the backbone levels L1..L5 (strides 2..32): lateral 1×1 convs, an up
path, a down path (together the bidirectional path), then a final up path; every
fusion concatenates the two inputs and applies a 1×1 conv (+BN, ReLU) to 256
channels (128 at L2, 64 at L1). A 1×1 conv on the final L1 features gives the
coarse heatmaps at ½ resolution. FR: a 3×3 conv on the input (32 ch),
concatenated with the upsampled L1 features (64 ch) and coarse heatmaps, then
3×3 and 1×1 convs to full-resolution heatmaps. Both outputs are supervised
(coarse-to-fine) with unnormalised Gaussian targets and the EWC loss.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.heatmaps import local_soft_argmax
from core.models.densenet import DenseNetBackbone


@dataclass
class FARNetConfig:
    """Architecture of FARNet; stored verbatim in the model card. Defaults are the paper's (DenseNet-121)."""

    n_landmarks: int
    input_size: tuple[int, int]  # (H, W), divisible by 32
    growth: int = 32
    blocks: tuple[int, ...] = (6, 12, 24, 16)
    init_features: int = 64
    msfa_channels: tuple[int, int, int] = (256, 128, 64)  # L3–L5, L2, L1
    fr_channels: int = 32
    decode_radius: int = 3  # local weighted mean around the peak, input pixels
    temperature: float = 0.05  # for the generic decoders (core.heatmaps.decode) on heatmaps peaking at ~1
    kind: str = "farnet"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"], d["blocks"], d["msfa_channels"] = list(self.input_size), list(self.blocks), list(self.msfa_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FARNetConfig":
        d = dict(d)
        for key in ("input_size", "blocks", "msfa_channels"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _fuse(c_in: int, c_out: int) -> nn.Sequential:
    """Concatenation fusion: 1×1 conv + BN + ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class MSFA(nn.Module):
    """Levels L1..L5 (fine → coarse) → aggregated L1 features (B, c_L1, H/2, W/2)."""

    def __init__(self, level_channels: list[int], msfa_channels: tuple[int, int, int]) -> None:
        super().__init__()
        top, c2, c1 = msfa_channels
        c = [c1, c2] + [top] * (len(level_channels) - 2)
        self.c = c
        n = len(c)
        self.lateral = nn.ModuleList(_fuse(level_channels[i], c[i]) for i in range(n))
        self.up = nn.ModuleList(_fuse(c[i] + c[i + 1], c[i]) for i in range(n - 1))
        self.down = nn.ModuleList(_fuse(c[i] + c[i - 1], c[i]) for i in range(1, n))
        self.final = nn.ModuleList(_fuse(c[i] + c[i + 1], c[i]) for i in range(n - 1))

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        n = len(levels)
        lat = [m(x) for m, x in zip(self.lateral, levels)]
        up = [None] * n
        up[-1] = lat[-1]
        for i in range(n - 2, -1, -1):
            up[i] = self.up[i](torch.cat([lat[i], _resize(up[i + 1], lat[i])], dim=1))
        down = [None] * n
        down[0] = up[0]
        for i in range(1, n):
            down[i] = self.down[i - 1](torch.cat([up[i], F.max_pool2d(down[i - 1], 2)], dim=1))
        x = down[-1]
        for i in range(n - 2, -1, -1):
            x = self.final[i](torch.cat([down[i], _resize(x, down[i])], dim=1))
        return x


class FARNet(nn.Module):
    """images (B, 1, H, W) → ``logits`` (B, K, H, W) regressed heatmaps, ``coarse`` (B, K, H/2, W/2),
    ``prob`` (normalised for display and confidence), ``soft`` = ``refined`` (B, K, 2) input pixels.

    Points are a weighted mean of the heatmap in a window around its peak
    (the paper takes the maximum; the window adds sub-pixel precision).
    """

    def __init__(self, config: FARNetConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = DenseNetBackbone(1, config.growth, config.blocks, config.init_features)
        self.msfa = MSFA(self.backbone.channels, config.msfa_channels)
        c1, k = self.msfa.c[0], config.n_landmarks
        self.coarse_head = nn.Conv2d(c1, k, 1)
        self.fr_input = nn.Sequential(nn.Conv2d(1, config.fr_channels, 3, padding=1, bias=False), nn.BatchNorm2d(config.fr_channels), nn.ReLU(inplace=True))
        self.fr = nn.Sequential(
            nn.Conv2d(config.fr_channels + c1 + k, config.fr_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(config.fr_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(config.fr_channels, k, 1),
        )
        self.refiner = None

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.msfa(self.backbone(images))
        coarse = self.coarse_head(features)
        full = torch.cat([self.fr_input(images), _resize(features, images), _resize(coarse, images)], dim=1)
        heatmaps = self.fr(full)
        positive = heatmaps.clamp_min(1e-6)
        points = local_soft_argmax(torch.log(positive), self.config.decode_radius)
        prob = positive / positive.sum(dim=(-2, -1), keepdim=True)
        return {"logits": heatmaps, "coarse": coarse, "prob": prob, "soft": points, "refined": points}
