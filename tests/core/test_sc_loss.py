"""Spatial-configuration loss (DESIGN.md 2.2) and the threshold-and-largest-blob decoder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.heatmaps import DECODERS, blob_centroids, decode, laplace_heatmaps
from core.losses.spatial_configuration import (
    configuration_loss,
    coordinate_maps,
    correlation_map,
    sc_embeddings,
    spatial_configuration_loss,
)

N = 8  # 8×8 grid


def _numpy_sc_loss(h: np.ndarray, o: np.ndarray, gamma: float, beta: float) -> tuple[float, float]:
    """The paper's loss for one image written out with numpy loops: (‖H − O‖², γ‖C − C_gt‖²)."""
    size = h.shape[-1]
    c = (size - 1) / 2
    raw = np.zeros((4, size, size))
    for v in range(size):
        for u in range(size):
            raw[:, v, u] = (u, v, math.hypot(u - c, v - c), math.atan2(v - c, u - c))
    f = np.stack([(m - m.mean()) / m.std() for m in raw])

    def corr(maps: np.ndarray) -> np.ndarray:
        e = []
        for m in maps:
            w = np.exp(beta * m - (beta * m).max())
            w /= w.sum()
            e.append([(w * f[d]).sum() for d in range(4)])
        e = np.array(e)
        return e @ e.T

    return float(((h - o) ** 2).sum()), gamma * float(((corr(h) - corr(o)) ** 2).sum())


