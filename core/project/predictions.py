"""The cache of model predictions: small arrays in memory, heatmaps loaded on demand.

A project of a few hundred images holds tens to hundreds of MB of heatmaps,
more than should sit in memory or be rewritten on every autosave. Each
entry therefore keeps its points and confidences in memory always, and its
heatmaps/masks either in memory (new, or recently viewed) or only in the file
(``on_disk``). The writer carries on-disk ones over into the next file with a
raw HDF5 copy instead of decoding and re-encoding them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from core.uncertainty.conformal import heatmap_covariance
from core.prediction import Prediction

__all__ = ["PredictionCache", "PredictionEntry", "decode_heatmaps", "encode_heatmaps", "read_only"]

#: Entries whose heatmaps stay in memory once viewed (a 19-landmark model:
#: ~1.5 MB each as float32); the rest are read again from the file on demand.
MAX_LOADED = 32
#: ... and at most this many bytes of them: a segmenting model's masks are stored at image size
#: (five classes of a 2000² radiograph: 20 MB), so 32 of those would hold 600 MB.
MAX_LOADED_BYTES = 256 * 2**20


#: Heatmap values below this fraction of their landmark's peak are stored as 0.
#: It is float16's smallest normal number: converting subnormals is ~20x slower
#: and they carry three significant bits at best. What is dropped is invisible
#: on any colour map (1/16000 of the peak) and ~0.1 % of a trained model's mass.
HEATMAP_FLOOR = 2.0**-14


def encode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, h, w) floats → ``(float16 values relative to each landmark's peak, (K,) float32 peaks)``.

    Probabilities of a softmax over 20k pixels peak near 0.03 and trail off
    to 1e-10: raw float16 would turn most of them into slow, imprecise
    subnormals. Relative to the peak they use float16's full precision
    (3 significant digits) and compress to ~4 % with gzip.
    """
    h = np.asarray(heatmaps, dtype=np.float32)
    peak = np.nanmax(np.abs(h), axis=(1, 2)) if h.size else np.ones(h.shape[0], np.float32)
    peak = np.where(np.isfinite(peak) & (peak > 0), peak, 1.0).astype(np.float32)
    rel = h / peak[:, None, None]
    rel[np.abs(rel) < HEATMAP_FLOOR] = 0.0
    return rel.astype(np.float16), peak


