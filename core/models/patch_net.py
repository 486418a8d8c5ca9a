"""Local (coarse-to-fine) stage, DESIGN.md 2.5 and issue 2.

A small U-Net sees a patch cut at a finer scale around each coarse point and
predicts one heatmap channel per landmark; for the patch of landmark k only
channel k is decoded. Sharing one network across landmarks keeps it small
while each output channel still specialises on its own anatomy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from core.models.unet import UNet


@dataclass
class PatchNetConfig:
    n_landmarks: int
    patch_size: int = 64  # pixels of the fine grid, square
    fine_scale: float = 0.5  # fine-grid pixels per source-image pixel
    width: int = 16
    depth: int = 4
    temperature: float = 1.0
    # mm per fine-grid pixel the network was trained at; None: ``fine_scale`` always (geometry.fine_grid)
    fine_mm_per_px: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PatchNetConfig":
        return cls(**d)


class PatchNet(nn.Module):
    """patches (B, 1, P, P), landmark ids (B,) → logits (B, P, P) of each patch's own landmark."""

    def __init__(self, config: PatchNetConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(1, config.n_landmarks, config.width, config.depth)

    def forward(self, patches: torch.Tensor, landmark: torch.Tensor) -> torch.Tensor:
        logits, _ = self.unet(patches)
        index = landmark.view(-1, 1, 1, 1).expand(-1, 1, *logits.shape[-2:])
        return logits.gather(1, index).squeeze(1)
