"""Heatmap targets and decoders (DESIGN.md 2.1, 2.5) on small hand-checked maps."""

from __future__ import annotations

import math

import pytest
import torch

from core.heatmaps import (
    argmax_points,
    bilinear_sample,
    confidence,
    decode,
    gaussian_heatmaps,
    laplace_heatmaps,
    local_soft_argmax,
    soft_argmax,
    softmax_2d,
    target_distribution,
)

H, W = 24, 32  # heatmap size used by most tests


def _pt(*xy: float) -> torch.Tensor:
    """One landmark (1, 2) as float32."""
    return torch.tensor([list(xy)], dtype=torch.float32)


def _mixture_logits(modes: list[tuple[float, float, float]], sigma: float = 1.5) -> torch.Tensor:
    """log of Σ w·N((x, y), σ), (1, H, W): logits whose softmax is the mixture."""
    total = torch.zeros(1, H, W)
    for weight, x, y in modes:
        total = total + weight * target_distribution(_pt(x, y), (H, W), sigma)
    return total.log()


# --- targets -----------------------------------------------------------------


def test_gaussian_values_peak_and_symmetry():
    sigma = 2.0
    maps = gaussian_heatmaps(_pt(10.5, 7.5), (16, 22), sigma)
    assert maps.shape == (1, 16, 22)
    # On a pixel centre the peak is exactly 1.
    assert gaussian_heatmaps(_pt(10.0, 7.0), (16, 22), sigma)[0, 7, 10].item() == 1.0
    # Between four pixel centres: all four share the highest value exp(-0.5 / 2σ²).
    top = math.exp(-0.5 / (2 * sigma**2))
    for y, x in [(7, 10), (7, 11), (8, 10), (8, 11)]:
        assert maps[0, y, x].item() == pytest.approx(top, rel=1e-6)
    assert maps.max().item() == pytest.approx(top, rel=1e-6)
    # A hand value away from the peak: d² = 2.5² + 1.5².
    assert maps[0, 6, 13].item() == pytest.approx(math.exp(-(2.5**2 + 1.5**2) / (2 * sigma**2)), rel=1e-6)
    # 22 columns and 16 rows are mirrored about x = 10.5 and y = 7.5.
    torch.testing.assert_close(maps, maps.flip(-1))
    torch.testing.assert_close(maps, maps.flip(-2))


def test_gaussian_per_landmark_sigma():
    maps = gaussian_heatmaps(torch.tensor([[5.0, 5.0], [5.0, 5.0]]), (11, 11), torch.tensor([1.0, 2.0]))
    assert maps[0, 5, 6].item() == pytest.approx(math.exp(-1 / 2))
    assert maps[1, 5, 6].item() == pytest.approx(math.exp(-1 / 8))


def test_laplace_values_peak_and_symmetry():
    scale = 3.0
    maps = laplace_heatmaps(_pt(10.5, 7.5), (16, 22), scale)
    top = math.exp(-math.sqrt(0.5) / scale)
    assert maps.max().item() == pytest.approx(top, rel=1e-6)
    assert maps[0, 7, 10].item() == pytest.approx(top, rel=1e-6)
    assert maps[0, 7, 14].item() == pytest.approx(math.exp(-math.hypot(3.5, 0.5) / scale), rel=1e-6)
    torch.testing.assert_close(maps, maps.flip(-1))
    torch.testing.assert_close(maps, maps.flip(-2))
    assert laplace_heatmaps(_pt(4.0, 3.0), (8, 8), scale)[0, 3, 4].item() == pytest.approx(1.0, abs=1e-6)


def test_target_distribution_sums_to_one_and_missing_is_zero():
    points = torch.tensor([[[10.3, 7.8], [float("nan"), float("nan")], [0.0, 0.0]]])  # (B=1, K=3, 2)
    target = target_distribution(points, (H, W), 2.0)
    assert target.shape == (1, 3, H, W)
    sums = target.sum(dim=(-2, -1))[0]
    assert sums[0].item() == pytest.approx(1.0, abs=1e-5)
    assert sums[2].item() == pytest.approx(1.0, abs=1e-5)  # a corner point is renormalised too
    assert torch.count_nonzero(target[0, 1]) == 0
    assert torch.isfinite(target).all()
    # Same shape as the unnormalised Gaussian.
    g = gaussian_heatmaps(points[:, :1], (H, W), 2.0)
    torch.testing.assert_close(target[:, :1], g / g.sum())


# --- decoders ----------------------------------------------------------------


def test_round_trip_soft_argmax_recovers_subpixel_point():
    logits = target_distribution(_pt(10.3, 7.8), (H, W), 1.5).log()
    got = soft_argmax(logits)[0]
    assert got.tolist() == pytest.approx([10.3, 7.8], abs=0.05)
    assert decode(logits, "soft_argmax")[0].tolist() == pytest.approx([10.3, 7.8], abs=0.05)