def decode_heatmaps(values: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_heatmaps`: (K, h, w) float32."""
    out = values.astype(np.float32)
    out *= np.asarray(peaks, dtype=np.float32)[:, None, None]
    return out


def read_only(a: np.ndarray) -> np.ndarray:
    """``a`` (an array) marked read-only: cached arrays are shared, so nobody may change them in place."""
    a = np.asarray(a)
    a.setflags(write=False)
    return a


def _optional(prediction: Prediction, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    value = getattr(prediction, name)
    if value is None:
        return None
    a = np.array(value, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"prediction.{name} has shape {a.shape}, expected {shape}")
    return read_only(a)


@dataclass(eq=False)
class PredictionEntry:
    """One image's cached prediction as the project keeps it.

    ``summary`` is the :class:`~core.prediction.Prediction` without its heatmaps and masks
    (read-only arrays); ``heatmaps`` (K, h, w) float32 and ``masks`` (C, H, W) bool are None
    while they live only in the file; ``has_masks`` says whether the file has masks.
    ``on_disk`` is True while the current project file holds exactly this entry.
    """

    summary: Prediction
    has_masks: bool
    heatmaps: np.ndarray | None = None
    masks: np.ndarray | None = None
    on_disk: bool = False
    # (K, 2, 2) image px² covariance of each heatmap (core.uncertainty.conformal.heatmap_covariance): what the
    # review queue needs from the heatmaps, kept small so that opening a project reads no heatmaps.
    # None only for entries of files written before it was stored, until first computed.
    covariance: np.ndarray | None = None

    @classmethod
    def from_prediction(cls, prediction: Prediction, created: str, n_landmarks: int,
                        spacing: tuple[float, float] | None = None) -> PredictionEntry:
        """Copy a fresh ``Prediction`` whole (regions, decoder and anatomy fit included), checking shapes.

        Heatmaps go through the file encoding (:func:`encode_heatmaps`) now, so what the viewer
        shows is the same before and after the project is saved and reopened. ``spacing`` is the
        image's as the project knows it.
        """
        k = n_landmarks

        def arr(name: str, shape: tuple[int, ...]) -> np.ndarray:
            a = _optional(prediction, name, shape)
            if a is None:
                raise ValueError(f"prediction.{name} is missing")
            return a

        heatmaps = np.asarray(prediction.heatmaps)
        if heatmaps.ndim != 3 or heatmaps.shape[0] != k or 0 in heatmaps.shape:
            raise ValueError(f"prediction.heatmaps has shape {heatmaps.shape}, expected ({k}, h, w)")
        masks = prediction.masks
        classes = tuple(str(c) for c in (prediction.mask_classes or ()))
        if masks is not None:
            masks = read_only(np.array(masks, dtype=bool))
            if masks.ndim != 3 or masks.shape[0] != len(classes):
                raise ValueError(f"prediction.masks has shape {masks.shape}, expected ({len(classes)}, H, W) "
                                 f"for mask classes {classes}")
        region = _optional(prediction, "region_px", (k, 3))
        coverage = None if region is None or prediction.coverage is None else float(prediction.coverage)
        if region is not None and not (coverage is not None and 0.0 < coverage < 1.0):
            raise ValueError(f"prediction.coverage is {prediction.coverage!r}, expected a probability with its regions")
        decoded = decode_heatmaps(*encode_heatmaps(heatmaps))
        to_image = arr("heatmap_to_image", (2, 3))
        summary = Prediction(
            model_id=str(prediction.model_id), schema=str(prediction.schema),
            landmarks=tuple(str(n) for n in prediction.landmarks),
            image_size=(int(prediction.image_size[0]), int(prediction.image_size[1])),
            spacing=spacing, points=arr("points", (k, 2)), soft_argmax=arr("soft_argmax", (k, 2)),
            refined=arr("refined", (k, 2)), confidence=arr("confidence", (k,)), heatmaps=None,
            heatmap_to_image=to_image, masks=None, mask_classes=classes, region_px=region,
            coverage=coverage, region_mm=_optional(prediction, "region_mm", (k, 3)) if region is not None else None,
            decoder=str(prediction.decoder), anatomy=prediction.anatomy, created=created,
        )
        return cls(summary, has_masks=masks is not None, heatmaps=read_only(decoded), masks=masks,
                   covariance=read_only(heatmap_covariance(decoded, to_image)))

    def full(self) -> Prediction:
        """The whole prediction (a new object each time: the cache may drop its arrays later)."""
        assert self.heatmaps is not None, "heatmaps not loaded"
        return replace(self.summary, heatmaps=self.heatmaps, masks=self.masks)


#: ``load(image_id) -> (heatmaps float32 (K, h, w), masks bool (C, H, W) or None)``
Loader = Callable[[str], tuple[np.ndarray, np.ndarray | None]]


def _entry_bytes(entry: PredictionEntry) -> int:
    return sum(a.nbytes for a in (entry.heatmaps, entry.masks) if a is not None)


class PredictionCache:
    """Image id → :class:`PredictionEntry`, with a bounded set of loaded heatmaps.

    ``stale`` names entries the current file holds but the next file must not
    (replaced by a new prediction, or their image removed).
    """

    def __init__(self, entries: dict[str, PredictionEntry] | None = None, max_loaded: int | None = None,
                 max_bytes: int | None = None) -> None:
        self.entries: dict[str, PredictionEntry] = dict(entries or {})
        self.stale: set[str] = set()
        self._loaded: OrderedDict[str, None] = OrderedDict()
        self._max_loaded = MAX_LOADED if max_loaded is None else max_loaded
        self._max_bytes = MAX_LOADED_BYTES if max_bytes is None else max_bytes

    def loaded_bytes(self) -> int:
        """Bytes of heatmaps and masks held for on-disk entries (the evictable ones)."""
        return sum(_entry_bytes(self.entries[i]) for i in self._loaded if i in self.entries)

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.entries

    def put(self, image_id: str, entry: PredictionEntry) -> None:
        self.remove(image_id)
        self.entries[image_id] = entry

    def remove(self, image_id: str) -> None:
        old = self.entries.pop(image_id, None)
        if old is not None and old.on_disk:
            self.stale.add(image_id)
        self._loaded.pop(image_id, None)

    def get(self, image_id: str, load: Loader, heatmaps: bool = True) -> Prediction | None:
        """The full prediction, reading heatmaps from the file when they are not in memory; with
        ``heatmaps`` False its summary (heatmaps and masks None), which reads nothing."""
        entry = self.entries.get(image_id)
        if entry is None:
            return None
        if not heatmaps:
            return replace(entry.summary)
        if entry.heatmaps is None:
            heatmaps, masks = load(image_id)
            entry.heatmaps = read_only(heatmaps)
            entry.masks = None if masks is None else read_only(masks)
        if entry.on_disk:
            self._loaded[image_id] = None
            self._loaded.move_to_end(image_id)
            self._evict()
        return entry.full()

    def covariance(self, image_id: str, load: Loader) -> np.ndarray | None:
        """(K, 2, 2) heatmap covariance of an image's prediction without loading its heatmaps, or None.

        Entries from files written before the covariance was stored compute it once (this
        reads their heatmaps); the next save stores it.
        """
        entry = self.entries.get(image_id)
        if entry is None:
            return None
        if entry.covariance is None:
            heatmaps = entry.heatmaps if entry.heatmaps is not None else load(image_id)[0]
            entry.covariance = read_only(heatmap_covariance(heatmaps, entry.summary.heatmap_to_image))
        return entry.covariance

    def saved(self, written: set[str]) -> None:
        """The file now holds exactly the entries in ``written``; others could not be carried over."""
        for image_id in list(self.entries):
            entry = self.entries[image_id]
            if image_id not in written:
                del self.entries[image_id]
                self._loaded.pop(image_id, None)
                continue
            if not entry.on_disk:
                entry.on_disk = True
                if entry.heatmaps is not None:
                    self._loaded[image_id] = None
        self.stale.clear()
        self._evict()

    def _evict(self) -> None:
        """Drop the least recently used arrays beyond the count or the byte budget; the most
        recent entry stays whatever its size (it is the one being looked at)."""
        while len(self._loaded) > self._max_loaded or (len(self._loaded) > 1 and self.loaded_bytes() > self._max_bytes):
            image_id, _ = self._loaded.popitem(last=False)
            entry = self.entries.get(image_id)
            if entry is not None and entry.on_disk:
                entry.heatmaps = None
                entry.masks = None
