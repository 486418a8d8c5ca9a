"""DenseNet backbone (Huang et al. 2017) for FARNet's encoder (DESIGN.md 2.4).

torchvision is not a dependency, so the blocks are written here; module names
follow torchvision's ``densenet121().features`` so a user's local ImageNet
weights file (``densenet121-*.pth``) loads with :func:`load_backbone_weights`.
Nothing is ever downloaded. The default sizes are DenseNet-121's.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn


class DenseLayer(nn.Module):
    """BN-ReLU-1×1 conv (bn_size·k) then BN-ReLU-3×3 conv (k new feature maps), concatenated to the input."""

    def __init__(self, c_in: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(c_in, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, new], dim=1)


def _transition(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(norm=nn.BatchNorm2d(c_in), relu=nn.ReLU(inplace=True), conv=nn.Conv2d(c_in, c_out, 1, bias=False), pool=nn.AvgPool2d(2, 2))
    )


class DenseNetBackbone(nn.Module):
    """images (B, in_channels, H, W) → five levels L1..L5 at strides 2, 4, 8, 16, 32.

    L1 is the stem (``init_features`` channels), L2..L5 the outputs of the four
    dense blocks; ``channels`` lists their channel counts. H and W must be
    divisible by 32.
    """

    def __init__(
        self,
        in_channels: int = 1,
        growth: int = 32,
        blocks: tuple[int, ...] = (6, 12, 24, 16),
        init_features: int = 64,
        bn_size: int = 4,
    ) -> None:
        super().__init__()
        f = nn.Sequential()
        f.add_module("conv0", nn.Conv2d(in_channels, init_features, 7, stride=2, padding=3, bias=False))
        f.add_module("norm0", nn.BatchNorm2d(init_features))
        f.add_module("relu0", nn.ReLU(inplace=True))
        f.add_module("pool0", nn.MaxPool2d(3, stride=2, padding=1))
        channels, c = [init_features], init_features
        for i, n_layers in enumerate(blocks):
            block = nn.Sequential(OrderedDict((f"denselayer{j + 1}", DenseLayer(c + j * growth, growth, bn_size)) for j in range(n_layers)))
            f.add_module(f"denseblock{i + 1}", block)
            c += n_layers * growth
            channels.append(c)
            if i < len(blocks) - 1:
                f.add_module(f"transition{i + 1}", _transition(c, c // 2))
                c //= 2
        f.add_module("norm5", nn.BatchNorm2d(c))
        self.features = f
        self.channels = channels
        self.n_blocks = len(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.features
        x = f.relu0(f.norm0(f.conv0(x)))
        levels = [x]
        x = f.pool0(x)
        for i in range(self.n_blocks):
            x = getattr(f, f"denseblock{i + 1}")(x)
            if i < self.n_blocks - 1:
                levels.append(x)
                x = getattr(f, f"transition{i + 1}")(x)
        levels.append(torch.relu(f.norm5(x)))
        return levels


_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def load_backbone_weights(backbone: DenseNetBackbone, path: str | Path) -> None:
    """Load a local torchvision DenseNet state dict (``features.*`` keys, old or new naming).

    RGB first-layer filters are summed to one grey channel (a grey image seen as
    R = G = B gives the same response). The classifier is ignored. Raises
    ValueError when the file does not fit this backbone.
    """
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = backbone.state_dict()
    loaded = {}
    for key, value in state.items():
        key = _OLD_KEY.sub(lambda m: m.group(1) + m.group(2), key.removeprefix("module."))
        if not key.startswith("features."):
            continue
        if key == "features.conv0.weight" and value.shape[1] != own[key].shape[1]:
            value = value.sum(dim=1, keepdim=True).expand(-1, own[key].shape[1], -1, -1) / own[key].shape[1]
        loaded[key] = value
    # Files saved before BatchNorm counted its batches have no ``num_batches_tracked``: keep ours.
    missing = [k for k in own if k not in loaded and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{Path(path).name}: not DenseNet weights of this size ({len(missing)} tensors missing, e.g. {missing[0]})")
    try:
        backbone.load_state_dict({**own, **loaded})
    except RuntimeError as exc:
        raise ValueError(f"{Path(path).name}: DenseNet weights of another size ({str(exc).splitlines()[0]})") from exc
