"""Guard against forgetting: an L2-SP penalty pulling the weights toward the parent model's.

L2-SP (Li, Grandvalet & Davoine, 2018): ``loss + alpha/2 · Σ (θ − θ_parent)²``
replaces weight decay toward zero while fine-tuning on a handful of corrected
images, so the network moves only as far as the new data asks. Cheaper than
EWC (no Fisher pass over data the user no longer has) and than replay (the
bundled model's training images may not be on the user's machine).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["AnchoredStage", "DEFAULT_ALPHA"]

#: Chosen on shifted ceph test1 images 21-60 with 12 epochs (tests/bench/bench_loop.py; reported on
#: 61-150): alpha 0 / 0.01 / 0.1 / 1 gave 1.32 / 1.31 / 1.32 / 1.35 mm on the new site and
#: 1.234 / 1.242 / 1.224 / 1.220 mm on the same images unshifted (bundled 1.215): 0.1 keeps the old
#: site within 1 % for 0.5 % on the new one.
DEFAULT_ALPHA = 0.1


class AnchoredStage:
    """Wrap a training stage (``GlobalStage``/``PatchStage``) and add the L2-SP penalty to its loss."""

    def __init__(self, inner, alpha: float = DEFAULT_ALPHA) -> None:
        self.inner = inner
        self.model = inner.model
        self.alpha = float(alpha)
        self._anchor = {n: p.detach().clone() for n, p in self.model.named_parameters()}

    @property
    def net(self) -> torch.nn.Module:
        """The inner stage's training forward (``run_training`` wraps it for AMP/DDP)."""
        return self.inner.net

    @net.setter
    def net(self, value: torch.nn.Module) -> None:
        self.inner.net = value

    def n_items(self) -> int:
        return self.inner.n_items()

    def penalty(self) -> torch.Tensor:
        """Σ (θ − θ_parent)² over every parameter (the anchor follows the model to its device)."""
        total = None
        for name, p in self.model.named_parameters():
            anchor = self._anchor[name]
            if anchor.device != p.device:
                anchor = self._anchor[name] = anchor.to(p.device)
            term = (p - anchor).pow(2).sum()
            total = term if total is None else total + term
        return total if total is not None else torch.zeros(())

    def step(self, indices: list[int], rng: np.random.Generator, progress: float) -> torch.Tensor:
        loss = self.inner.step(indices, rng, progress)
        if self.alpha > 0:
            loss = loss + 0.5 * self.alpha * self.penalty()
        return loss

    def validate(self) -> float:
        return self.inner.validate()
