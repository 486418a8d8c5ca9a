"""Geometry of augmentation and resizing (ADR 0001 pixel convention): image, points
and masks must move together."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.geometry import affine_in_from_out, apply_affine, invert_affine
from core.resampling import standardise, warp
from core.geometry import from_scaled, to_scaled


def test_affine_without_augmentation_is_the_plain_resize():
    in_h, in_w, out_h, out_w = 24, 40, 8, 10
    ratio = (in_w / out_w, in_h / out_h)  # (4, 3)
    matrix = affine_in_from_out((out_h, out_w), ((in_w - 1) / 2, (in_h - 1) / 2), pixel_ratio=ratio)
    out_pts = np.array([[0.0, 0.0], [9.0, 7.0], [3.25, 5.5]])
    expected = (out_pts + 0.5) * np.array(ratio) - 0.5  # x_in = (x_out + 0.5)·r − 0.5
    np.testing.assert_allclose(apply_affine(matrix, out_pts), expected)
    # The outer edge of the first output pixel (-0.5) is the outer edge of the input.
    np.testing.assert_allclose(apply_affine(matrix, np.array([-0.5, -0.5])), [-0.5, -0.5])
    # Same thing as the samplers' point conversion.
    np.testing.assert_allclose(to_scaled(expected, (in_h, in_w), (out_h, out_w)), out_pts)


def test_identity_warp_returns_the_image():
    image = torch.rand(1, 12, 16)
    matrix = affine_in_from_out((12, 16), (7.5, 5.5))
    np.testing.assert_allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    out = warp(image, torch.as_tensor(matrix[None], dtype=torch.float32), (12, 16))
    torch.testing.assert_close(out[0], image)


def test_invert_affine_round_trip():
    matrix = affine_in_from_out((32, 24), (19.5, 14.5), (1.5, 0.5), angle_deg=25.0, zoom=1.3, shift_in=(2.0, -1.0))
    pts = np.array([[0.0, 0.0], [10.5, -3.0], [float("nan"), float("nan")]])
    back = apply_affine(matrix, apply_affine(invert_affine(matrix), pts))
    np.testing.assert_allclose(back[:2], pts[:2], atol=1e-9)
    assert np.isnan(back[2]).all()


@pytest.mark.parametrize(
    ("angle", "zoom", "shift"),
    [(30.0, 2.5, (3.0, -2.0)), (-70.0, 1.7, (2.0, -2.0)), (12.0, 3.0, (1.5, -2.5)), (160.0, 1.3, (0.0, 0.0))],
)
def test_warped_image_and_mapped_point_agree(angle, zoom, shift):
    in_h, in_w, out = 30, 40, 32
    bright = np.array([23.0, 11.0])  # (x, y)
    image = torch.zeros(1, in_h, in_w)
    image[0, 11, 23] = 1.0
    centre = ((in_w - 1) / 2, (in_h - 1) / 2)
    matrix = affine_in_from_out((out, out), centre, angle_deg=angle, zoom=zoom, shift_in=shift)
    warped = warp(image, torch.as_tensor(matrix[None], dtype=torch.float32), (out, out))[0, 0].numpy()
    assert warped.max() > 0.5
    point = apply_affine(invert_affine(matrix), bright)  # where the landmark goes in the output
    # The brightest output pixel samples the input within half a pixel of the bright pixel.
    row, col = np.unravel_index(warped.argmax(), warped.shape)
    assert np.abs(apply_affine(matrix, np.array([col, row], dtype=float)) - bright).max() <= 0.5
    # Sub-pixel: the bright spot's centroid is where the point went.
    ys, xs = np.mgrid[:out, :out]
    centroid = np.array([(warped * xs).sum(), (warped * ys).sum()]) / warped.sum()
    np.testing.assert_allclose(centroid, point, atol=0.1)


def test_nearest_warp_keeps_mask_labels():
    mask = torch.zeros(1, 30, 40)
    mask[0, 5:15, 4:20] = 3.0
    mask[0, 12:26, 22:36] = 7.0
    matrix = affine_in_from_out((32, 32), (19.5, 14.5), angle_deg=23.0, zoom=1.4, shift_in=(1.0, 2.0))
    warped = warp(mask, torch.as_tensor(matrix[None], dtype=torch.float32), (32, 32), mode="nearest")
    assert set(torch.unique(warped).tolist()) == {0.0, 3.0, 7.0}
    # Bilinear would blend the labels at their borders.
    blended = warp(mask, torch.as_tensor(matrix[None], dtype=torch.float32), (32, 32))
    assert not set(torch.unique(blended).tolist()) <= {0.0, 3.0, 7.0}


def test_warp_batches_matrices_and_pads_with_zero():
    image = torch.ones(1, 8, 8)
    far = affine_in_from_out((4, 4), (100.0, 100.0))
    near = affine_in_from_out((4, 4), (3.5, 3.5))
    out = warp(image, torch.as_tensor(np.stack([far, near]), dtype=torch.float32), (4, 4))
    assert out.shape == (2, 1, 4, 4)
    assert out[0].abs().sum() == 0
    torch.testing.assert_close(out[1], torch.ones(1, 4, 4))


def test_to_scaled_and_from_scaled_by_hand_and_inverse():
    src, dst = (100, 80), (50, 40)  # (H, W): half size
    np.testing.assert_allclose(to_scaled(np.array([[0.0, 0.0], [79.0, 99.0]]), src, dst), [[-0.25, -0.25], [39.25, 49.25]])
    np.testing.assert_allclose(to_scaled(np.array([-0.5, -0.5]), src, dst), [-0.5, -0.5])
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 90, size=(7, 2))
    for a, b in [((100, 80), (32, 40)), ((37, 53), (128, 128))]:
        np.testing.assert_allclose(from_scaled(to_scaled(pts, a, b), a, b), pts, atol=1e-9)
        np.testing.assert_allclose(to_scaled(from_scaled(pts, a, b), a, b), pts, atol=1e-9)


def test_standardise_gives_zero_mean_unit_std_per_image():
    images = torch.stack([torch.rand(1, 8, 8) * 5 + 3, torch.rand(1, 8, 8) * 0.01])
    out = standardise(images)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(1, 2, 3)), torch.ones(2), atol=1e-4, rtol=0)
    # A constant image does not blow up.
    assert torch.isfinite(standardise(torch.ones(1, 1, 4, 4))).all()
