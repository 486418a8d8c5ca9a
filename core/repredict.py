"""Interactive re-prediction: re-run the GNN refiner with the person's points pinned.

After a landmark is moved or verified, the model is asked again with every reviewed
landmark fixed where the person put it, so the unreviewed neighbours can follow
(issue 7 item 4). The pinned nodes enter the refiner at the person's points with full
confidence and the decoder features sampled there (``GraphRefiner(pinned=...)``); their
outputs stay exactly at those points. The local patch stage then runs again around the
new refined points of the unpinned landmarks, as :meth:`Predictor.predict` does.

On the bundled models the refiner hardly reacts to pins (it was trained on the heatmaps'
own points): ``tests/bench/bench_pinned.py`` measures it. ``shape_prior`` (a Gaussian over
the training shapes, ``core.shape_prior``) can condition the unpinned heatmaps on the pins
first; on ceph test1 and chest val it did not measurably help, so the app does not use it.

The global U-Net is the expensive part; its intermediates (:class:`GlobalState`, decoder
features and heatmaps at the network input size) are kept per image in a small cache, so
repeated edits on one image only pay for the refiner and the patch stage.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from core.imaging import Radiograph
from core.inference import Predictor
from core.shape_prior import ShapePrior, condition_heatmaps
from core.geometry import from_scaled, to_scaled

_CACHE_SIZE = 4
#: A landmark whose refined point the pins moved less than this (image px) keeps its previous
#: final answer: re-running the patch stage from a start that close only adds its own jitter
#: (≈1 px on chest6), which would show as a proposal that means nothing.
MOVED_PX = 0.5


class RepredictError(ValueError):
    """A pinned landmark the model does not know, or a point that is not a finite (x, y)."""


@dataclass
class GlobalState:
    """The global stage's outputs for one image; tensors on the predictor's device.

    features: (1, C, h, w) decoder features (None for a network without a refiner); prob: (1, K, h, w) heatmaps (sum 1);
    soft and refined: (1, K, 2) soft-argmax and refined points in input px, nothing pinned;
    fine: (1, Hf, Wf) image for the patch stage (None without one); size: (H, W) of the image.
    """

    features: torch.Tensor | None
    prob: torch.Tensor
    soft: torch.Tensor
    refined: torch.Tensor
    fine: torch.Tensor | None
    size: tuple[int, int]


@dataclass
class Reprediction:
    """New positions of the unpinned landmarks, (x, y) image px, and what it cost."""

    points: dict[str, tuple[float, float]]
    pinned: tuple[str, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)


class Repredictor:
    """Re-predicts images with pinned landmarks for one loaded :class:`Predictor`.

    Thread-safe: the app calls it from a worker thread while the UI keeps drawing.
    """

    def __init__(self, predictor: Predictor, cache_size: int = _CACHE_SIZE, shape_prior: ShapePrior | None = None) -> None:
        self.predictor = predictor
        self.shape_prior = shape_prior
        self._cache: OrderedDict[object, GlobalState] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @torch.inference_mode()
    def global_state(self, radiograph: Radiograph, key: object | None = None) -> GlobalState:
        """The global stage's outputs for ``radiograph``, from the cache when ``key`` is in it."""
        with self._lock:
            if key is not None and key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        p = self.predictor
        pixels = radiograph.display_normalised()
        size = (int(pixels.shape[0]), int(pixels.shape[1]))
        out = p.model.global_net(p.global_input(pixels))
        state = GlobalState(out.get("features"), out["prob"], out["soft"], out.get("refined", out["soft"]), p.fine_image(pixels, radiograph.spacing), size)
        if key is not None:
            with self._lock:
                self._cache[key] = state
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return state

    @torch.inference_mode()
    def repredict(
        self,
        radiograph: Radiograph,
        pinned: Mapping[str, tuple[float, float]],
        key: object | None = None,
        local: bool = True,
        previous: np.ndarray | None = None,
    ) -> Reprediction:
        """Positions of every landmark not in ``pinned`` {name: (x, y) image px}.

        ``key`` names the image for the intermediates cache (e.g. the project's image id
        and the model version); ``local`` re-runs the patch stage around the new points.
        ``previous`` (K, 2) are this model's final points for the image without pins: a
        landmark whose refined point the pins did not move keeps its previous answer, and
        only the moved ones pay for the patch stage again.
        """
        t0 = time.perf_counter()
        names = list(self.predictor.schema.landmarks)
        mask = np.zeros(len(names), dtype=bool)
        user = np.zeros((len(names), 2))
        for name, point in pinned.items():
            if name not in names:
                raise RepredictError(f"{name!r} is not a landmark of the {self.predictor.schema.name} model")
            xy = np.asarray(point, dtype=float).reshape(-1)
            if xy.shape != (2,) or not np.isfinite(xy).all():
                raise RepredictError(f"pinned point of {name!r} must be a finite (x, y), got {point!r}")
            mask[names.index(name)], user[names.index(name)] = True, xy
        state = self.global_state(radiograph, key)
        t_global = time.perf_counter()
        refined, moved = self._refine(state, mask, user)
        t_refine = time.perf_counter()
        points = refined.copy()
        if local and self.predictor.model.patch_net is not None:
            todo = ~mask & (moved if previous is not None else True)
            if previous is not None:
                points[~todo] = np.asarray(previous, dtype=np.float64)[~todo]
            ids = np.flatnonzero(todo)
            if len(ids):
                centres = refined[ids]
                for _ in range(self.predictor.patch_iterations):
                    centres, _conf = self.predictor.local_stage(state.fine, state.size, centres, ids)
                points[ids] = centres
        points[mask] = user[mask]
        t_local = time.perf_counter()
        free = {name: (float(points[k, 0]), float(points[k, 1])) for k, name in enumerate(names) if not mask[k]}
        timings = {
            "global": (t_global - t0) * 1e3,
            "refine": (t_refine - t_global) * 1e3,
            "local": (t_local - t_refine) * 1e3,
            "total": (t_local - t0) * 1e3,
        }
        return Reprediction(free, tuple(n for k, n in enumerate(names) if mask[k]), timings)

    def _refine(self, state: GlobalState, mask: np.ndarray, user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Refined points (K, 2) image px with the pinned nodes' inputs at the person's points,
        and which landmarks (K,) bool the pins moved by more than :data:`MOVED_PX` image px."""
        net = self.predictor.model.global_net
        input_size = tuple(net.config.input_size)
        start = state.soft.clone()
        if mask.any() and self.shape_prior is not None:
            start[0, torch.as_tensor(~mask, device=start.device)] = self._conditioned(state, mask, user)[~mask].to(start)
        if mask.any():
            scaled = torch.as_tensor(to_scaled(user[mask], state.size, input_size), dtype=start.dtype, device=start.device)
            start[0, torch.as_tensor(mask, device=start.device)] = scaled
        if getattr(net, "refiner", None) is None or state.features is None:
            refined = start
        else:
            pinned = torch.as_tensor(mask, device=start.device)[None]
            refined = net.refiner(state.features, start, state.prob, pinned=pinned)
        points = from_scaled(refined[0].cpu().numpy().astype(np.float64), state.size, input_size)
        unpinned = from_scaled(state.refined[0].cpu().numpy().astype(np.float64), state.size, input_size)
        shift = np.linalg.norm(points - unpinned, axis=1)
        points[mask] = user[mask]
        return points, shift > MOVED_PX

    def _conditioned(self, state: GlobalState, mask: np.ndarray, user: np.ndarray) -> torch.Tensor:
        """Heatmap means (K, 2) input px after multiplying in the shape prior given the pins."""
        h_in, w_in = self.predictor.model.global_net.config.input_size
        image_wh = np.array([state.size[1], state.size[0]], dtype=np.float64)
        means, covs = self.shape_prior.condition(mask, (user + 0.5) / image_wh)
        scale = np.array([w_in, h_in], dtype=np.float64)
        return condition_heatmaps(state.prob[0], means * scale - 0.5, covs * np.outer(scale, scale), ~mask)
