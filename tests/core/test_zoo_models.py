"""Segmentation-informed network, DenseNet backbone and FARNet: shapes, gradients, weights files."""

from __future__ import annotations

import pytest
import torch

from core.models import FARNet, FARNetConfig, SegNet, SegNetConfig, build_global_net
from core.models.densenet import DenseNetBackbone, load_backbone_weights

@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny networks gain nothing from more threads; on a busy machine more are much slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY_FARNET = dict(growth=4, blocks=(1, 1, 1, 1), init_features=8, msfa_channels=(16, 8, 8), fr_channels=8)


def test_segnet_outputs_heatmaps_points_and_masks():
    config = SegNetConfig(6, (32, 48), ["a", "b", "c"], [0, 0, 0, 1, 1, None], width=4, depth=3)
    out = SegNet(config)(torch.randn(2, 1, 32, 48))
    assert out["logits"].shape == out["prob"].shape == (2, 6, 32, 48)
    assert out["soft"].shape == out["refined"].shape == (2, 6, 2)
    assert out["seg_logits"].shape == (2, 3, 32, 48)
    assert torch.allclose(out["prob"].sum(dim=(-2, -1)), torch.ones(2, 6))
    exclusive = SegNet(SegNetConfig(6, (32, 32), ["a", "b"], [0] * 6, exclusive=True, width=4, depth=3))
    assert exclusive(torch.randn(1, 1, 32, 32))["seg_logits"].shape == (1, 3, 32, 32)


def test_segnet_needs_a_class_per_landmark():
    with pytest.raises(ValueError):
        SegNet(SegNetConfig(6, (32, 32), ["a"], [0, 0], width=4, depth=3))


def test_densenet121_levels_and_strides():
    backbone = DenseNetBackbone()  # DenseNet-121: 6/12/24/16 layers, growth 32
    assert backbone.channels == [64, 256, 512, 1024, 1024]
    assert 6.9e6 < sum(p.numel() for p in backbone.parameters()) < 7.0e6  # ImageNet DenseNet-121 minus its classifier and 2 of 3 input channels
    tiny = DenseNetBackbone(1, 4, (1, 1, 1, 1), 8)
    levels = tiny(torch.randn(1, 1, 64, 96))
    assert [tuple(x.shape[-2:]) for x in levels] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    assert [x.shape[1] for x in levels] == tiny.channels


def test_farnet_shapes_at_both_scales_and_gradients_reach_every_part():
    net = FARNet(FARNetConfig(5, (64, 64), **TINY_FARNET))
    out = net(torch.randn(2, 1, 64, 64))
    assert out["logits"].shape == out["prob"].shape == (2, 5, 64, 64)
    assert out["coarse"].shape == (2, 5, 32, 32)
    assert out["soft"].shape == (2, 5, 2)
    (out["logits"].square().mean() + out["coarse"].square().mean()).backward()
    for name in ("backbone.features.conv0.weight", "msfa.lateral.4.0.weight", "coarse_head.weight", "fr_input.0.weight", "fr.3.weight"):
        grad = dict(net.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_farnet_decodes_the_peak_of_its_heatmap():
    net = FARNet(FARNetConfig(1, (64, 64), **TINY_FARNET))
    heat = torch.zeros(1, 1, 64, 64)
    heat[0, 0, 20, 30], heat[0, 0, 20, 31] = 1.0, 1.0  # peak between x 30 and 31, y 20
    net.fr[-1].register_forward_hook(lambda *_: heat)
    assert net(torch.randn(1, 1, 64, 64))["soft"][0, 0].tolist() == pytest.approx([30.5, 20.0], abs=1e-3)


def test_card_config_round_trip_builds_the_same_network():
    net = FARNet(FARNetConfig(3, (64, 64), **TINY_FARNET))
    twin = build_global_net(net.config.to_dict())
    twin.load_state_dict(net.state_dict())
    assert isinstance(twin, FARNet) and twin.config == net.config
    with pytest.raises(ValueError, match="unknown model kind"):
        build_global_net({"kind": "resnet"})


def _torchvision_style(backbone: DenseNetBackbone) -> dict:
    """The backbone's weights as torchvision's old-style ImageNet file stores them: RGB stem, ``norm.1`` names."""
    state = {}
    for key, value in backbone.state_dict().items():
        if key == "features.conv0.weight":
            value = value.repeat(1, 3, 1, 1)
        for part in ("norm1", "relu1", "conv1", "norm2", "relu2", "conv2"):
            key = key.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
        state[key] = value
    state["classifier.weight"] = torch.zeros(10, backbone.channels[-1])
    return state


def test_local_backbone_weights_load_and_wrong_ones_are_refused(tmp_path):
    source = DenseNetBackbone(1, 4, (1, 2, 1, 1), 8)
    torch.save(_torchvision_style(source), tmp_path / "densenet.pth")
    target = DenseNetBackbone(1, 4, (1, 2, 1, 1), 8)
    load_backbone_weights(target, tmp_path / "densenet.pth")
    # An RGB stem seen with R = G = B: the grey filter is the sum of the three.
    assert torch.allclose(target.features.conv0.weight, 3 * source.features.conv0.weight)
    assert torch.equal(target.features.denseblock2.denselayer2.conv2.weight, source.features.denseblock2.denselayer2.conv2.weight)
    with pytest.raises(ValueError, match="not DenseNet weights"):
        load_backbone_weights(DenseNetBackbone(1, 4, (1, 3, 1, 1), 8), tmp_path / "densenet.pth")


def test_full_resolution_masks_threshold_the_probability_at_one_half():
    """Sigmoid masks are cut at logit 0 (the same as probability ½) and softmax ones on the
    probabilities; both at image size."""
    from core.inference import full_resolution_masks
    from core.models.segnet import mask_probabilities

    gen = torch.Generator().manual_seed(0)
    for exclusive, channels in ((False, 3), (True, 4)):
        logits = torch.randn(1, channels, 8, 10, generator=gen) * 3
        masks = full_resolution_masks(logits, exclusive, (32, 40))
        up = torch.nn.functional.interpolate(logits, size=(32, 40), mode="bilinear", align_corners=False)
        expected = (mask_probabilities(up, exclusive)[0] > 0.5).numpy()
        assert masks.shape == (3, 32, 40) and masks.dtype == bool and (masks == expected).all()
