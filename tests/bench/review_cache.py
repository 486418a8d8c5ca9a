"""Cached predictions of a bundled model on a data set split, for the review-queue benchmark.

Predicting ceph test1 takes about a minute on two CPU threads; the benchmark reruns
often while its signals are studied, so the model's outputs (every stage's points,
confidences and global heatmaps) are kept in one ``.npz`` per (model, split) in a cache
folder outside the repository.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.training.datasets import LandmarkDataset

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "anatomark-review-cache"


@dataclass
class SplitPredictions:
    """One split's predictions (N images) with the ground truth; see ``core.prediction.Prediction``."""

    ids: list[str]
    model_id: str
    points: np.ndarray  # (N, K, 2) px
    soft_argmax: np.ndarray  # (N, K, 2) px
    refined: np.ndarray  # (N, K, 2) px
    confidence: np.ndarray  # (N, K)
    heatmaps: np.ndarray  # (N, K, h, w) float16, each map scaled to peak 1
    heatmap_to_image: np.ndarray  # (N, 2, 3)
    truth: np.ndarray  # (N, K, 2) px
    spacing: np.ndarray  # (N, 2) mm/px


def predict_split(model: str, dataset: LandmarkDataset, cache: Path = DEFAULT_CACHE, limit: int | None = None,
                  log=print) -> SplitPredictions:
    """Predictions of ``model`` on every sample of ``dataset`` (read from ``cache`` when there)."""
    samples = dataset.samples[:limit]
    split = samples[0].split if samples else "all"
    path = Path(cache) / f"{model}-{dataset.name}-{split}-{len(samples)}.npz"
    if path.is_file():
        with np.load(path) as f:
            data = {k: f[k] for k in f.files}
        return SplitPredictions(ids=[str(i) for i in data.pop("ids")], model_id=str(data.pop("model_id")), **data)
    from core.inference import Predictor

    predictor = Predictor(model, "cpu")
    rows: dict[str, list] = {k: [] for k in ("points", "soft_argmax", "refined", "confidence", "heatmaps",
                                             "heatmap_to_image")}
    for i, sample in enumerate(samples):
        p = predictor.predict(sample.image_path, sample.spacing)
        for key in rows:
            rows[key].append(getattr(p, key))
        if (i + 1) % 25 == 0:
            log(f"  predicted {i + 1}/{len(samples)} ({model}, {split})")
    heat = np.stack(rows.pop("heatmaps")).astype(np.float32)
    heat = (heat / heat.max(axis=(2, 3), keepdims=True)).astype(np.float16)
    out = SplitPredictions(
        ids=[s.id for s in samples], model_id=predictor.model_id, heatmaps=heat,
        truth=np.stack([s.points for s in samples]),
        spacing=np.array([s.spacing or (1.0, 1.0) for s in samples], dtype=np.float64),
        **{k: np.stack(v) for k, v in rows.items()},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{k: v for k, v in vars(out).items() if k not in ("ids", "model_id")},
             ids=np.array(out.ids), model_id=np.array(out.model_id))
    tmp.replace(path)
    return out
