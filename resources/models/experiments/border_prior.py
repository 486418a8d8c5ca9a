"""Does a structure-border prior cut chest6-seg's heart-border tail? (issue 21; an experiment, not a feature)

The anatomical-consistency idea of DESIGN.md 2.3 says a landmark sits on its
structure's border. Here it is applied at inference: each global heatmap of the
bundled ``chest6-seg`` is weighted by ``exp(−d²/2τ²) + 10⁻³``, d the distance (network
input px) to the border of the landmark's own predicted structure, and its
soft-argmax replaces the GNN-refined point as the centre of the patch stage.
``τ = 1e9`` is the same pipeline without the prior (the effect of skipping the GNN).

It also says, for every error over 40 px of the bundled pipeline, how far the
predicted point and the truth lie from the true and from the predicted border
(full-resolution px): a prior can only fix a point that left the border.

Usage, from the project root (prints MRE per τ, per landmark, the count of
errors over 40 px and the largest)::

    python3 resources/models/experiments/border_prior.py --split train --limit 80 --tau 1e9,1,2,4,8,16,32
    python3 resources/models/experiments/border_prior.py --split val --tau 1e9,4,16
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from core.geometry import from_scaled
from core.heatmaps import soft_argmax
from core.imaging import load_image
from core.inference import Predictor
from core.training.datasets import load_dataset


def border_distances(mask_prob: np.ndarray, classes: list[int | None]) -> list[np.ndarray]:
    """Per landmark, the distance (px) to the border of its class's mask (probability > 0.5)."""
    out = []
    for c in classes:
        mask = mask_prob[c] > 0.5
        edge = mask ^ ndimage.binary_erosion(mask)
        out.append(ndimage.distance_transform_edt(~edge) if edge.any() else np.zeros(mask.shape))
    return out


def _distance_at(mask: np.ndarray, point: np.ndarray) -> float:
    """Distance (px) from ``point`` (x, y) to the border of ``mask``."""
    edge = mask ^ ndimage.binary_erosion(mask)
    x, y = np.clip(np.round(point).astype(int), 0, np.array(mask.shape[::-1]) - 1)
    return float(ndimage.distance_transform_edt(~edge)[y, x])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="../shared/data/chest_jsrt")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--tau", default="1e9,4,16", help="comma-separated τ values, network input px")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    taus = [float(t) for t in args.tau.split(",")]
    predictor = Predictor("chest6-seg", "cpu")
    net = predictor.model.global_net
    classes = net.config.landmark_classes
    errors: dict[str, list[np.ndarray]] = {key: [] for key in ["bundled"] + [f"tau {t:g}" for t in taus]}
    samples = load_dataset(args.dataset).subset(args.split).samples[: args.limit]
    tails: list[tuple] = []
    for sample in samples:
        pixels = load_image(sample.image_path).display_normalised()
        size = (int(pixels.shape[0]), int(pixels.shape[1]))
        out = net(predictor.global_input(pixels))
        prob = out["prob"][0].numpy()
        distances = border_distances(torch.sigmoid(out["seg_logits"][0]).numpy(), classes)
        fine = predictor.fine_image(pixels, sample.spacing)
        prediction = predictor.predict(sample.image_path, sample.spacing)
        bundled = prediction.points
        errors["bundled"].append(np.linalg.norm(bundled - sample.points, axis=-1))
        true_masks = np.array(Image.open(sample.mask_path))
        for k, error in enumerate(errors["bundled"][-1]):
            if error > 40:
                bit = predictor.schema.segmentation_classes[predictor.schema.landmark_classes[k]].bit
                true, predicted = (true_masks & bit) > 0, prediction.masks[classes[k]]
                tails.append((predictor.schema.landmarks[k], error, _distance_at(true, bundled[k]), _distance_at(true, sample.points[k]),
                              _distance_at(predicted, sample.points[k])))
        for tau in taus:
            weighted = np.stack([prob[k] * (np.exp(-distances[k] ** 2 / (2 * tau * tau)) + 1e-3) for k in range(len(classes))])
            weighted /= weighted.sum(axis=(1, 2), keepdims=True)
            centres = soft_argmax(torch.log(torch.as_tensor(weighted) + 1e-30)[None])[0].numpy()
            points = from_scaled(centres, size, tuple(net.config.input_size))
            for _ in range(predictor.patch_iterations):
                points, _ = predictor.local_stage(fine, size, points)
            errors[f"tau {tau:g}"].append(np.linalg.norm(points - sample.points, axis=-1))
    print(f"chest6-seg on {args.split} ({len(samples)} images), errors in px of the 1024² images")
    for key, values in errors.items():
        e = np.array(values)
        print(f"{key:>10}: MRE {e.mean():.2f}  per landmark {np.round(e.mean(0), 1).tolist()}  >40 px: {(e > 40).sum()}  max {e.max():.0f}")
    print("errors over 40 px (bundled): landmark, error, predicted point → true border, truth → true border, truth → predicted border")
    for name, error, pred_true, truth_true, truth_pred in tails:
        print(f"  {name:>16} {error:6.1f} {pred_true:8.1f} {truth_true:8.1f} {truth_pred:8.1f}")


if __name__ == "__main__":
    main()
