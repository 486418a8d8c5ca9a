"""U-Net, GNN refiner, LandmarkNet and PatchNet (DESIGN.md 2.1, 2.5) at tiny sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.losses.structure import coordinate_l1
from core.models import GraphRefiner, LandmarkNet, LandmarkNetConfig, PatchNet, PatchNetConfig, UNet
from core.schema import load_schema


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: tiny convolutions gain nothing from more, and on a busy
    machine oversubscribed OpenMP threads make each step ~100× slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def chest6():
    return load_schema("chest6")


def _net(schema, use_refiner: bool = True, size=(32, 32)) -> LandmarkNet:
    torch.manual_seed(0)
    config = LandmarkNetConfig(
        n_landmarks=schema.n_landmarks,
        input_size=size,
        width=4,
        depth=3,
        use_refiner=use_refiner,
        refiner_hidden=8,
        adjacency=schema.normalized_adjacency().tolist() if use_refiner else [],
    )
    return LandmarkNet(config)


@pytest.mark.parametrize(("depth", "size"), [(3, (32, 32)), (4, (32, 32)), (3, (16, 32))])
def test_unet_output_shapes(depth, size):
    net = UNet(1, 5, width=4, depth=depth)
    logits, features = net(torch.randn(2, 1, *size))
    assert logits.shape == (2, 5, *size)
    assert features.shape == (2, 4, *size)
    assert net.feature_channels == 4


def test_refiner_starts_as_identity_and_uses_the_schema_adjacency(chest6):
    adjacency = chest6.normalized_adjacency()
    torch.manual_seed(0)
    refiner = GraphRefiner(4, adjacency, hidden=8)
    np.testing.assert_array_equal(refiner.adjacency.numpy(), adjacency)
    features = torch.randn(2, 4, 16, 16)
    points = torch.rand(2, 6, 2) * 15
    prob = torch.softmax(torch.randn(2, 6, 256), dim=-1).view(2, 6, 16, 16)
    assert torch.equal(refiner(features, points, prob), points)


def test_schema_adjacency_is_symmetric_normalised(chest6):
    a = chest6.normalized_adjacency()
    # Â = D^-1/2 (A + I) D^-1/2 with D the degrees of A + I, checked entry by entry.
    raw = chest6.adjacency() + np.eye(chest6.n_landmarks)
    deg = raw.sum(axis=1)
    for i in range(chest6.n_landmarks):
        for j in range(chest6.n_landmarks):
            assert a[i, j] == pytest.approx(raw[i, j] / np.sqrt(deg[i] * deg[j]), rel=1e-6)
    # Left-right pairs are joined.
    for right, left in chest6.pairs:
        assert a[right, left] > 0


def test_landmark_net_outputs(chest6):
    net = _net(chest6)
    np.testing.assert_array_equal(net.refiner.adjacency.numpy(), chest6.normalized_adjacency())
    out = net(torch.randn(2, 1, 32, 32))
    assert out["logits"].shape == (2, 6, 32, 32)
    assert out["prob"].shape == (2, 6, 32, 32)
    torch.testing.assert_close(out["prob"].sum(dim=(-2, -1)), torch.ones(2, 6))
    assert out["soft"].shape == out["refined"].shape == (2, 6, 2)
    assert ((out["soft"] >= 0) & (out["soft"] <= 31)).all()
    assert torch.equal(out["refined"], out["soft"])  # zero-initialised offset head


def test_landmark_net_without_refiner_returns_soft_points(chest6):
    net = _net(chest6, use_refiner=False)
    assert net.refiner is None
    out = net(torch.randn(1, 1, 32, 32))
    assert torch.equal(out["refined"], out["soft"])


def test_landmark_net_refuses_a_wrong_adjacency():
    with pytest.raises(ValueError, match="adjacency"):
        LandmarkNet(LandmarkNetConfig(n_landmarks=3, input_size=(32, 32), width=4, depth=3, adjacency=[[1.0]]))


def test_gradients_reach_unet_and_refiner(chest6):
    net = _net(chest6)
    images = torch.randn(2, 1, 32, 32)
    target = torch.rand(2, 6, 2) * 31
    valid = torch.ones(2, 6)
    coordinate_l1(net(images)["refined"], target, valid).backward()
    assert net.unet.head.weight.grad.abs().sum() > 0
    assert net.unet.encoders[0][0].weight.grad.abs().sum() > 0
    assert net.refiner.offset.weight.grad.abs().sum() > 0
    assert net.refiner.offset.bias.grad.abs().sum() > 0
    # Once the offset head is no longer zero, the graph convolutions learn too
    # and the refined points move away from the soft-argmax.
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    net.zero_grad()
    out = net(images)
    assert not torch.allclose(out["refined"], out["soft"])
    coordinate_l1(out["refined"], target, valid).backward()
    assert net.refiner.gc1.linear.weight.grad.abs().sum() > 0
    assert net.refiner.gc2.linear.weight.grad.abs().sum() > 0


def test_landmark_net_config_round_trip(chest6):
    config = _net(chest6).config
    again = LandmarkNetConfig.from_dict(config.to_dict())
    assert again == config


def test_patch_net_decodes_each_patch_with_its_own_channel():
    torch.manual_seed(0)
    net = PatchNet(PatchNetConfig(n_landmarks=3, patch_size=16, width=4, depth=3))
    patches = torch.randn(4, 1, 16, 16)
    ids = torch.tensor([2, 0, 1, 2])
    got = net(patches, ids)
    assert got.shape == (4, 16, 16)
    logits, _ = net.unet(patches)
    expected = logits[torch.arange(4), ids]
    torch.testing.assert_close(got, expected)
    # Not just any channel: the other channels differ.
    assert not torch.allclose(got[0], logits[0, 0])
