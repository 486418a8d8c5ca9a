"""``anatomark experiment`` and ``anatomark experiment-report`` (core.experiments)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path


def cmd_experiment(args: argparse.Namespace) -> int:
    from core.experiments import run_experiment
    from core.training.loop import EpochReport, TrainingCancelled

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    def report(r: EpochReport) -> None:
        if args.json:
            print(json.dumps({"event": "epoch", **r.to_dict()}), flush=True)
        else:
            print(f"epoch {r.epoch}/{r.epochs} loss {r.train_loss:.4f} val MRE {r.val_mre_px:.2f} px (best {r.best_mre_px:.2f}), {r.seconds:.0f} s", flush=True)

    try:
        results = run_experiment(
            args.config, Path(args.dataset), Path(args.out), args.split_train, args.split_eval, args.max_minutes, args.device, args.eval_device, report, threading.Event()
        )
    except (KeyboardInterrupt, TrainingCancelled):
        print("anatomark: experiment cancelled; rerun the same command to resume training", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps({"event": "done", **results}, allow_nan=False))
        return 0
    ref = results.get("reference")
    extra = f", at {ref['long_side_px']} px scale MRE {ref['mre_px']:.2f} px" if ref else ""
    mm = f", {results['mre_mm']:.2f} mm" if results["mre_mm"] is not None else ""
    print(f"{results['configuration']} on {results['dataset']} {results['eval_split']}: MRE {results['mre_px']:.2f} px{mm}{extra}")
    print("SDR " + ", ".join(f"{r} {results['sdr_unit']}: {v:.1f}%" for r, v in results["sdr"].items()))
    if results.get("dice"):
        print("Dice " + ", ".join(f"{k} {v:.3f}" for k, v in results["dice"].items()))
    print(f"{results['parameters'] / 1e6:.2f} M parameters, {results['train_seconds_per_epoch']} s/epoch, {results['predict_ms_per_image']:.0f} ms/image; results in {Path(args.out) / 'results.json'}")
    return 0


def cmd_experiment_report(args: argparse.Namespace) -> int:
    from core.atomic import atomic_write_text
    from core.experiment_report import load_results, report_markdown

    text = report_markdown(load_results([Path(p) for p in args.results]))
    if args.out:
        atomic_write_text(Path(args.out), text)
        print(f"report written to {args.out}")
    else:
        print(text)
    return 0


#: The names of ``core.experiments.CONFIGURATIONS``, here so that building the parser (every
#: ``anatomark`` start, ``--help`` included) does not import torch; a test keeps them equal.
CONFIGURATION_NAMES = (
    "unet", "structure-aware", "structural-no-gnn", "gnn-no-structural", "sc", "adaptive", "segnet", "segnet-paper", "segnet-gnn", "farnet",
)


def add_parsers(sub) -> None:
    x = sub.add_parser("experiment", help="train and evaluate one model-zoo configuration on a dataset")
    x.add_argument("--config", required=True, help=f"{', '.join(CONFIGURATION_NAMES)}, or a configuration .json file")
    x.add_argument("--dataset", required=True, help="folder in a ../shared/data/<set> layout")
    x.add_argument("--out", required=True, help="folder for model.pt, its card, results.json and the training work files")
    x.add_argument("--split-train", default="train")
    x.add_argument("--split-eval", default=None, help="default: test1, val or test, whichever the dataset has")
    x.add_argument("--max-minutes", type=float, default=None, help="training time budget (the schedule is fitted to it)")
    x.add_argument("--device", default="auto", help="training device: auto, cpu, cuda or mps")
    x.add_argument("--eval-device", default="cpu", help="evaluation device; the predict time per image is measured on it (default cpu)")
    x.add_argument("--threads", type=int, default=None)
    x.add_argument("--json", action="store_true", help="JSON lines progress and result")
    x.set_defaults(func=cmd_experiment)
    r = sub.add_parser("experiment-report", help="tabulate experiment results (markdown)")
    r.add_argument("results", nargs="+", help="experiment folders or their results.json")
    r.add_argument("--out", default=None, help="markdown file to write (default: print)")
    r.set_defaults(func=cmd_experiment_report)