def test_coordinate_maps_are_instance_normalised_x_y_radius_angle():
    f = coordinate_maps((N, N), torch.float64)
    assert f.shape == (4, N, N)
    assert torch.allclose(f.mean(dim=(1, 2)), torch.zeros(4, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(f.std(dim=(1, 2), unbiased=False), torch.ones(4, dtype=torch.float64))
    # x = 0..7 has mean 3.5 and population std sqrt(63/12): x = 0 maps to -3.5 / 2.2913 = -1.5275.
    assert f[0, 5, 0].item() == pytest.approx(-3.5 / math.sqrt(63 / 12))
    assert f[1, 0, 3].item() == pytest.approx(-3.5 / math.sqrt(63 / 12))
    # Radius is smallest at the four centre pixels and symmetric; angle increases anticlockwise in (x, −y).
    r = f[2]
    assert r[3, 3] == r[4, 4] == r.min() and r[0, 0] == r[7, 7] == r.max()
    assert f[3, 7, 4] > f[3, 4, 7]  # atan2(+3.5, 0.5) > atan2(0.5, 3.5)


def test_embedding_of_a_sharp_peak_is_the_coordinate_maps_there():
    """With one pixel far above the rest, softmax(β·H) is one-hot: e_k = f(u, v)."""
    h = torch.zeros(1, 2, N, N, dtype=torch.float64)
    h[0, 0, 1, 2] = 10.0  # landmark 0 at (x 2, y 1)
    h[0, 1, 6, 5] = 10.0  # landmark 1 at (x 5, y 6)
    e = sc_embeddings(h, beta=10.0)
    f = coordinate_maps((N, N), torch.float64)
    assert e.shape == (1, 2, 4)
    assert torch.allclose(e[0, 0], f[:, 1, 2], atol=1e-20) and torch.allclose(e[0, 1], f[:, 6, 5], atol=1e-20)
    c = correlation_map(e)
    assert c.shape == (1, 2, 2)
    assert c[0, 0, 1].item() == pytest.approx(float(f[:, 1, 2] @ f[:, 6, 5]))
    assert torch.allclose(c, c.transpose(1, 2))


def test_sc_loss_matches_a_numpy_computation_on_2_landmarks_8x8():
    rng = np.random.default_rng(3)
    h = rng.uniform(0, 1, (2, N, N))
    o = laplace_heatmaps(torch.tensor([[2.3, 1.0], [5.0, 6.4]], dtype=torch.float64), (N, N), 1.5).numpy()
    want_l2, want_corr = _numpy_sc_loss(h, o, gamma=1e-4, beta=10.0)
    got = spatial_configuration_loss(torch.tensor(h)[None], torch.tensor(o)[None], torch.ones(1, 2, dtype=torch.float64))
    assert set(got) == {"heatmap_l2", "sc_correlation"}
    assert got["heatmap_l2"].item() == pytest.approx(want_l2, rel=1e-10)
    assert got["sc_correlation"].item() == pytest.approx(want_corr, rel=1e-8)
    assert want_corr > 0


def test_sc_loss_is_zero_at_the_target_and_averages_over_the_batch():
    o = laplace_heatmaps(torch.tensor([[[2.0, 3.0], [6.0, 1.0]]]), (N, N), 1.0)
    zero = spatial_configuration_loss(o, o, torch.ones(1, 2))
    assert zero["heatmap_l2"].item() == 0.0 and zero["sc_correlation"].item() == 0.0
    h = torch.rand(1, 2, N, N, generator=torch.Generator().manual_seed(0))
    one = configuration_loss(h, o, torch.ones(1, 2))
    two = configuration_loss(torch.cat([h, h]), torch.cat([o, o]), torch.ones(2, 2))
    assert two.item() == pytest.approx(one.item(), rel=1e-6)


def test_missing_landmark_leaves_its_map_and_pairs_out():
    o = laplace_heatmaps(torch.tensor([[[2.0, 3.0], [6.0, 1.0]]]), (N, N), 1.0)
    h = o.clone()
    h[0, 1] = torch.rand(N, N, generator=torch.Generator().manual_seed(1))  # landmark 1 wrong…
    terms = spatial_configuration_loss(h, o, torch.tensor([[1.0, 0.0]]))  # …but missing
    assert terms["heatmap_l2"].item() == 0.0 and terms["sc_correlation"].item() == 0.0


def test_gradients_reach_every_heatmap_through_both_terms():
    o = laplace_heatmaps(torch.tensor([[[2.0, 3.0], [6.0, 1.0]]]), (N, N), 1.0)
    h = torch.rand(1, 2, N, N, generator=torch.Generator().manual_seed(2), requires_grad=True)
    configuration_loss(h, o, torch.ones(1, 2)).backward()
    assert h.grad is not None and torch.isfinite(h.grad).all() and (h.grad.abs().sum(dim=(2, 3)) > 0).all()
    h.grad = None
    sum(spatial_configuration_loss(h, o, torch.ones(1, 2)).values()).backward()
    assert (h.grad.abs().sum(dim=(2, 3)) > 0).all()


# --- threshold-and-largest-blob decoder --------------------------------------------------


def test_blob_decoder_takes_the_centroid_of_the_largest_blob():
    h = torch.zeros(1, 2, 12, 12)
    h[0, 0, 2:4, 2:4] = 1.0  # small blob, centroid (2.5, 2.5)
    h[0, 0, 7:10, 6:9] = 0.97  # larger blob above 0.95, centroid (7, 8)
    h[0, 1, 5, 5] = 0.5  # a single peak: the blob is that pixel (threshold is 95 % of the range)
    h[0, 1, 0, 11] = 0.4
    points = blob_centroids(h)
    assert points.shape == (1, 2, 2)
    assert points[0, 0].tolist() == [7.0, 8.0]
    assert points[0, 1].tolist() == [5.0, 5.0]
    assert "blob" in DECODERS and torch.equal(decode(h, "blob"), points)


def test_blob_decoder_threshold_is_the_papers_095_on_unit_range_maps():
    h = torch.zeros(1, 10, 10)
    h[0, 4, 4] = 1.0
    h[0, 4, 5] = 0.96  # inside at 0.95
    h[0, 4, 6] = 0.94  # outside
    assert blob_centroids(h)[0].tolist() == [4.5, 4.0]


def test_the_sc_recipe_regresses_scaled_targets_and_decodes_at_the_same_sharpness():
    """Issue 21: with Laplace targets of peak 1 the ceph U-Net's heatmaps had not formed after two
    minutes (the flat background dominates ‖H − O‖²); the SC recipe regresses targets of peak
    SC_TARGET_SCALE and scales the soft-argmax temperature with them."""
    from dataclasses import replace

    from core.losses.heatmap import heatmap_terms
    from core.schema import load_schema
    from core.training.families import build_global
    from core.training.recipes import SC_TARGET_SCALE, get_recipe

    recipe = replace(get_recipe("ceph19-plain-sc"), input_size=(32, 32), width=4, depth=3)
    net = build_global(recipe, load_schema("ceph19"))
    assert net.config.target_scale == SC_TARGET_SCALE == 100.0
    assert net.config.temperature == pytest.approx(0.05 * SC_TARGET_SCALE)
    points = torch.tensor([[[10.0, 12.0]] * 19])
    valid = torch.ones(1, 19)
    zero = torch.zeros(1, 19, 32, 32)
    terms = heatmap_terms(net, zero, points, valid, (32, 32), 2.0, recipe.global_train)
    target = laplace_heatmaps(points, (32, 32), 2.0) * SC_TARGET_SCALE
    assert terms["heatmap_l2"].item() == pytest.approx(float((target ** 2).sum()), rel=1e-5)
    # The same sharpness as peak-1 maps at temperature 0.05: soft-argmax lands on the peak.
    assert torch.allclose(decode(target, "soft_argmax", net.config.temperature), points, atol=0.05)


def test_cards_of_before_the_target_scale_load_with_peak_one_targets():
    from core.models import LandmarkNetConfig

    old = LandmarkNetConfig(3, (32, 32), use_refiner=False, heatmap="laplace").to_dict()
    del old["target_scale"]
    assert LandmarkNetConfig.from_dict(old).target_scale == 1.0


class _RegressionHeatmaps(torch.nn.Module):
    """A 'network' whose regression heatmaps (targets of peak 100, temperature 5 as the SC recipe's)
    have a peak of 30 at (20, 12) over a background of 5: as the SC model's are while they form."""

    def __init__(self) -> None:
        super().__init__()
        from core.models import LandmarkNetConfig

        self.config = LandmarkNetConfig(1, (32, 48), use_refiner=False, temperature=5.0, target_scale=100.0)
        self.refiner = None

    def forward(self, images):
        yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(48.0), indexing="ij")
        logits = (5.0 + 25.0 * ((xx - 20) ** 2 + (yy - 12) ** 2 < 4).float())[None, None]
        soft = decode(logits, "soft_argmax", self.config.temperature)
        return {"logits": logits, "prob": logits, "soft": soft, "refined": soft}


def test_validation_decodes_regression_heatmaps_as_inference_does(tmp_path):
    """Issue 21: checkpoints of the SC and adaptive models were selected on the soft-argmax of
    their regression heatmaps, which a faint background pulls towards the centre, while inference
    decodes them with the paper's decoder; ``val_decoder`` makes validation use that one."""
    from PIL import Image

    from core.training.datasets import Sample
    from core.training.loop import TrainConfig
    from core.training.samplers import cache_images
    from core.training.stages import GlobalStage

    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 96), np.uint8)).save(path)
    truth = np.array([[20.0 * 2 + 0.5, 12.0 * 2 + 0.5]])  # (20, 12) at the 48×32 input, in 96×64 image px
    items = cache_images([Sample("x", path, truth)], (32, 48), None)
    schema = type("S", (), {"pairs": (), "levels": ()})()
    model = _RegressionHeatmaps()
    centre_pulled = GlobalStage(model, schema, items, items, TrainConfig(), torch.device("cpu")).validate()
    decoded = GlobalStage(model, schema, items, items, TrainConfig(val_decoder="blob"), torch.device("cpu")).validate()
    assert decoded < 0.5 < 5.0 < centre_pulled
    from core.training.recipes import get_recipe

    assert get_recipe("ceph19-sc").global_train.val_decoder == "blob"
    assert get_recipe("ceph19-adaptive").global_train.val_decoder == "local_soft_argmax"


