"""What a model says about one image: :class:`Prediction`, the one type inference returns, the
project stores (whole: points, heatmaps, masks, uncertainty regions, decoder, anatomy fit), the
viewer draws and the command line prints. Torch-free (an import-linter contract holds it), so the
project store, the app and the exporters can name it without loading PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.anatomy import AnatomyFit, fit_of
from core.geometry import input_to_image
from core.uncertainty.conformal import heatmap_regions

__all__ = ["Prediction", "from_outputs"]


@dataclass
class Prediction:
    """Everything a model says about one image. Points are (x, y) image pixels (ADR 0001).

    - ``points`` (K, 2): the final answer (after the local stage).
    - ``soft_argmax`` (K, 2): the global heatmaps' soft-argmax.
    - ``refined`` (K, 2): the GNN refiner's output (equals ``soft_argmax`` without one).
    - ``confidence`` (K,): probability mass near the final point, in [0, 1].
    - ``heatmaps`` (K, h, w): the global stage's spatial distributions (sum 1 each);
      ``heatmap_to_image`` (2, 3) maps heatmap pixels to image pixels.
    - ``masks`` (C, H, W) bool or None: segmentation when the model makes it.
    - ``region_px`` (K, 3) or None: each landmark's calibrated uncertainty region
      (semi-major, semi-minor axis in image px, angle in degrees from +x towards
      +y) around ``points``, holding the true point with probability
      ``coverage`` (= 1 − α); None when the model card has no conformal
      calibration (``core.uncertainty.conformal``).
    - ``decoder``: the decoder that produced ``points`` (``core.heatmaps.DECODERS``).
    - ``created``: when a project stored it (UTC, ISO 8601); empty for a fresh prediction.

    A project's prediction (``Project.prediction``) is the stored one, heatmaps and masks read
    from the file; with ``heatmaps=False`` those two are None (a summary that reads no arrays),
    and ``timings_ms`` is empty (the run's timings are not kept).
    """

    model_id: str
    schema: str
    landmarks: tuple[str, ...]
    image_size: tuple[int, int]  # (H, W)
    spacing: tuple[float, float] | None
    points: np.ndarray
    soft_argmax: np.ndarray
    refined: np.ndarray
    confidence: np.ndarray
    heatmaps: np.ndarray | None
    heatmap_to_image: np.ndarray
    masks: np.ndarray | None = None
    mask_classes: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    region_px: np.ndarray | None = None
    coverage: float | None = None
    region_mm: np.ndarray | None = None  # (K, 3) the same regions in mm when the spacing is known
    decoder: str = "soft_argmax"
    #: Does the image show the model's anatomy (``core.anatomy``)? None when the card cannot say.
    anatomy: AnatomyFit | None = None
    created: str = ""

    def to_dict(self, include_heatmaps: bool = False) -> dict:
        """JSON-ready summary: per-landmark points, refined and soft-argmax positions, confidence."""
        def pt(p: np.ndarray) -> list[float]:
            return [round(float(p[0]), 2), round(float(p[1]), 2)]

        out = {
            "model": self.model_id,
            "schema": self.schema,
            "image_size": list(self.image_size),
            "image_size_order": ["height", "width"],
            "spacing_mm": list(self.spacing) if self.spacing else None,
            "spacing_order": ["x", "y"],
            # "point" (= x, y) is the answer; "refined" and "soft_argmax" are the stages before it
            "coordinates": "image px (x right, y down), origin at the centre of the top-left pixel",
            "landmarks": [
                {
                    "name": name,
                    "point": pt(self.points[k]),
                    "x": pt(self.points[k])[0],
                    "y": pt(self.points[k])[1],
                    "refined": pt(self.refined[k]),
                    "soft_argmax": pt(self.soft_argmax[k]),
                    "confidence": round(float(self.confidence[k]), 4),
                }
                for k, name in enumerate(self.landmarks)
            ],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "decoder": self.decoder,
        }
        if self.region_px is not None:
            out["coverage"] = self.coverage
            for k, row in enumerate(out["landmarks"]):
                row["region_px"] = _region(self.region_px[k])
                if self.region_mm is not None:
                    row["region_mm"] = _region(self.region_mm[k])
        if self.anatomy is not None:
            out["anatomy"] = self.anatomy.to_dict()
        if include_heatmaps and self.heatmaps is not None:
            out["heatmaps"] = self.heatmaps.tolist()
        return out


def _region(row: np.ndarray) -> dict | None:
    """One region for JSON: semi-axes and angle; None where it is unbounded (too few calibration images)."""
    if not np.all(np.isfinite(row)):
        return None
    return {"semi_axes": [round(float(row[0]), 2), round(float(row[1]), 2)], "angle_deg": round(float(row[2]), 1)}


def from_outputs(predictor, *, size: tuple[int, int], input_size: tuple[int, int], spacing: tuple[float, float] | None,
                 points: np.ndarray, soft: np.ndarray, refined: np.ndarray, confidence: np.ndarray, heatmaps: np.ndarray,
                 masks: np.ndarray | None, mask_classes: tuple[str, ...], times: tuple[float, float, float, float]) -> Prediction:
    """The :class:`Prediction` of a predictor's outputs for one image, with what both runtimes
    (``core.inference.Predictor``, ``core.runtime.compiled.CompiledPredictor``) derive from them:
    the heatmap-to-image affine, the calibrated regions, the anatomy fit and the timings.

    ``predictor`` gives ``model_id``, ``schema``, ``info``, ``conformal`` and ``final_decoder``;
    ``heatmaps`` (K, h, w) are the global distributions at ``input_size``; ``times`` are the
    ``time.perf_counter()`` readings at the start, after loading, after the global and after the
    local stage.
    """
    t0, t_load, t_global, t_local = times
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    to_image = input_to_image(size, input_size)
    region_px, region_mm, coverage = heatmap_regions(predictor.conformal, heatmaps, to_image, spacing)
    return Prediction(
        model_id=predictor.model_id, schema=predictor.schema.name, landmarks=tuple(predictor.schema.landmarks),
        image_size=size, spacing=spacing, points=points, soft_argmax=soft, refined=refined, confidence=confidence,
        heatmaps=heatmaps, heatmap_to_image=to_image, masks=masks, mask_classes=mask_classes if masks is not None else (),
        region_px=region_px, coverage=coverage, region_mm=region_mm, decoder=predictor.final_decoder,
        anatomy=fit_of(points, predictor.info, predictor.model_id),
        timings_ms={"load": (t_load - t0) * 1e3, "global": (t_global - t_load) * 1e3,
                    "local": (t_local - t_global) * 1e3, "total": (t_local - t0) * 1e3},
    )
