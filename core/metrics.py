"""Landmark detection metrics: point error, MRE, SDR, per-landmark tables (DESIGN.md 2.5).

Conventions: points are ``(N, K, 2)`` arrays of ``(x, y)`` pixels (N images,
K landmarks); a spacing is ``(sx, sy)`` mm per pixel along x and y (note: DICOM
``PixelSpacing`` is row, column, i.e. ``(sy, sx)``). NaN marks a missing point.
A point error is NaN where the ground truth or the prediction is missing, and
every aggregate ignores NaN errors; :func:`evaluation_summary` reports how many
ground-truth points had no prediction (``n_missing_pred``) so that such failures
stay visible. Standard deviations are population SDs (``ddof=0``). SDR counts an
error equal to the radius as detected (``error <= r``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_RADII_PX = (3.0, 6.0, 9.0)
DEFAULT_RADII_MM = (2.0, 2.5, 3.0, 4.0)


def _spacing_array(spacing: object, n: int) -> np.ndarray | None:
    """Spacing as an (n, 2) float array (NaN rows: unknown), or None when there is none at all.

    Accepts None, one number (isotropic), one ``(sx, sy)`` pair, an ``(n, 2)``
    array (NaN rows: unknown), or a length-n list of pairs and None.
    """
    if spacing is None:
        return None
    if np.isscalar(spacing):
        return np.full((n, 2), float(spacing))
    if isinstance(spacing, (list, tuple)) and any(s is None for s in spacing):
        arr = np.asarray([(np.nan, np.nan) if s is None else tuple(s) for s in spacing], dtype=np.float64)
    else:
        arr = np.asarray(spacing, dtype=np.float64)
        if arr.shape == (2,):
            arr = np.broadcast_to(arr, (n, 2))
    if arr.shape != (n, 2):
        raise ValueError(f"spacing must be (sx, sy) or shape ({n}, 2), got shape {arr.shape}")
    if np.any(arr[np.isfinite(arr)] <= 0):
        raise ValueError("pixel spacing must be positive")
    return np.array(arr, dtype=np.float64)


def point_errors(pred: np.ndarray, gt: np.ndarray, spacing: object = None) -> np.ndarray:
    """Euclidean error per point.

    pred, gt: (N, K, 2) pixels (x, y); NaN = missing. (K, 2) inputs give (K,).
    spacing: None (errors in px), an (sx, sy) mm/px tuple for all images, or an
    (N, 2) array / length-N list with one (sx, sy) per image (None or NaN rows:
    unknown, errors NaN). With a spacing the error is
    sqrt((dx*sx)^2 + (dy*sy)^2) in mm.
    Returns (N, K) float64, px or mm; NaN where either point is missing.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape or p.ndim not in (2, 3) or p.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (N, K, 2) or (K, 2); got {p.shape} and {g.shape}")
    single = p.ndim == 2
    if single:
        p, g = p[None], g[None]
    d = p - g
    s = _spacing_array(spacing, d.shape[0])
    if s is not None:
        d = d * s[:, None, :]
    err = np.hypot(d[..., 0], d[..., 1])
    return err[0] if single else err


def _valid(errors: np.ndarray) -> np.ndarray:
    e = np.asarray(errors, dtype=np.float64).ravel()
    return e[~np.isnan(e)]


def mean_radial_error(errors: np.ndarray) -> float:
    """Mean of the non-NaN errors (any shape), in their unit; NaN when there are none."""
    e = _valid(errors)
    return float(e.mean()) if e.size else float("nan")


def sdr(errors: np.ndarray, radii: Sequence[float]) -> dict[float, float]:
    """Successful detection rate: percent of non-NaN errors ``<= r`` for each radius r.

    errors: any shape, same unit as radii. Returns {float(r): percent}; NaN when no valid error.
    """
    e = _valid(errors)
    return {
        float(r): (float(100.0 * np.count_nonzero(e <= r) / e.size) if e.size else float("nan"))
        for r in radii
    }


def _json(v: float) -> float | None:
    """NaN/inf -> None so the result serialises as JSON."""
    return float(v) if np.isfinite(v) else None


def _stats(errors: np.ndarray) -> dict[str, float | None]:
    e = _valid(errors)
    if not e.size:
        return {"mean": None, "sd": None, "median": None, "max": None}
    return {"mean": float(e.mean()), "sd": float(e.std()), "median": float(np.median(e)), "max": float(e.max())}


