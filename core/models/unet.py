"""U-Net of DESIGN.md 2.1: two 3×3 conv + InstanceNorm + ReLU per block, 2×2 max-pool,
transposed-conv upsampling with skip concatenation, 1×1 conv to K heatmap logits.

``width`` is the first block's channel count (the paper uses 32 → 256 over four
levels); each level doubles it. The last decoder feature map has ``width``
channels and feeds the GNN refiner.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.InstanceNorm2d(c_out, affine=True),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.InstanceNorm2d(c_out, affine=True),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """images (B, C_in, H, W) → (logits (B, K, H, W), features (B, width, H, W)).

    H and W must be divisible by 2**(depth-1).
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        channels = [width * 2**i for i in range(depth)]
        self.depth = depth
        self.encoders = nn.ModuleList()
        c_prev = in_channels
        for c in channels:
            self.encoders.append(conv_block(c_prev, c))
            c_prev = c
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for c_low, c_high in zip(reversed(channels[1:]), reversed(channels[:-1])):
            self.ups.append(nn.ConvTranspose2d(c_low, c_high, 2, stride=2))
            self.decoders.append(conv_block(2 * c_high, c_high))
        self.head = nn.Conv2d(width, out_channels, 1)
        self.feature_channels = width

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x)
            if i < self.depth - 1:
                skips.append(x)
                x = self.pool(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x), x
