"""Interactive re-prediction (core.repredict) and the Gaussian shape prior (core.shape_prior)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.models.refiner import GraphRefiner
from core.shape_prior import condition_heatmaps, fit_shape_prior

RG1 = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"


@pytest.fixture(scope="module")
def chest():
    from core.imaging import load_image
    from core.inference import Predictor
    from core.repredict import Repredictor

    predictor = Predictor("chest6", "cpu")
    radiograph = load_image(RG1)
    return predictor, Repredictor(predictor), radiograph, predictor.predict(radiograph)


def test_pinned_refiner_nodes_keep_the_given_point_and_full_confidence():
    torch.manual_seed(0)
    k, c = 4, 3
    refiner = GraphRefiner(c, np.full((k, k), 1.0 / k), hidden=8)
    torch.nn.init.normal_(refiner.offset.weight, std=0.5)  # a refiner that moves points
    features = torch.randn(1, c, 16, 16)
    prob = torch.softmax(torch.randn(1, k, 256), -1).view(1, k, 16, 16)
    points = torch.rand(1, k, 2) * 15
    pinned = torch.tensor([[True, False, False, True]])
    free = refiner(features, points, prob)
    out = refiner(features, points, prob, pinned=pinned)
    assert torch.equal(out[0, [0, 3]], points[0, [0, 3]])
    assert not torch.allclose(free[0, [0, 3]], points[0, [0, 3]])
    # The neighbours see the pins' confidence of 1 instead of the heatmap's: their answer changes.
    assert not torch.allclose(out[0, [1, 2]], free[0, [1, 2]])


def test_without_pins_the_reprediction_is_the_prediction(chest):
    predictor, repredictor, radiograph, prediction = chest
    again = repredictor.repredict(radiograph, {}, key="rg1")
    got = np.array([again.points[n] for n in predictor.schema.landmarks])
    np.testing.assert_allclose(got, prediction.points, atol=1e-2)


def test_pinned_landmarks_are_not_returned_and_unmoved_ones_keep_their_answer(chest):
    predictor, repredictor, radiograph, prediction = chest
    names = predictor.schema.landmarks
    pin = {names[0]: tuple(prediction.points[0] + (30.0, -20.0))}
    result = repredictor.repredict(radiograph, pin, key="rg1", previous=prediction.points)
    assert set(result.points) == set(names[1:]) and result.pinned == (names[0],)
    for k, name in enumerate(names[1:], start=1):
        assert np.all(np.isfinite(result.points[name]))
        # chest6's refiner hardly reacts to a pin (bench_pinned.py): the patch stage is skipped
        # for points it did not move, and they keep the prediction's answer exactly.
        np.testing.assert_allclose(result.points[name], prediction.points[k], atol=1e-6)
    assert result.timings_ms["global"] < result.timings_ms["total"] + 1e-9


def test_the_global_stage_is_cached_per_key(chest):
    _predictor, repredictor, radiograph, _prediction = chest
    first = repredictor.global_state(radiograph, key="cache-test")
    assert repredictor.global_state(radiograph, key="cache-test") is first
    assert repredictor.global_state(radiograph, key=None) is not first


@pytest.mark.parametrize("pin", [{"nonexistent": (1.0, 2.0)}, {"R_apex": (float("nan"), 2.0)}, {"R_apex": (1.0,)}])
def test_bad_pins_are_one_typed_error(chest, pin):
    from core.repredict import RepredictError

    _predictor, repredictor, radiograph, _prediction = chest
    with pytest.raises(RepredictError):
        repredictor.repredict(radiograph, pin)


def test_shape_prior_conditions_on_a_pinned_translation():
    rng = np.random.default_rng(0)
    base = np.array([[20.0, 30.0], [60.0, 35.0], [40.0, 80.0]])
    shift = rng.normal(0, 8, size=(200, 1, 2))
    shapes = base[None] + shift + rng.normal(0, 0.5, size=(200, 3, 2))
    prior = fit_shape_prior(shapes, (100, 100))
    pinned = np.array([True, False, False])
    q = (base + (10.0, -6.0) + 0.5) / 100.0  # landmark 0 placed 10 px right, 6 px up of its mean
    means, covs = prior.condition(pinned, q)
    # The others follow the same translation; their uncertainty shrinks to the residual noise.
    np.testing.assert_allclose(means[1:] * 100 - 0.5, base[1:] + (10.0, -6.0), atol=1.5)
    assert np.all(np.sqrt(np.diagonal(covs[1:], axis1=1, axis2=2)) * 100 < 2.0)
    np.testing.assert_allclose(means[0], q[0])


def test_shape_prior_picks_the_heatmap_mode_it_agrees_with():
    h = w = 40
    prob = torch.zeros(1, h, w)
    prob[0, 10, 8] = prob[0, 10, 30] = 0.5  # two equal modes: the soft-argmax lands between them
    means = np.array([[29.0, 11.0]])
    covs = np.array([[[9.0, 0.0], [0.0, 9.0]]])
    out = condition_heatmaps(prob, means, covs, np.array([True]))
    np.testing.assert_allclose(out[0].numpy(), (30.0, 10.0), atol=0.5)
    untouched = condition_heatmaps(prob, means, covs, np.array([False]))
    np.testing.assert_allclose(untouched[0].numpy(), (19.0, 10.0), atol=1e-6)


def test_shape_prior_needs_two_complete_shapes():
    with pytest.raises(ValueError):
        fit_shape_prior(np.array([[[1.0, 2.0]], [[np.nan, 1.0]]]), (10, 10))