def test_adaptive_targets_start_at_the_same_peak():
    """Issue 21: the adaptive recipe's targets started at peak γ/2πσ² ≈ 0.9 (γ 50, σ 3), the same
    too-faint regression target as SC's; they now start at SC_TARGET_SCALE."""
    import math
    from dataclasses import replace

    from core.schema import load_schema
    from core.training.families import build_global
    from core.training.recipes import SC_TARGET_SCALE, get_recipe

    recipe = replace(get_recipe("ceph19-plain-adaptive"), input_size=(32, 32), width=4, depth=3)
    net = build_global(recipe, load_schema("ceph19"))
    maps = net.target_generator(torch.tensor([[16.0, 16.0]] * 19), (32, 32))
    assert maps.amax().item() == pytest.approx(SC_TARGET_SCALE, rel=1e-4)
    assert net.config.temperature == pytest.approx(0.05 * SC_TARGET_SCALE)
    plain = build_global(replace(get_recipe("ceph19-plain"), input_size=(32, 32), width=4, depth=3), load_schema("ceph19"))
    assert plain.config.heatmap_gamma == 50.0 and plain.config.target_scale == 1.0 and not math.isnan(plain.config.temperature)


@pytest.mark.parametrize("variant", ["ceph19-plain-sc", "ceph19-plain-adaptive"])
def test_scaled_targets_keep_the_papers_loss_up_to_a_constant(variant):
    """Issue 21: the regression recipes fit targets of peak s = 100 instead of the paper's 1, and
    every term must then be the paper's loss × s² (‖H − sO‖² = s²‖H/s − O‖²). Two terms were not:
    the SC term's softmax(β·H), meant for maps in [0, 1], saturated on peaks of 100 (the term went
    flat), and the adaptive σ regulariser kept α while ‖g‖² grew by s², so σ grew (3 → 5 px in 18
    epochs, equilibrium ≈ 27 px)."""
    from dataclasses import replace

    from core.losses.heatmap import heatmap_terms
    from core.schema import load_schema
    from core.training.families import build_global
    from core.training.recipes import get_recipe

    recipe = replace(get_recipe(variant), input_size=(24, 24), width=4, depth=3)
    scaled = build_global(recipe, load_schema("ceph19"))
    s = scaled.config.target_scale
    assert s == 100.0
    paper = build_global(replace(recipe, target_scale=1.0), load_schema("ceph19"))
    if recipe.heatmap == "adaptive":  # the paper's γ: the same initial σ, peak 1
        paper.target_generator.gamma = scaled.target_generator.gamma / s
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(2, 19, 2, generator=generator) * 20 + 2
    valid = torch.ones(2, 19)
    logits = torch.rand(2, 19, 24, 24, generator=generator)  # a forming map in the paper's units
    config = replace(recipe.global_train, sc_gamma=1e-1) if recipe.global_train.loss == "sc" else recipe.global_train
    at_scale = heatmap_terms(scaled, logits * s, points, valid, (24, 24), 2.0, config)
    in_paper_units = heatmap_terms(paper, logits, points, valid, (24, 24), 2.0, config)
    assert at_scale.keys() == in_paper_units.keys() and len(at_scale) == 2
    for name, value in at_scale.items():
        assert value.item() == pytest.approx(s**2 * in_paper_units[name].item(), rel=1e-4), name


