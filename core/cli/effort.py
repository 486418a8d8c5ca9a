"""``anatomark simulate-review``: corrections per image on a data set with ground truth (core.review.effort).

    anatomark simulate-review --model NAME|PATH --dataset DIR --split S [--limit N] [--skip N]
                              (--tolerance-mm T | --tolerance-px T) [--retrain-every N [--retrain-minutes M]]
                              [--device D] [--json]

Prints the corrections a careful reviewer needs per image with and without the model's
re-prediction after each correction, their ratio, and the MRE after 0…5 corrections.
Progress goes to stderr; expected failures print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys


def cmd_simulate_review(args: argparse.Namespace) -> int:
    from core.review.effort import EffortError, PredictorReviewModel, Tolerance, simulate_review
    from core.inference import Predictor
    from core.training.datasets import load_dataset

    if args.limit is not None and args.limit < 1:
        raise EffortError(f"--limit must be at least 1, got {args.limit}")
    if args.skip < 0:
        raise EffortError(f"--skip must be 0 or more, got {args.skip}")
    tolerance = Tolerance(args.tolerance_mm, "mm") if args.tolerance_mm is not None else Tolerance(args.tolerance_px, "px")
    dataset = load_dataset(args.dataset, args.split)
    samples = dataset.samples[args.skip :][: args.limit]
    if not samples:
        raise EffortError(f"{dataset.name}: no images left after --skip {args.skip}")
    predictor = Predictor(args.model, args.device)
    if dataset.schema.landmarks != predictor.schema.landmarks:
        raise EffortError(f"model {predictor.model_id} is for schema {predictor.schema.name}, the data set is {dataset.schema.name}")
    if args.retrain_every is not None:
        return _session(args, predictor, samples, tolerance)

    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:  # a line rewritten on a terminal, every tenth of the images in a log
        if tty:
            print(f"\rsimulate-review: {done}/{total} images", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif done == total or done % max(1, total // 10) == 0:
            print(f"simulate-review: {done}/{total} images", file=sys.stderr, flush=True)

    result = simulate_review(PredictorReviewModel(predictor), samples, tolerance, progress)
    result = {"model": predictor.model_id, "dataset": dataset.name, "split": args.split, **result}
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return 0
    unit = tolerance.unit
    print(f"{result['model']} on {dataset.name} {args.split or 'all'}: {result['n_images']} images, tolerance {tolerance}")
    for mode in ("manual", "assisted"):
        r = result[mode]
        curve = " → ".join(f"{v:.2f}" for v in r["curve"])
        print(f"  {mode:<8} {r['corrections_per_image']:.2f} corrections per image, {r['images_without_corrections']} images without any; "
              f"MRE after 0…{len(r['curve']) - 1} corrections ({unit}): {curve}")
    ratio = "n/a (no corrections needed)" if result["ratio"] is None else f"{result['ratio']:.3f}"
    a = result["assisted"]
    print(f"  assisted / manual corrections: {ratio}; per correction the other landmarks' error changed by "
          f"{a['neighbour_change']:+.3f} {unit} on average, {a['pushed_out']} were pushed out of tolerance; "
          f"re-prediction median {result['repredict_ms_median']} ms")
    return 0


def _session(args: argparse.Namespace, predictor, samples: list, tolerance) -> int:
    """``--retrain-every N``: the review session with periodic retraining (core.review.session)."""
    from core.learning import RetrainSettings
    from core.review.session import simulate_session

    device = "cpu" if args.device == "auto" else args.device
    settings = RetrainSettings(device=device, max_minutes=args.retrain_minutes)
    from core.training.loop import TrainingCancelled

    say = (lambda text: None) if args.json else (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        result = simulate_session(predictor, samples, tolerance, args.retrain_every, settings, say, device=device)
    except (KeyboardInterrupt, TrainingCancelled):
        print("anatomark: simulate-review cancelled; its scratch project is gone, nothing else changed", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return 0
    print(f"{args.model}: {result['n_images']} images, tolerance {tolerance}, retraining every {result['every']}")
    print(f"  {'images':<10} {'model':<6} {'corrections/image':>18} {'starting model':>15}")
    for b in result["blocks"]:
        print(f"  {b['images']:<10} {b['model']:<6} {b['corrections_per_image']:>18.2f} {b['baseline_corrections_per_image']:>15.2f}")
    print(f"  whole session: {result['corrections_per_image']:.2f} corrections per image "
          f"({result['baseline_corrections_per_image']:.2f} without retraining); {result['training_seconds']:.0f} s of training")
    for r in result["retrains"]:
        print(f"  after {r['after_images']} images: {r['version']} {'adopted' if r['adopted'] else 'not adopted'} "
              f"in {r['seconds']:.0f} s — {r['verdict']}")
    return 0


def add_parsers(sub) -> None:
    s = sub.add_parser("simulate-review", help="corrections per image a careful reviewer needs, with and without re-prediction")
    s.add_argument("--model", required=True, help="bundled model name or path to a .pt model file")
    s.add_argument("--dataset", required=True, help="data set folder with ground truth (a ../shared/data/<set> or generic layout)")
    s.add_argument("--split", default=None, help="split name (default: all images)")
    s.add_argument("--limit", type=int, default=None, help="first N images only (after --skip)")
    s.add_argument("--skip", type=int, default=0, help="leave out the first N images")
    tol = s.add_mutually_exclusive_group(required=True)
    tol.add_argument("--tolerance-mm", type=float, default=None, help="a landmark within this many mm of the truth needs no correction")
    tol.add_argument("--tolerance-px", type=float, default=None, help="the same in image pixels (for images without spacing)")
    s.add_argument("--retrain-every", type=int, default=None, metavar="N",
                   help="walk the images in order as a review session, retraining (as the app does) every N reviewed images")
    s.add_argument("--retrain-minutes", type=float, default=None, metavar="M", help="with --retrain-every: time budget of each retrain")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_simulate_review)