def test_round_trip_local_soft_argmax_recovers_subpixel_point():
    logits = target_distribution(_pt(10.3, 7.8), (H, W), 1.5).log()
    assert local_soft_argmax(logits, radius=5)[0].tolist() == pytest.approx([10.3, 7.8], abs=0.05)
    assert decode(logits, "local_soft_argmax", radius=5)[0].tolist() == pytest.approx([10.3, 7.8], abs=0.05)


def test_argmax_gives_the_rounded_pixel():
    maps = gaussian_heatmaps(torch.tensor([[10.3, 7.8], [3.6, 20.2]]), (H, W), 1.5)
    assert argmax_points(maps).tolist() == [[10.0, 8.0], [4.0, 20.0]]
    assert decode(maps, "argmax").tolist() == [[10.0, 8.0], [4.0, 20.0]]


def test_decoders_batch_shapes():
    logits = torch.randn(2, 3, H, W)
    for method in ("soft_argmax", "argmax", "local_soft_argmax"):
        assert decode(logits, method).shape == (2, 3, 2)


def test_soft_argmax_does_not_overflow_on_huge_logits():
    logits = torch.zeros(1, H, W)
    logits[0, 7, 10] = 1e4
    for temperature in (1.0, 0.01):
        got = soft_argmax(logits, temperature)
        assert torch.isfinite(got).all()
        assert got[0].tolist() == [10.0, 7.0]
    # Two equal huge peaks: the mean of the two, still finite.
    logits[0, 9, 20] = 1e4
    assert soft_argmax(logits)[0].tolist() == pytest.approx([15.0, 8.0])


def test_local_soft_argmax_ignores_a_distant_second_mode():
    logits = _mixture_logits([(0.6, 5.0, 5.0), (0.4, 25.0, 15.0)])
    # Global mean: 0.6·(5, 5) + 0.4·(25, 15) = (13, 9).
    assert soft_argmax(logits)[0].tolist() == pytest.approx([13.0, 9.0], abs=0.05)
    assert local_soft_argmax(logits, radius=5)[0].tolist() == pytest.approx([5.0, 5.0], abs=0.05)


def test_temperature_sharpens():
    logits = torch.zeros(1, H, W)
    logits[0, 5, 5] = 1.0
    logits[0, 15, 25] = 0.9
    warm = softmax_2d(logits, 1.0)
    cold = softmax_2d(logits, 0.01)
    assert cold.max() > 0.99 > warm.max()
    # T = 0.01: the runner-up weighs e^-10 of the peak, the rest e^-100.
    assert soft_argmax(logits, 0.01)[0].tolist() == pytest.approx([5.0, 5.0], abs=1e-3)
    # T = 1: almost uniform, the mean is near the grid centre (15.5, 11.5).
    warm_xy = soft_argmax(logits, 1.0)[0]
    assert warm_xy.tolist() == pytest.approx([15.5, 11.5], abs=0.1)


def test_decode_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown decoder"):
        decode(torch.zeros(1, 4, 4), "centroid")


# --- confidence and sampling -------------------------------------------------


def test_confidence_sharp_peak_is_near_one():
    prob = target_distribution(_pt(10.0, 8.0), (H, W), 0.5)
    conf = confidence(prob, _pt(10.0, 8.0), 2.0)
    assert conf.shape == (1,)
    assert conf.item() == pytest.approx(1.0, abs=1e-3)


def test_confidence_flat_map_counts_the_disc():
    prob = torch.full((1, H, W), 1.0 / (H * W))
    # Pixel centres within 2 px of (10, 8): 1 + 4 + 4 + 4 = 13.
    assert confidence(prob, _pt(10.0, 8.0), 2.0).item() == pytest.approx(13 / (H * W), rel=1e-5)


def test_confidence_two_peaks_scores_half():
    prob = _mixture_logits([(0.5, 5.0, 5.0), (0.5, 25.0, 15.0)], sigma=0.5).exp()
    assert confidence(prob, _pt(5.0, 5.0), 2.0).item() == pytest.approx(0.5, abs=1e-3)


def test_bilinear_sample_exact_at_pixel_centres_and_mean_between():
    maps = torch.arange(2 * 4 * 5, dtype=torch.float32).view(1, 2, 4, 5)  # (B, C, H, W)
    points = torch.tensor([[[0.0, 0.0], [3.0, 2.0], [4.0, 3.0], [1.5, 2.0], [1.0, 0.5], [2.5, 1.5]]])
    got = bilinear_sample(maps, points)
    assert got.shape == (1, 6, 2)
    m = maps[0]
    expected = torch.stack(
        [
            m[:, 0, 0],
            m[:, 2, 3],
            m[:, 3, 4],
            (m[:, 2, 1] + m[:, 2, 2]) / 2,
            (m[:, 0, 1] + m[:, 1, 1]) / 2,
            (m[:, 1, 2] + m[:, 1, 3] + m[:, 2, 2] + m[:, 2, 3]) / 4,
        ]
    )
    torch.testing.assert_close(got[0], expected)