def per_landmark_table(
    errors_px: np.ndarray,
    errors_mm: np.ndarray | None,
    names: Sequence[str],
    radii: Sequence[float],
) -> list[dict]:
    """One row per landmark.

    errors_px: (N, K) px; errors_mm: (N, K) mm or None; names: K names.
    Row keys: name, n (valid errors), mre_px, mre_mm (None without mm), and
    sd, median, max and sdr ({radius: percent}) in ``unit`` -- "mm" when
    errors_mm is given, else "px"; radii are in that unit. NaN -> None.
    """
    ep = np.asarray(errors_px, dtype=np.float64)
    if ep.ndim != 2 or ep.shape[1] != len(names):
        raise ValueError(f"errors_px must be (N, {len(names)}), got {ep.shape}")
    em = None if errors_mm is None else np.asarray(errors_mm, dtype=np.float64)
    if em is not None and em.shape != ep.shape:
        raise ValueError(f"errors_mm shape {em.shape} differs from errors_px {ep.shape}")
    main = ep if em is None else em
    rows = []
    for k, name in enumerate(names):
        st = _stats(main[:, k])
        rows.append({
            "name": name,
            "n": int(np.count_nonzero(~np.isnan(main[:, k]))),
            "mre_px": _json(mean_radial_error(ep[:, k])),
            "mre_mm": None if em is None else _json(mean_radial_error(em[:, k])),
            "sd": st["sd"],
            "median": st["median"],
            "max": st["max"],
            "sdr": {r: _json(v) for r, v in sdr(main[:, k], radii).items()},
            "unit": "px" if em is None else "mm",
        })
    return rows


def evaluation_summary(
    pred: np.ndarray,
    gt: np.ndarray,
    spacings: object = None,
    names: Sequence[str] | None = None,
    radii_px: Sequence[float] = DEFAULT_RADII_PX,
    radii_mm: Sequence[float] = DEFAULT_RADII_MM,
) -> dict:
    """Everything a before/after report shows, as a JSON-ready dict (NaN -> None).

    pred, gt: (N, K, 2) px (x, y), NaN = missing (missing ground truth is not
    scored). spacings: as :func:`point_errors` (None, one (sx, sy), (N, 2) or a
    list with None for unknown). names: K landmark names (default L1..LK).
    mm statistics need the spacing of every image; otherwise they are None and
    ``sdr`` uses the pixel radii.

    Keys: n_images, n_landmarks, n_points (ground-truth points scored),
    n_missing_pred, mre_px, sd_px, median_px, mre_mm, sd_mm, median_mm,
    sdr_px ({radius px: percent}), sdr_mm ({radius mm: percent} or None),
    sdr and sdr_unit (the mm table when mm is known, else the px one),
    per_landmark (:func:`per_landmark_table` rows).
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    ep = point_errors(p, g)
    if ep.ndim != 2:
        raise ValueError("evaluation_summary needs (N, K, 2) arrays")
    n, k = ep.shape
    names = [f"L{i + 1}" for i in range(k)] if names is None else list(names)
    s = _spacing_array(spacings, n)
    has_mm = s is not None and bool(np.all(np.isfinite(s)))
    em = point_errors(p, g, s) if has_mm else None

    gt_ok = ~np.isnan(g).any(axis=-1)
    pred_ok = ~np.isnan(p).any(axis=-1)
    st_px = _stats(ep)
    st_mm = _stats(em) if has_mm else {"mean": None, "sd": None, "median": None}
    sdr_px = {r: _json(v) for r, v in sdr(ep, radii_px).items()}
    sdr_mm = {r: _json(v) for r, v in sdr(em, radii_mm).items()} if has_mm else None
    return {
        "n_images": int(n),
        "n_landmarks": int(k),
        "n_points": int(np.count_nonzero(gt_ok)),
        "n_missing_pred": int(np.count_nonzero(gt_ok & ~pred_ok)),
        "mre_px": st_px["mean"],
        "sd_px": st_px["sd"],
        "median_px": st_px["median"],
        "mre_mm": st_mm["mean"],
        "sd_mm": st_mm["sd"],
        "median_mm": st_mm["median"],
        "sdr_px": sdr_px,
        "sdr_mm": sdr_mm,
        "sdr": sdr_mm if has_mm else sdr_px,
        "sdr_unit": "mm" if has_mm else "px",
        "per_landmark": per_landmark_table(ep, em, names, radii_mm if has_mm else radii_px),
    }
