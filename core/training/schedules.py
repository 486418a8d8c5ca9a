"""Warm-up + cosine schedules (DESIGN.md 2.1) for the learning rate, the structural
loss weights and the target σ.
"""

from __future__ import annotations

import math


def warmup_cosine(progress: float, warmup: float, start: float, peak: float, end: float) -> float:
    """Value at ``progress`` ∈ [0, 1] of training.

    Linear from ``start`` to ``peak`` over the first ``warmup`` fraction, then a
    cosine from ``peak`` down (or up) to ``end``.
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return start + (peak - start) * progress / warmup
    rest = (progress - warmup) / max(1e-12, 1.0 - warmup)
    return end + (peak - end) * 0.5 * (1.0 + math.cos(math.pi * rest))


def ramp_after_warmup(progress: float, warmup: float, final: float) -> float:
    """0 during warm-up, then a cosine rise to ``final``: structural priors switch on
    once the heatmaps have found the anatomy, as the paper schedules them."""
    if progress <= warmup:
        return 0.0
    rest = min(1.0, (progress - warmup) / max(1e-12, 1.0 - warmup))
    return final * 0.5 * (1.0 - math.cos(math.pi * rest))
