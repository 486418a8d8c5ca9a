"""Landmark networks (DESIGN.md 2): U-Net, GNN refiner, local patch stage, and the
model zoo's global networks (segmentation-informed, FARNet)."""

from core.models.unet import UNet
from core.models.refiner import GraphRefiner
from core.models.landmark_net import LandmarkNet, LandmarkNetConfig
from core.models.patch_net import PatchNet, PatchNetConfig
from core.models.segnet import SegNet, SegNetConfig
from core.models.farnet import FARNet, FARNetConfig

#: Global-stage network per model kind; a card's ``architecture.global.kind`` picks one (default "unet").
GLOBAL_NETS = {"unet": (LandmarkNet, LandmarkNetConfig), "segnet": (SegNet, SegNetConfig), "farnet": (FARNet, FARNetConfig)}


def build_global_net(config: dict):
    """The global network described by a card's ``architecture.global`` dict."""
    kind = config.get("kind", "unet")
    if kind not in GLOBAL_NETS:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(GLOBAL_NETS)}")
    net_cls, config_cls = GLOBAL_NETS[kind]
    return net_cls(config_cls.from_dict({k: v for k, v in config.items() if k != "kind" or kind != "unet"}))


__all__ = [
    "UNet", "GraphRefiner", "LandmarkNet", "LandmarkNetConfig", "PatchNet", "PatchNetConfig",
    "SegNet", "SegNetConfig", "FARNet", "FARNetConfig", "GLOBAL_NETS", "build_global_net",
]
