"""Graph edges derived from pairs and levels, and the geometry of point measurements."""

from __future__ import annotations

import numpy as np

from core.schema.elements import SchemaError


def derive_edges(
    n: int, pairs: list[tuple[int, int]] | tuple, levels: list[tuple[int, ...]] | tuple
) -> list[tuple[int, int]]:
    """Graph edges from structure (DESIGN.md 2.1), sorted, ``i < j``.

    Joins each left-right pair, the same-side chain between consecutive levels
    (top -> middle -> bottom on each side) and the cross links between sides at
    adjacent levels. Together the last two connect every landmark of a level to
    every landmark of the next level; landmarks without a side (midline) follow
    the same rule. Landmarks in no pair and no level stay isolated.
    """
    edges: set[tuple[int, int]] = set()
    for r, l in pairs:
        edges.add((min(r, l), max(r, l)))
    for upper, lower in zip(levels, levels[1:]):
        for i in upper:
            for j in lower:
                if i != j:
                    edges.add((min(i, j), max(i, j)))
    for i, j in edges:
        if not (0 <= i < n and 0 <= j < n):
            raise SchemaError(f"landmark index out of range 0..{n - 1} in pairs or levels")
    return sorted(edges)


def _geometry(kind: str, p: np.ndarray) -> float | None:
    """Distance between p[0], p[1], or the angle p[0]-p[1]-p[2] at p[1] in degrees."""
    if kind == "distance":
        return float(np.hypot(*(p[1] - p[0])))
    u, v = p[0] - p[1], p[2] - p[1]
    if not (np.hypot(*u) > 0 and np.hypot(*v) > 0):
        return None
    cross = u[0] * v[1] - u[1] * v[0]
    return float(np.degrees(np.arctan2(abs(cross), float(u @ v))))