def test_regression_targets_start_wide():
    """Issue 21: from σ 3 an L2 head channel whose features did not yet see its landmark settled at
    weights ≈ 0 and bias = the target's mean, and never formed (ceph `sc` seed 2: 2 of 19 landmarks,
    validation stuck at 32 px; `adaptive`: 3). The regression recipes start at REGRESSION_START_SIGMA
    (adaptive: its learned σ starts there; from 5 every `sc` seed kept all 19) and still end at the
    recipe's σ; cross-entropy recipes keep theirs."""
    from dataclasses import replace

    from core.schema import load_schema
    from core.training.families import build_global
    from core.training.recipes import REGRESSION_START_SIGMA, SC_TARGET_SCALE, get_recipe

    for name in ("ceph19", "chest6"):
        base = get_recipe(name).global_train.sigma
        assert base[0] < REGRESSION_START_SIGMA
        for variant in ("sc", "adaptive", "plain-sc", "plain-adaptive"):
            assert get_recipe(f"{name}-{variant}").global_train.sigma == (REGRESSION_START_SIGMA, base[1])
        assert get_recipe(f"{name}-plain").global_train.sigma == base
    recipe = replace(get_recipe("ceph19-plain-adaptive"), input_size=(32, 32), width=4, depth=3)
    net = build_global(recipe, load_schema("ceph19"))
    assert torch.allclose(net.target_generator.sigmas, torch.full((19, 2), REGRESSION_START_SIGMA))
    maps = net.target_generator(torch.tensor([[16.0, 16.0]] * 19), (32, 32))
    assert maps.amax().item() == pytest.approx(SC_TARGET_SCALE, rel=1e-4)
