"""Is a new version better? A before/after verdict that carries its own uncertainty.

A locked validation subset holds a handful of images, so "after MRE ≤ before
MRE" on its own is mostly noise: on the ceph bench a version 2–8 % worse on 20
held-out images was called adoptable from 1–4 validation images. The verdict
therefore pairs the two models image by image (``d_i = after_i − before_i``,
per-image MRE), and bootstraps the mean of ``d`` (resampling images with a
fixed seed, so the same numbers always give the same verdict) for a 95 %
interval of the MRE change. Outcomes:

- ``better``: the whole interval lies below 0 (and enough images, see below);
- ``worse``: the MRE went up (``after > before``) on enough evidence (at least
  ``MIN_IMAGES`` validation images with points a person placed or moved), or by
  more than the acceptance radius on any evidence. A worse version is never
  adoptable without "adopt anyway", however wide the interval;
- ``inconclusive``: not worse, but the interval includes 0, or measured on the
  training images (no locked subset yet); and, whichever way the MRE went, fewer
  than ``MIN_IMAGES`` validation images, or fewer than that with a point a person
  placed or moved (unless worse by more than the acceptance radius: ADR 0005).
  The user may still accept it, knowing why it is uncertain;
- ``first``: nothing to compare with (the project had no model).

``adoptable`` is ``outcome != "worse"``: on too little evidence (ADR 0005) a higher MRE
gives ``inconclusive``, which the user may adopt knowing why it is uncertain. Changes are in px, and in mm when
every validation image has a known spacing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from core.learning.validation import ACCEPT_RADIUS_MM

__all__ = ["MIN_IMAGES", "Verdict", "judge"]

MIN_IMAGES = 5  # below this a bootstrap interval over images means little
N_BOOTSTRAP = 4000
SEED = 0
OUTCOMES = ("better", "worse", "inconclusive", "first")


@dataclass(frozen=True)
class Verdict:
    """The outcome with its evidence; ``text`` is the one line the CLI and the app show."""

    outcome: str
    adoptable: bool
    n_images: int
    unit: str | None = None  # "mm" or "px": the unit of change/low/high
    change: float | None = None  # mean per-image MRE change (after − before); < 0 is better
    low: float | None = None  # 95 % bootstrap interval of ``change``
    high: float | None = None
    reason: str = ""

    @property
    def text(self) -> str:
        """``inconclusive: only 4 validation images; change −0.02 mm, 95 % interval −0.10…+0.06``."""
        parts = [self.reason] if self.reason else []
        if self.change is not None:
            parts.append(f"change {_signed(self.change)} {self.unit}, 95 % interval "
                         f"{_signed(self.low)}…{_signed(self.high)}")
        return f"{self.outcome}: " + "; ".join(parts)

    def to_dict(self) -> dict:
        return dict(asdict(self), text=self.text)

    @classmethod
    def from_dict(cls, d: dict | None) -> Verdict | None:
        """The verdict stored in a model card (None for cards written before verdicts existed)."""
        if not d or d.get("outcome") not in OUTCOMES:
            return None
        return cls(**{k: d.get(k) for k in ("outcome", "adoptable", "n_images", "unit", "change", "low", "high")},
                   reason=d.get("reason") or "")


def _signed(v: float | None) -> str:
    """``−0.02`` / ``+0.06`` with a real minus sign (the report is read, not parsed)."""
    if v is None:
        return "?"
    return f"{'−' if v < 0 else '+'}{abs(v):.2f}"


def _diffs(before: dict | None, after: dict | None) -> np.ndarray:
    """after − before for the images both measured (finite values only)."""
    b, a = before or {}, after or {}
    ok = [i for i in a if i in b and a[i] is not None and b[i] is not None and math.isfinite(a[i] - b[i])]
    return np.array([a[i] - b[i] for i in ok], dtype=np.float64)


def _paired(before: dict, after: dict) -> tuple[np.ndarray, str]:
    """Per-image differences after − before, in mm when every such image has a spacing, else px."""
    px = _diffs(before.get("per_image"), after.get("per_image"))
    mm = _diffs(before.get("per_image_mm"), after.get("per_image_mm"))
    return (mm, "mm") if len(mm) and len(mm) == len(px) else (px, "px")


def bootstrap_interval(diffs: np.ndarray, n: int = N_BOOTSTRAP, seed: int = SEED) -> tuple[float, float]:
    """95 % percentile interval of the mean of ``diffs`` (images resampled with replacement)."""
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(n, len(diffs)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def judge(before: dict | None, after: dict, on_training_images: bool = False,
          min_images: int = MIN_IMAGES, settle: str = "") -> Verdict:
    """The verdict for ``after`` against ``before``: ``validation.compact`` summaries (with ``per_image``).

    ``before`` None: the project had no model (``first``, adoptable).
    ``on_training_images``: the summaries measured the training images (no
    locked subset yet), which flatter the new version: never ``better``.
    Fewer than ``min_images`` validation images, or fewer than that with a point a
    person placed or moved (``n_informative``; accepted points only say "within the
    tolerance"), give ``inconclusive`` whichever way the MRE went, unless the new
    version is worse by more than the acceptance radius (a change no reviewer would
    accept; ``validation.ACCEPT_RADIUS_MM``); ``settle`` says what would settle it.
    """
    n = int(after.get("n_images") or 0)
    if before is None or before.get("mre_px") is None:
        return Verdict("first", True, n, reason="no earlier model to compare with")
    if after.get("mre_px") is None:
        return Verdict("worse", False, n, reason="the new version found no landmarks on the validation images")
    diffs, unit = _paired(before, after)
    change = low = high = None
    if len(diffs):
        change = float(diffs.mean())
        low, high = bootstrap_interval(diffs)
    evidence = dict(n_images=n, unit=unit if len(diffs) else None, change=change, low=low, high=high)
    higher = after["mre_px"] > before["mre_px"]
    informative = after.get("n_informative")
    few = ""
    if not on_training_images and n < min_images:
        few = f"only {_images(n)} (fewer than {min_images})"
    elif not on_training_images and informative is not None and informative < min_images:
        few = (f"only {informative} of the {_images(n)} with points a person placed or moved (fewer than {min_images}); "
               f"accepted predictions only say a point is within the tolerance")
    if few:
        obvious = ACCEPT_RADIUS_MM if unit == "mm" else after.get("accept_radius_px")
        if higher and change is not None and obvious is not None and change > obvious:
            return Verdict("worse", False, reason=f"{few}, but worse by more than the acceptance radius", **evidence)
        return Verdict("inconclusive", True, reason=few + (f"; {settle}" if settle else ""), **evidence)
    if higher:
        return Verdict("worse", False, reason=f"higher MRE on the {_images(n)} than the current model", **evidence)
    if on_training_images:
        return Verdict("inconclusive", True, reason="measured on the training images (no locked validation "
                       "subset yet)", **evidence)
    if high is not None and high < 0:
        return Verdict("better", True, reason=f"lower MRE on the {_images(n)}", **evidence)
    return Verdict("inconclusive", True, reason=f"{_images(n)}; the interval includes no change", **evidence)


def _images(n: int) -> str:
    return f"{n} validation image{'s' if n != 1 else ''}"
