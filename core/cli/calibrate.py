"""``anatomark calibrate``: calibrated uncertainty regions for a model, without Qt.

    anatomark calibrate --model M --dataset DIR --split S [--skip N] [--limit N] [--alpha 0.1] --out M2 [--json]
    anatomark calibrate --anatomy --model M --dataset DIR --split TRAIN [--limit N] --out M2 [--json]

Writes ``M2`` (.pt + .json): the same weights and checksum as ``M``, the card's
``uncertainty.conformal`` set from the images ``S[skip : skip + limit]``
(``core.uncertainty.calibrate``). ``--out`` may be ``M`` itself. Measure the regions'
coverage on other images with ``anatomark evaluate --model M2 ... --skip``.
With ``--anatomy`` it writes the card's ``anatomy`` entry instead (``core.anatomy``): the mean shape
of the split's ground-truth landmarks (the model's *training* images) and how far the farthest of
them lies from it, which the anatomy check compares predicted points with. No model is run.
Expected failures print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.common import run


def cmd_anatomy(args: argparse.Namespace, samples: list, label: str) -> int:
    from core.anatomy import anatomy_reference
    from core.model_card import ModelCard
    from core.modelfile import read_card, republish
    from core.resources import resolve_model
    from core.schema import SchemaError

    src = resolve_model(args.model)
    card = read_card(src)
    names = list(ModelCard.parse(card).landmarks)
    if not samples or len(samples[0].points) != len(names):
        raise SchemaError(f"{Path(args.dataset).name}: its landmarks are not the model's {len(names)}")
    entry = anatomy_reference([s.points for s in samples], label)
    out = republish(src, args.out, dict(card, anatomy=entry))
    if args.json:
        print(json.dumps({"model_path": str(out), "anatomy": entry}, allow_nan=False))
    else:
        print(f"anatomy reference from {label}: {entry['n_shapes']} complete shapes, farthest residual "
              f"{entry['typical_residual']:.4f}; model written to {out}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from core.uncertainty.calibrate import calibrate_model
    from core.training.datasets import load_dataset

    if not 0.0 < args.alpha < 1.0:
        raise ValueError(f"--alpha must be between 0 and 1, got {args.alpha}")
    dataset = load_dataset(args.dataset, args.split)
    dataset.samples = dataset.samples[args.skip :][: args.limit]
    ids = [s.id for s in dataset.samples]
    where = f"{Path(args.dataset).name}:{args.split or 'all'}"
    label = f"{where} images {args.skip + 1}–{args.skip + len(ids)} (ids {ids[0]} … {ids[-1]})" if ids else ""
    if args.anatomy:
        return cmd_anatomy(args, dataset.samples, label)
    out, calibration = calibrate_model(args.model, dataset, args.alpha, args.out, args.device, label)
    card = calibration.card()
    if args.json:
        print(json.dumps({"model_path": str(out), **card}, allow_nan=False))
        return 0
    print(f"calibrated on {label}: α = {calibration.alpha} (coverage {calibration.coverage:.0%}), model written to {out}")
    mm = card.get("median_radius_mm")
    for k, name in enumerate(card["landmarks"]):
        q, r = card["quantiles"][k], card["median_radius_px"][k]
        size = "unbounded (too few images)" if q is None else f"q = {q:6.2f}, median radius {r:7.2f} px" + (f" ({mm[k]:.2f} mm)" if mm else "")
        print(f"  {name:<18} {size}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anatomark")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("calibrate", help="calibrate a model's per-landmark uncertainty regions (split conformal)")
    c.add_argument("--model", required=True, help="bundled model name or path to a .pt model file")
    c.add_argument("--dataset", required=True, help="folder in a ../shared/data/<set> layout")
    c.add_argument("--split", default=None, help="split name (default: all images)")
    c.add_argument("--skip", type=int, default=0, help="leave out the first N images of the split")
    c.add_argument("--limit", type=int, default=None, help="use at most N images (after --skip)")
    c.add_argument("--alpha", type=float, default=0.1, help="miscoverage: regions hold the truth with probability 1 − α (default 0.1)")
    c.add_argument("--out", required=True, help="model file to write (.pt + .json); may be the input model's path")
    c.add_argument("--device", default="auto")
    c.add_argument("--json", action="store_true")
    c.add_argument("--anatomy", action="store_true",
                   help="write the anatomy check's reference (mean training shape) from the split's ground truth instead")
    c.set_defaults(func=cmd_calibrate)
    return parser


def main(argv: list[str], expected: tuple[type[BaseException], ...]) -> int:
    return run(build_parser().parse_args(argv), expected)
