"""Landmark networks (DESIGN.md 2): U-Net, GNN refiner, local patch stage."""

from core.models.unet import UNet
from core.models.refiner import GraphRefiner
from core.models.landmark_net import LandmarkNet, LandmarkNetConfig
from core.models.patch_net import PatchNet, PatchNetConfig

__all__ = ["UNet", "GraphRefiner", "LandmarkNet", "LandmarkNetConfig", "PatchNet", "PatchNetConfig"]
