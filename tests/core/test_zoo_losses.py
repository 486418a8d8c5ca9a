"""Losses of the segmentation-informed model and FARNet's EWC on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from core.losses.farnet import EWC_ALPHA, coarse_to_fine_ewc, ewc_loss
from core.losses.segmentation import anatomical_consistency, heatmap_kl, segmentation_loss, soft_dice, structure_mass


def test_ewc_alpha_is_the_papers():
    assert EWC_ALPHA == 40.0


def test_ewc_weights_each_squared_error_by_alpha_to_the_target():
    target = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])
    pred = torch.tensor([[[[0.0, 0.0], [0.25, 0.1]]]])
    # (1·40¹ + 0 + 0.25²·40^0.5 + 0.1²·40⁰) / 4 pixels
    expected = (40.0 + 0.0625 * math.sqrt(40.0) + 0.01) / 4.0
    assert ewc_loss(pred, target).item() == pytest.approx(expected, rel=1e-6)
    assert ewc_loss(target, target).item() == 0.0


def test_ewc_leaves_missing_landmarks_out_and_sums_both_scales():
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 1.0
    pred = torch.zeros(1, 2, 2, 2)
    pred[0, 1] = 3.0  # landmark 1 is missing: its error must not count
    valid = torch.tensor([[1.0, 0.0]])
    assert ewc_loss(pred, target, valid=valid).item() == pytest.approx(40.0 / 4.0)
    coarse_target, coarse_pred = torch.zeros(1, 2, 1, 1), torch.full((1, 2, 1, 1), 0.5)
    total = coarse_to_fine_ewc({"coarse": coarse_pred, "logits": pred}, (coarse_target, target), valid)
    assert total.item() == pytest.approx(0.25 + 10.0)


def test_kl_is_log_n_from_uniform_to_one_hot_and_zero_at_the_target():
    logits = torch.zeros(1, 1, 2, 2)
    one_hot = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert heatmap_kl(logits, one_hot, torch.ones(1, 1)).item() == pytest.approx(math.log(4.0))
    target = torch.softmax(torch.tensor([1.0, 2.0, 0.5, -1.0]), 0).view(1, 1, 2, 2)
    assert heatmap_kl(torch.log(target), target, torch.ones(1, 1)).item() == pytest.approx(0.0, abs=1e-6)
    # A missing landmark (valid 0, all-zero target) contributes nothing.
    both = heatmap_kl(torch.zeros(1, 2, 2, 2), torch.cat([one_hot, torch.zeros_like(one_hot)], 1), torch.tensor([[1.0, 0.0]]))
    assert both.item() == pytest.approx(math.log(4.0))


def test_dice_and_segmentation_loss():
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert soft_dice(target, target).item() == pytest.approx(0.0)
    # prob ½ everywhere: |P∩T| = 0.5, |P| + |T| = 3 → Dice (1 + 1)/(3 + 1) = 0.5 (ε = 1)
    assert soft_dice(torch.full_like(target, 0.5), target).item() == pytest.approx(0.5)
    # zero logits: sigmoid ½ (Dice loss 0.5) and binary CE log 2
    assert segmentation_loss(torch.zeros_like(target), target).item() == pytest.approx(0.5 + math.log(2.0))
    # exclusive: 2 logits (background, class) all zero → softmax ½, CE log 2, Dice 0.5
    assert segmentation_loss(torch.zeros(1, 2, 2, 2), target, exclusive=True).item() == pytest.approx(0.5 + math.log(2.0))


def test_structure_mass_and_consistency_weights_absent_landmarks_twice():
    prob = torch.full((1, 3, 2, 2), 0.25)  # uniform spatial distributions
    masks = torch.zeros(1, 2, 2, 2)
    masks[0, 0, 0, 0] = 1.0  # class 0: one pixel of four
    masks[0, 1] = 1.0  # class 1: everything
    classes = [0, 1, None]
    v = structure_mass(prob, masks, classes)
    assert v[0, :2].tolist() == pytest.approx([0.25, 1.0]) and math.isnan(v[0, 2])
    # present (1): |0.25 − 1| and |1 − 1|, weight 1 → mean over the two classed landmarks
    assert anatomical_consistency(prob, masks, classes, torch.ones(1, 3)).item() == pytest.approx(0.75 / 2)
    # absent (0): weight 2 → (2·0.25 + 2·1) / 2
    assert anatomical_consistency(prob, masks, classes, torch.zeros(1, 3)).item() == pytest.approx(1.25)


def test_consistency_gradients_reach_heatmaps_and_masks():
    logits = torch.zeros(1, 1, 4, 4, requires_grad=True)
    seg = torch.linspace(-2, 2, 16).view(1, 1, 4, 4).requires_grad_()  # a mask that is not flat
    prob = torch.softmax(logits.flatten(2), -1).view_as(logits)
    loss = anatomical_consistency(prob, torch.sigmoid(seg), [0], torch.ones(1, 1))
    loss.backward()
    assert logits.grad.abs().sum() > 0 and seg.grad.abs().sum() > 0
