"""The comparison table: experiment ``results.json`` files → one markdown table per dataset."""

from __future__ import annotations

import json
from pathlib import Path

from core.experiments import ExperimentError


def load_results(paths: list[Path]) -> list[dict]:
    """Each path is a ``results.json`` or an experiment folder holding one."""
    results = []
    for path in paths:
        file = path / "results.json" if path.is_dir() else path
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExperimentError(f"{file}: not an experiment's results.json ({exc.__class__.__name__})") from exc
        if not isinstance(data, dict) or "configuration" not in data or "mre_px" not in data:
            raise ExperimentError(f"{file}: not an experiment's results.json (no configuration or mre_px)")
        results.append(data)
    if not results:
        raise ExperimentError("no results to tabulate")
    return results


def _num(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(rows: list[dict]) -> list[str]:
    """One dataset's rows: SDR columns are the paper's (chest: px at 512 scale; ceph: mm)."""
    reference = any(r.get("reference") for r in rows)
    if reference:
        radii = sorted({k for r in rows for k in (r.get("reference") or {}).get("sdr_px", {})}, key=float)
        sdr_head = [f"SDR {r} px@{rows[0]['reference']['long_side_px']}" for r in radii]
    else:
        radii = sorted({k for r in rows for k in r.get("sdr", {})}, key=float)
        sdr_head = [f"SDR {r} {rows[0].get('sdr_unit', '')}".rstrip() for r in radii]
    dice_classes = sorted({k for r in rows for k in (r.get("dice") or {})})
    head = ["configuration", "model", "eval split", "MRE px", "MRE mm"]
    if reference:
        head.append(f"MRE px@{rows[0]['reference']['long_side_px']}")
    head += sdr_head + ["params (M)", "train s/epoch", "epochs", "predict ms/image", "train device"] + [f"Dice {c}" for c in dice_classes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: r.get("mre_px") if r.get("mre_px") is not None else float("inf")):
        ref = r.get("reference") or {}
        sdr = ref.get("sdr_px", {}) if reference else r.get("sdr", {})
        cells = [r["configuration"], r.get("model_kind", ""), str(r.get("eval_split", "")), _num(r.get("mre_px")), _num(r.get("mre_mm"))]
        if reference:
            cells.append(_num(ref.get("mre_px")))
        cells += [_num(sdr.get(k), 1) for k in radii]
        cells += [
            _num(r.get("parameters", 0) / 1e6),
            _num(r.get("train_seconds_per_epoch"), 1),
            str(r.get("epochs_done", "")),
            _num(r.get("predict_ms_per_image"), 0),
            str(r.get("device", "")),
        ]
        cells += [_num((r.get("dice") or {}).get(c), 3) for c in dice_classes]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _headline(r: dict) -> tuple[str, float | None]:
    """(unit, value) of a run's main figure: MRE at the paper's scale, else in mm, else in px."""
    if r.get("reference"):
        return f"px@{r['reference']['long_side_px']}", r["reference"].get("mre_px")
    if r.get("mre_mm") is not None:
        return "mm", r["mre_mm"]
    return "px", r.get("mre_px")


def _same_but_seed(r: dict) -> str:
    """Runs that differ only in their seed share this key: configuration, data and splits (with the
    number of training images, which a hold-out changes), input size, network size (parameters)
    and training settings. The recipe's name is the run's own, so it is not used; a setting that
    is None counts as absent, so results written before it existed still match."""
    config = {k: v for k, v in (r.get("train_config") or {}).items() if k != "seed" and v is not None}
    return json.dumps([r.get("base_configuration", r["configuration"]), r.get("dataset"), r.get("schema"),
                       r.get("train_split"), r.get("val_split"), r.get("n_train"), r.get("eval_split"),
                       r.get("input_size"), r.get("parameters"), config], sort_keys=True)


def seed_summary(rows: list[dict], baseline: str = "unet") -> list[str]:
    """Markdown rows over seeds: each configuration that ran with more than one seed (runs that
    differ only in their seed), its mean MRE, range, and the ratio of its mean to ``baseline``'s
    (the base configuration it is compared with; the column is left out when the baseline did not
    run with several seeds or ran with more than one setting). Empty when no configuration has
    more than one run."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(_same_but_seed(r), []).append(r)
    unit = _headline(rows[0])[0] if rows else ""
    summary = []
    for runs in groups.values():
        values = [v for v in (_headline(r)[1] for r in runs) if v is not None]
        if len(values) < 2:
            continue
        name = min((r["configuration"] for r in runs), key=len)
        seeds = sorted(str((r.get("train_config") or {}).get("seed", 0)) for r in runs)
        summary.append((float(sum(values) / len(values)), min(values), max(values), name, runs[0].get("base_configuration"), seeds))
    if not summary:
        return []
    base = [mean for mean, *_, b, _ in summary if b == baseline]
    ratio = len(base) == 1
    head = ["configuration", "seeds", f"mean MRE {unit}", f"range {unit}"] + ([f"× {baseline}"] if ratio else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mean, low, high, name, _, seeds in sorted(summary, key=lambda t: (t[0], t[3])):
        cells = [name, ", ".join(seeds), _num(mean), f"{_num(low)}–{_num(high)}"]
        if ratio:
            cells.append(_num(mean / base[0]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report_markdown(results: list[dict]) -> str:
    """Markdown: per dataset, one row per run, best MRE first; where a configuration ran with
    several seeds, first a table over seeds (:func:`seed_summary`)."""
    out = ["# Model comparison", ""]
    for dataset in sorted({r.get("dataset", "") for r in results}):
        rows = [r for r in results if r.get("dataset", "") == dataset]
        n_train = sorted({r.get("n_train") for r in rows}, key=str)
        out += [f"## {dataset}", "", f"Trained on {', '.join(map(str, n_train))} images; evaluated on {rows[0].get('n_eval')} ({rows[0].get('eval_split')}).", ""]
        seeds = seed_summary(rows)
        if seeds:
            out += ["Over seeds (runs that differ only in their seed):", ""] + seeds + ["", "Every run:", ""]
        out += _table(rows) + [""]
    return "\n".join(out)
