"""Adaptive heatmaps (DESIGN.md 2.5): generate → decode, the σ loss, recipe variants that train,
and the decoder chosen at inference."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_modelfile_and_cli import _one_thread, dataset_dir  # noqa: F401  (shared fixtures: one thread, a tiny chest6 dataset)

from core.cli import main
from core.uncertainty.conformal import heatmap_covariance
from core.heatmaps import argmax_points, local_soft_argmax, soft_argmax
from core.inference import Predictor
from core.models.adaptive_heatmap import AdaptiveGaussian, adaptive_heatmap_loss
from core.training.assemble import assemble_model
from core.training.loop import TrainConfig
from core.training.recipes import Recipe, get_recipe
from core.training.stage_runner import train_stage

SIZE = (40, 48)  # (H, W)
POINTS = torch.tensor([[12.3, 20.6], [30.0, 9.4]], dtype=torch.float64)


def _generator(sigmas: list[list[float]], angles_deg: list[float], gamma: float = 50.0) -> AdaptiveGaussian:
    gen = AdaptiveGaussian(len(sigmas), gamma=gamma).double()
    with torch.no_grad():
        gen.log_sigma.copy_(torch.tensor(sigmas, dtype=torch.float64).log())
        gen.rotation.copy_(torch.tensor(angles_deg, dtype=torch.float64).deg2rad())
    return gen


def test_adaptive_gaussian_shape_peak_and_covariance():
    gen = _generator([[2.0, 4.0], [3.0, 1.5]], [30.0, -60.0])
    maps = gen(POINTS, SIZE).detach()
    assert maps.shape == (2, *SIZE)
    # Peak γ / (2π σ1 σ2) at the (integer) point of landmark 1's map…
    centred = gen(torch.tensor([[24.0, 20.0], [30.0, 9.0]], dtype=torch.float64), SIZE).detach()
    assert centred[0, 20, 24].item() == pytest.approx(50.0 / (2 * math.pi * 8.0))
    # …and the map's covariance is R diag(σ²) Rᵀ (plus a uniform pixel's 1/12).
    cov = heatmap_covariance(centred.numpy(), np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    rot = np.array([[c, -s], [s, c]])
    want = rot @ np.diag([4.0, 16.0]) @ rot.T + np.eye(2) / 12
    assert cov[0] == pytest.approx(want, abs=2e-3)


@pytest.mark.parametrize("angles", [[0.0, 0.0], [35.0, -70.0]])
def test_generate_then_decode_round_trips(angles):
    gen = _generator([[2.0, 3.5], [1.5, 2.5]], angles)
    maps = gen(POINTS, SIZE).detach()
    logits = maps.clamp_min(1e-30).log()  # the decoders read log-densities
    assert torch.allclose(soft_argmax(logits), POINTS, atol=1e-3)
    assert torch.allclose(local_soft_argmax(logits, radius=12), POINTS, atol=1e-2)  # window ≈ 3.4 σ: tails barely cut
    peak = argmax_points(maps)
    assert (peak - POINTS).abs().max() <= 1.0 and torch.equal(peak, peak.round())
    if angles == [0.0, 0.0]:  # axis-aligned: the nearest pixel in either metric
        assert torch.equal(peak, POINTS.round())


def test_sigma_regulariser_optimum_matches_the_closed_form():
    """Against an all-zero prediction, ‖g‖² ≈ γ²/(4πσ²) and the loss γ²/(4πσ²) + ασ² is smallest at σ² = γ/√(4πα)."""
    gamma, alpha = 50.0, 5.0
    sigmas = np.linspace(1.5, 4.0, 51)
    point = torch.tensor([[40.0, 40.0]], dtype=torch.float64)
    losses = []
    for s in sigmas:
        gen = _generator([[s, s]], [0.0], gamma)
        terms = adaptive_heatmap_loss(torch.zeros(1, 1, 80, 80, dtype=torch.float64), gen(point[None], (80, 80)),
                                      gen.sigmas, torch.ones(1, 1), alpha)
        losses.append(sum(terms.values()).item())
    best = sigmas[int(np.argmin(losses))]
    assert best == pytest.approx(math.sqrt(gamma / math.sqrt(4 * math.pi * alpha)), abs=0.06)  # 2.51


@pytest.mark.parametrize("start", [1.2, 6.0])
def test_loss_decreases_as_sigma_moves_to_the_optimum(start):
    """The network's heatmap is the σ* = 3 Gaussian: the loss falls all the way from σ = start to σ*,
    and its gradient points there (descent moves σ towards σ*)."""
    predicted = _generator([[3.0, 3.0]], [0.0])(POINTS[:1][None], SIZE).detach()

    def loss_at(sigma: float) -> tuple[float, float]:
        gen = _generator([[sigma, sigma]], [0.0])
        loss = sum(adaptive_heatmap_loss(predicted, gen(POINTS[:1][None], SIZE), gen.sigmas, torch.ones(1, 1), alpha=1e-3).values())
        loss.backward()
        return loss.item(), gen.log_sigma.grad.sum().item()

    path = [loss_at(s) for s in np.linspace(start, 3.0, 12)]
    losses = [value for value, _ in path]
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < 0.01 * losses[0]
    assert np.sign(path[0][1]) == np.sign(start - 3.0)  # dL/dlogσ > 0 above σ*, < 0 below


def test_cross_entropy_with_adaptive_targets_is_refused():
    with pytest.raises(KeyError, match="unknown recipe"):
        get_recipe("chest6-fancy")
    recipe = get_recipe("chest6-adaptive")
    assert recipe.heatmap == "adaptive" and recipe.global_train.loss == "l2"
    from core.losses.heatmap import check_options

    with pytest.raises(ValueError, match="regression loss"):
        check_options("ce", "adaptive")


# --- tiny trained models: variants train through the same engine, decoders at inference ----------


def _tiny(variant) -> Recipe:
    base = Recipe(name="tiny", schema="chest6", input_size=(32, 32), width=4, depth=3,
                  global_train=TrainConfig(epochs=2, sigma=(2.0, 2.0)), patch_size=16, fine_scale=0.5,
                  patch_width=4, patch_depth=3, patch_train=TrainConfig(epochs=1))
    return variant(base) if variant else base


@pytest.fixture(scope="module")
def adaptive_model(dataset_dir, tmp_path_factory) -> Path:
    recipe = _tiny(Recipe.adaptive)
    work = tmp_path_factory.mktemp("adaptive") / "work"
    for stage in ("global", "patch"):
        train_stage(recipe, stage, dataset_dir, work, device_preference="cpu")
    return assemble_model(work, work.parent / "tiny-adaptive.pt", recipe.name, inference=recipe.inference)


def test_adaptive_variant_trains_and_ships_its_learned_sigmas(adaptive_model):
    card = json.loads(adaptive_model.with_suffix(".json").read_text())
    assert card["architecture"]["global"]["heatmap"] == "adaptive"
    assert card["training"]["global"]["train_config"]["loss"] == "l2"
    state = torch.load(adaptive_model, weights_only=True)
    sigmas = state["global.target_generator.log_sigma"].exp()
    assert sigmas.shape == (6, 2) and not torch.allclose(sigmas, torch.full((6, 2), 2.0))  # learned, from σ0 = 2
    predictor = Predictor(adaptive_model, "cpu")
    assert predictor.model.global_net.target_generator.sigmas.detach().numpy() == pytest.approx(sigmas.numpy())


def test_sc_variant_trains_one_step_on_laplace_targets(dataset_dir, tmp_path):
    recipe = replace(_tiny(Recipe.spatial_configuration), global_train=replace(_tiny(Recipe.spatial_configuration).global_train, epochs=1))
    record = train_stage(recipe, "global", dataset_dir, tmp_path, device_preference="cpu")
    assert record["model_config"]["heatmap"] == "laplace" and record["train_config"]["loss"] == "sc"
    assert math.isfinite(record["history"][0]["train_loss"]) and math.isfinite(record["best_val_mre_px"])


def test_decoder_option_changes_what_predict_uses(adaptive_model, dataset_dir, capsys):
    image = dataset_dir / "images" / "img03.png"
    default = Predictor(adaptive_model, "cpu").predict(image)
    arg = Predictor(adaptive_model, "cpu", decoder="argmax").predict(image)
    assert default.decoder == "soft_argmax" and arg.decoder == "argmax"
    assert not np.allclose(default.points, arg.points)
    np.testing.assert_allclose(default.refined, arg.refined)  # only the final decoding differs
    assert main(["predict", str(image), "--model", str(adaptive_model), "--decoder", "local_soft_argmax", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decoder"] == "local_soft_argmax"
    assert main(["predict", str(image), "--model", str(adaptive_model), "--decoder", "median"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("anatomark: unknown decoder 'median'") and "\n" not in err


def test_card_decoder_is_the_default_and_the_override_wins(adaptive_model, tmp_path):
    from core.modelfile import read_card, republish

    card = read_card(adaptive_model)
    card["inference"] = dict(card["inference"], decoder="blob")
    out = republish(adaptive_model, tmp_path / "blob.pt", card)
    assert Predictor(out, "cpu").patch_decoder == "blob"
    assert Predictor(out, "cpu", decoder="argmax").patch_decoder == "argmax"


def test_regression_heatmaps_are_decoded_as_their_papers_do(adaptive_model, dataset_dir, tmp_path):
    """Adaptive and spatial-configuration maps peak at ~1 over a flat background, where a global
    soft-argmax drifts to the image centre: their recipes name a decoder for the global heatmaps
    (landmarker's local soft-argmax; the SC paper's largest blob), the patch stage keeps its own,
    and --decoder still wins for a model whose global heatmaps are its final ones."""
    assert _tiny(Recipe.adaptive).inference["global_decoder"] == "local_soft_argmax"
    assert _tiny(Recipe.spatial_configuration).inference["global_decoder"] == "blob"
    assert "global_decoder" not in _tiny(None).inference
    two_stage = Predictor(adaptive_model, "cpu")
    assert (two_stage.global_decoder, two_stage.final_decoder) == ("local_soft_argmax", "soft_argmax")
    plain = _tiny(lambda r: r.ablation().adaptive())  # the experiment's "adaptive": no refiner, no patch stage
    work = tmp_path / "work"
    train_stage(plain, "global", dataset_dir, work, device_preference="cpu")
    global_only = assemble_model(work, tmp_path / "global-only.pt", "tiny", inference=plain.inference, with_patch=False)
    image = dataset_dir / "images" / "img03.png"
    default = Predictor(global_only, "cpu").predict(image)
    assert default.decoder == "local_soft_argmax" and not np.allclose(default.points, default.soft_argmax)
    override = Predictor(global_only, "cpu", decoder="soft_argmax").predict(image)
    assert override.decoder == "soft_argmax" and np.allclose(override.points, override.soft_argmax)
