"""A Gaussian shape prior: where the other landmarks tend to be, given some placed ones.

Landmark positions of a schema's training images, normalised by the image size
(``q = (p + 0.5) / (W, H)``, so 0..1 across the image), are modelled as one joint Gaussian
N(μ, Σ) over the 2K coordinates. Conditioning on pinned landmarks gives each other
landmark a 2-d Gaussian (the usual Schur-complement formulas), which
:func:`condition_heatmaps` multiplies into the model's heatmap: the heatmap still decides
where the landmark is, the prior only breaks ties between its modes and pulls a diffuse
map towards where the pinned anatomy says it should be. Needs no retraining.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Added to the diagonal (normalised units²): ≈0.3 % of the image side, so a nearly
# deterministic pair of coordinates cannot make the conditional covariance singular.
_RIDGE = 1e-5


@dataclass
class ShapePrior:
    """mean: (2K,) normalised (x0, y0, x1, y1, …); cov: (2K, 2K)."""

    mean: np.ndarray
    cov: np.ndarray

    def to_dict(self) -> dict:
        return {"mean": self.mean.round(6).tolist(), "cov": self.cov.round(9).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "ShapePrior":
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["cov"], dtype=np.float64))

    def condition(self, pinned: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-landmark Gaussians given the pinned ones.

        pinned: (K,) bool; points: (K, 2) normalised positions (only pinned rows read).
        Returns means (K, 2) and covariances (K, 2, 2); pinned rows are the given points
        with zero covariance.
        """
        k = len(pinned)
        obs = np.repeat(pinned, 2)
        mean, cov = self.mean.copy(), self.cov + _RIDGE * np.eye(2 * k)
        if obs.any():
            gain = np.linalg.solve(cov[np.ix_(obs, obs)], cov[np.ix_(obs, ~obs)]).T  # Σ_uo Σ_oo⁻¹
            mean[~obs] = mean[~obs] + gain @ (points.reshape(-1)[obs] - mean[obs])
            cov_u = cov[np.ix_(~obs, ~obs)] - gain @ cov[np.ix_(obs, ~obs)]
            cov = np.zeros_like(cov)
            cov[np.ix_(~obs, ~obs)] = cov_u
            mean[obs] = points.reshape(-1)[obs]
        blocks = np.stack([cov[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] for i in range(k)])
        return mean.reshape(k, 2), blocks


def fit_shape_prior(points: np.ndarray, sizes: np.ndarray | tuple[int, int]) -> ShapePrior:
    """Fit N(μ, Σ) to ``points`` (N, K, 2) image px of images ``sizes`` ((N, 2) or one (H, W)).

    Images with a missing (NaN) landmark are left out; at least two complete shapes are needed.
    """
    points = np.asarray(points, dtype=np.float64)
    sizes = np.broadcast_to(np.asarray(sizes, dtype=np.float64).reshape(-1, 2), (len(points), 2))
    q = (points + 0.5) / sizes[:, None, ::-1]
    flat = q.reshape(len(points), -1)
    flat = flat[np.isfinite(flat).all(axis=1)]
    if len(flat) < 2:
        raise ValueError("a shape prior needs at least two images with every landmark placed")
    return ShapePrior(flat.mean(axis=0), np.cov(flat, rowvar=False))


def condition_heatmaps(prob: torch.Tensor, means: np.ndarray, covs: np.ndarray, which: np.ndarray) -> torch.Tensor:
    """Expected positions (K, 2), heatmap px, of ``prob`` (K, h, w) × the prior, for rows ``which``.

    means (K, 2) and covs (K, 2, 2) are in heatmap pixels; rows not in ``which`` keep the
    heatmap's own mean (its soft-argmax).
    """
    k, h, w = prob.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    logp = torch.log(prob.double().cpu().clamp_min(1e-30))
    out = np.zeros((k, 2))
    for i in range(k):
        log_post = logp[i]
        if which[i]:
            inv = torch.as_tensor(np.linalg.inv(covs[i]))
            dx, dy = xs - float(means[i, 0]), ys - float(means[i, 1])
            log_post = log_post - 0.5 * (inv[0, 0] * dx * dx + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy * dy)
        post = torch.softmax(log_post.reshape(-1), dim=0).reshape(h, w)
        out[i] = (float((post * xs).sum()), float((post * ys).sum()))
    return torch.as_tensor(out)
