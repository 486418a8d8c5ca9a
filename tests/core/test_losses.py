"""Losses of DESIGN.md 2.1 on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from core.losses.structure import coordinate_l1, heatmap_cross_entropy, order_loss, symmetry_loss

NAN = float("nan")


def test_heatmap_cross_entropy_by_hand():
    logits = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])  # (1, 1, 2, 2)
    target = torch.tensor([[[[0.1, 0.2], [0.3, 0.4]]]])
    # -Σ t (x - logsumexp(x)) = logsumexp(x) - Σ t x, with Σ t x = 0.2 + 0.6 + 1.2 = 2.0.
    expected = math.log(1 + math.e + math.e**2 + math.e**3) - 2.0
    got = heatmap_cross_entropy(logits, target, torch.ones(1, 1))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.44019, abs=1e-5)


def test_heatmap_cross_entropy_one_hot_target_is_minus_log_prob():
    logits = torch.tensor([[[[0.0, 0.0], [0.0, math.log(5.0)]]]])  # softmax = (1, 1, 1, 5) / 8
    target = torch.tensor([[[[0.0, 0.0], [0.0, 1.0]]]])
    assert heatmap_cross_entropy(logits, target, torch.ones(1, 1)).item() == pytest.approx(-math.log(5 / 8), rel=1e-6)


def test_heatmap_cross_entropy_excludes_invalid_landmarks():
    good_logits = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    good_target = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    logits = torch.stack([good_logits, torch.full((2, 2), 50.0)])[None]  # (1, 2, 2, 2)
    target = torch.stack([good_target, torch.tensor([[1.0, 0.0], [0.0, 0.0]])])[None]
    alone = heatmap_cross_entropy(good_logits[None, None], good_target[None, None], torch.ones(1, 1))
    masked = heatmap_cross_entropy(logits, target, torch.tensor([[1.0, 0.0]]))
    assert masked.item() == pytest.approx(alone.item(), rel=1e-6)  # mean over valid ones only
    both = heatmap_cross_entropy(logits, target, torch.ones(1, 2))
    assert both.item() == pytest.approx((alone.item() + math.log(4)) / 2, rel=1e-6)


def test_heatmap_cross_entropy_nothing_valid_is_zero():
    logits = torch.randn(1, 2, 3, 3)
    target = torch.full((1, 2, 3, 3), 1 / 9)
    assert heatmap_cross_entropy(logits, target, torch.zeros(1, 2)).item() == 0.0


def test_coordinate_l1_by_hand():
    pred = torch.tensor([[[1.0, 2.0], [3.0, 5.0]]])
    target = torch.tensor([[[0.0, 0.0], [3.0, 1.0]]])
    assert coordinate_l1(pred, target, torch.ones(1, 2)).item() == pytest.approx((3 + 4) / 2)
    assert coordinate_l1(pred, target, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(3.0)


def test_coordinate_l1_missing_target_does_not_leak_nan():
    pred = torch.tensor([[[1.0, 2.0], [3.0, 5.0]]], requires_grad=True)
    target = torch.tensor([[[0.0, 0.0], [NAN, NAN]]])
    loss = coordinate_l1(pred, target, torch.tensor([[1.0, 0.0]]))
    assert loss.item() == pytest.approx(3.0)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[0, 1].tolist() == [0.0, 0.0]


def test_symmetry_loss_by_hand():
    # Right landmark at (10, 10), left at (15, 13): |13 - 10| = 3, max(0, 8 - 5) = 3.
    points = torch.tensor([[[10.0, 10.0], [15.0, 13.0]]])
    assert symmetry_loss(points, [(0, 1)], 8.0).item() == pytest.approx(6.0)
    # Far enough apart: only the height term.
    assert symmetry_loss(points, [(0, 1)], 4.0).item() == pytest.approx(3.0)
    # Mean over the batch: a perfect second image halves it.
    batch = torch.cat([points, torch.tensor([[[10.0, 10.0], [30.0, 10.0]]])])
    assert symmetry_loss(batch, [(0, 1)], 8.0).item() == pytest.approx(3.0)


def test_symmetry_loss_sums_pairs_and_no_pairs_is_zero():
    points = torch.tensor([[[0.0, 0.0], [10.0, 1.0], [0.0, 20.0], [10.0, 22.0]]])
    assert symmetry_loss(points, [(0, 1), (2, 3)], 5.0).item() == pytest.approx(1.0 + 2.0)
    assert symmetry_loss(points, [], 5.0).item() == 0.0


def _three_levels(top: float, mid: float, bottom: float) -> torch.Tensor:
    """Two landmarks per level at heights y ± 1, so pair means are exactly top, mid, bottom."""
    ys = [top - 1, top + 1, mid - 1, mid + 1, bottom - 1, bottom + 1]
    return torch.tensor([[[float(i), y] for i, y in enumerate(ys)]])


LEVELS = [(0, 1), (2, 3), (4, 5)]


def test_order_loss_correct_order_is_zero():
    assert order_loss(_three_levels(11.0, 21.0, 31.0), LEVELS, 1.0).item() == 0.0


def test_order_loss_swapped_levels_by_hand():
    # Top and middle swapped: max(0, 21 - 11 + 1) + max(0, 11 - 31 + 1) = 11.
    assert order_loss(_three_levels(21.0, 11.0, 31.0), LEVELS, 1.0).item() == pytest.approx(11.0)
    # Middle and bottom swapped: max(0, 11 - 31 + 1) + max(0, 31 - 21 + 1) = 11.
    assert order_loss(_three_levels(11.0, 31.0, 21.0), LEVELS, 1.0).item() == pytest.approx(11.0)
    # All at one height: the margin counts twice.
    assert order_loss(_three_levels(5.0, 5.0, 5.0), LEVELS, 1.5).item() == pytest.approx(3.0)


def test_order_loss_too_few_levels_is_zero():
    points = _three_levels(31.0, 21.0, 11.0)
    assert order_loss(points, [], 1.0).item() == 0.0
    assert order_loss(points, [(0, 1)], 1.0).item() == 0.0
