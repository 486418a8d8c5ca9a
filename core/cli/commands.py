"""The ``anatomark`` command line, without Qt: the subcommands, run headless.

``anatomark`` with no subcommand, or with image paths, starts the desktop app: the program's
entry point (``app.launch``) decides with :func:`wants_cli`; this package never imports ``app``. Every expected failure (bad image, bad model
file, unknown dataset…) prints one line on stderr and exits with status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
from pathlib import Path

from core.cli.common import EXIT_USAGE, CliError, expected_errors, override, print_json, run
from core.messages import error_line

__all__ = ["APP_FLAGS", "COMMAND_SUMMARY", "EXIT_USAGE", "SUBCOMMANDS", "CliError", "build_parser", "main", "wants_cli"]
SUBCOMMANDS = ("predict", "evaluate", "train", "models", "project", "adopt", "export", "calibrate", "experiment", "experiment-report", "simulate-review", "pacs")
APP_FLAGS = ("--smoke-test",)  # options of the desktop app (app.main), not of the CLI
PROJECT_COMMANDS = ("project", "adopt")  # and predict/train/models with --project: core.cli.project


def spacing_argument(text: str) -> tuple[float, float]:
    """``--spacing 0.1`` or ``0.1,0.12`` (x, y) mm per pixel: positive and finite, else argparse's one line."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(math.isfinite(v) and 0 < v < 100 for v in values):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a spacing: give mm per pixel, e.g. 0.1 or 0.1,0.1")
    return values[0], values[1]


def _prefetched(paths: list[str]):
    """(path, Radiograph or the ImageLoadError) for each path, the next one read and decoded in a
    background thread while the current one is predicted (the networks release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from core.imaging import ImageLoadError, load_image

    def load(path: str):
        try:
            return load_image(path)
        except ImageLoadError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, paths[0]) if paths else None
        for i, path in enumerate(paths):
            image = pending.result()
            pending = pool.submit(load, paths[i + 1]) if i + 1 < len(paths) else None
            yield path, image


def cmd_predict(args: argparse.Namespace) -> int:
    """Without ``--model`` each image goes to the bundled model whose anatomy it shows
    (``core.anatomy``), or is refused; with it, an image that does not look like the model's anatomy
    gets a warning (stderr and the JSON ``warnings``)."""
    from core.anatomy import BundledChooser, no_fit_message
    from core.imaging import ImageLoadError
    from core.runtime import open_predictor

    chooser = BundledChooser(args.device, args.decoder, runtime=args.runtime) if args.model is None else None
    predictor = open_predictor(args.model, args.device, args.decoder, args.runtime) if args.model is not None else None
    failed = 0
    results = []
    for path, image in _prefetched(args.images):
        try:
            if isinstance(image, Exception):
                raise image
            if chooser is not None:
                prediction, fits = chooser.choose(image, args.spacing)
                if prediction is None:
                    failed += 1
                    print(f"anatomark: {path}: {no_fit_message(fits)}", file=sys.stderr)
                    continue
            else:
                prediction = predictor.predict(image, args.spacing)
        except ImageLoadError as exc:
            failed += 1
            print(f"anatomark: {error_line(exc)}", file=sys.stderr)
            continue
        warnings = []
        fit = prediction.anatomy
        if chooser is None and fit is not None and not fit.fits:
            warnings.append(f"{path}: this image may not show what {prediction.model_id} marks: {fit.describe()}")
            print(f"anatomark: warning: {warnings[-1]}", file=sys.stderr)
        record = {"image": str(path), **prediction.to_dict(), "warnings": warnings}
        results.append(record)
        if not args.json:
            print(f"{path}  ({prediction.model_id}, {prediction.timings_ms['total']:.0f} ms)")
            for lm in record["landmarks"]:
                print(f"  {lm['name']:<18} x={lm['x']:9.2f}  y={lm['y']:9.2f}  confidence={lm['confidence']:.2f}")
    if args.json:
        print_json(results if len(args.images) > 1 else (results[0] if results else []))
    return EXIT_USAGE if failed else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.evaluation import evaluate_predictor
    from core.runtime import open_predictor
    from core.training.datasets import load_dataset

    predictor = open_predictor(args.model, args.device, args.decoder, args.runtime)
    dataset = load_dataset(args.dataset, args.split)
    dataset.samples = dataset.samples[args.skip :][: args.limit]

    def progress(done: int, total: int) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    summary = evaluate_predictor(predictor, dataset, progress)
    summary["split"] = args.split
    key = f"{Path(args.dataset).name}:{args.split or 'all'}"  # how the card names this evaluation
    if args.record_coverage:
        from core.modelfile import record_coverage_check
        from core.resources import resolve_model

        if not summary.get("conformal"):
            raise CliError(f"{args.model}: no uncertainty calibration to check; run anatomark calibrate first")
        images = f"images {args.skip + 1}–{args.skip + summary['n_images']}"
        record_coverage_check(resolve_model(args.model), dict(summary["conformal"], data=f"{key} {images}"))
    if args.record:
        from core.modelfile import record_metrics
        from core.resources import resolve_model

        headline = {f"{key} MRE": f"{summary['mre_mm']:.2f} mm" if summary["mre_mm"] is not None else f"{summary['mre_px']:.2f} px"}
        record_metrics(resolve_model(args.model), key, summary, headline)
    if args.json:
        print_json(summary)
        return 0
    print(f"model {summary['model']} on {dataset.root} split {args.split or 'all'}: {summary['n_images']} images")
    mm = f", MRE {summary['mre_mm']:.2f} mm" if summary["mre_mm"] is not None else ""
    print(f"MRE {summary['mre_px']:.2f} px{mm}")
    if "reference" in summary:
        ref = summary["reference"]
        print(f"at {ref['long_side_px']} px scale: MRE {ref['mre_px']:.2f} px, SDR " + ", ".join(f"{r} px {v:.1f}%" for r, v in ref["sdr_px"].items()))
    print("SDR " + ", ".join(f"{r} {summary['sdr_unit']}: {v:.1f}%" for r, v in summary["sdr"].items()))
    if summary.get("dice"):
        print("Dice " + ", ".join(f"{name} {value:.3f}" for name, value in summary["dice"].items()))
    if summary.get("conformal"):
        c = summary["conformal"]
        print(f"uncertainty regions: {c['observed'] * 100:.1f}% of true points inside (nominal {c['nominal'] * 100:.0f}%, calibrated on {c['calibration_n']} images)")
    unit = "mm" if summary["mre_mm"] is not None else "px"
    for row in summary["per_landmark"]:
        value = row["mre_mm"] if unit == "mm" else row["mre_px"]
        print(f"  {row['name']:<18} {value:7.2f} {unit}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from core.model_card import list_models

    cards = list_models()
    if args.json:
        print_json([{k: v for k, v in c.items() if k not in ("training",)} for c in cards])
        return 0
    from core.model_card import ModelCard

    for entry in cards:
        if "error" in entry:
            print(f"{entry['name']:<10} unusable: {entry['error']}")
            continue
        card = ModelCard.parse(entry, str(entry.get("name")))
        headline = (card.data.get("metrics") or {}).get("headline") or {}
        summary = ", ".join(f"{k} {v}" for k, v in headline.items()) if isinstance(headline, dict) else ""
        print(f"{card.name:<10} v{card.version}  schema {card.schema_name}  {card.title}")
        if summary:
            print(f"{'':<10} {summary}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``train --recipe``; under ``torchrun --nproc_per_node N`` every process trains a shard (DDP)."""
    from core.training.distributed import session

    with session(args.device):
        return _train_recipe(args)


def _train_recipe(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from core.training import distributed
    from core.training.assemble import assemble_model
    from core.training.loop import EpochReport, TrainingCancelled
    from core.training.recipes import get_recipe
    from core.training.stage_runner import STAGES, train_stage

    recipe = get_recipe(args.recipe)
    if args.patch_size:
        # The patch network is fully convolutional: a larger patch (more context)
        # reuses the same weights, so this also works with --init-from.
        recipe = replace(recipe, patch_size=args.patch_size)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.stage != "assemble" and not args.dataset:
        raise CliError(f"train --stage {args.stage} needs --dataset DIR")
    if args.stage in ("all", "assemble") and not args.out:
        raise CliError(f"train --stage {args.stage} needs --out MODEL.pt")
    if not (args.work or args.out):
        raise CliError("train needs --work DIR (or --out MODEL.pt, whose .work folder is used)")
    work = Path(args.work) if args.work else Path(args.out).with_suffix(".work")
    stages = {"all": STAGES, "assemble": ()}.get(args.stage, (args.stage,))
    cancel = threading.Event()

    def report(r: EpochReport) -> None:
        if args.json:
            print(json.dumps({"event": "epoch", "stage": stage, **r.to_dict()}), flush=True)
        else:
            print(f"[{stage}] epoch {r.epoch}/{r.epochs} loss {r.train_loss:.3f} val MRE {r.val_mre_px:.2f} px (best {r.best_mre_px:.2f}), {r.seconds:.0f} s, ETA {r.eta_seconds / 60:.0f} min", flush=True)

    val_split = None if recipe.val_holdout else args.val_split
    for stage in stages:
        config = recipe.global_train if stage == "global" else recipe.patch_train
        if args.epochs:
            config = replace(config, epochs=args.epochs)
        if args.max_minutes:
            config = replace(config, max_minutes=args.max_minutes)
        config = override(config, args.set)
        init = Path(args.init_from) if args.init_from else None
        try:
            train_stage(recipe, stage, Path(args.dataset), work, args.split, val_split, args.device, config, report, cancel, init)
        except (KeyboardInterrupt, TrainingCancelled):
            print("anatomark: training cancelled; resume by running the same command", file=sys.stderr)
            return 130
    if args.stage not in ("all", "assemble"):
        return 0
    if not distributed.current().is_main:  # rank 0 writes the model file; the others are done
        return 0
    from core.resources import resolve_model

    patch_from = resolve_model(args.patch_from) if args.patch_from else None
    global_from = resolve_model(args.global_from) if args.global_from else None
    if patch_from is not None and global_from is not None:
        raise CliError("train --stage assemble: give --patch-from or --global-from, not both")
    try:
        out = assemble_model(work, Path(args.out), args.name or recipe.name, version=args.model_version, parent_version=args.parent_version,
                             title=None, evaluation=recipe.evaluation, inference=recipe.inference, patch_from=patch_from, global_from=global_from)
    except FileNotFoundError as exc:
        stage = "patch" if global_from is not None else "global"
        raise CliError(f"{work}: no trained {stage} stage there ({Path(exc.filename).name} missing)") from exc
    if args.json:
        print_json({"event": "done", "model_path": str(out)})
    else:
        print(f"model written to {out}")
    return 0


#: Every subcommand with one line, for ``anatomark --help`` (some have parsers of their own modules).
COMMAND_SUMMARY = {
    "predict": "predict landmarks for images",
    "evaluate": "measure a model on a dataset folder",
    "train": "train a model from a recipe, or a project's model (--project)",
    "models": "list the bundled models, or a project's versions (--project)",
    "simulate-review": "corrections per image a careful reviewer needs, with and without re-prediction",
    "calibrate": "calibrate a model's uncertainty regions",
    "project": "create a project, add or import images, store reports (project new|add|import|store-sr)",
    "adopt": "make a version the project's model",
    "export": "export a project's landmarks (CSV, COCO, labelme, ISBI, DICOM SR)",
    "experiment": "train and evaluate one model-zoo configuration",
    "experiment-report": "tabulate experiment results",
    "pacs": "search a PACS over DICOMweb (pacs search; open a study with project add --dicomweb)",
}


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<18} {COMMAND_SUMMARY[name]}" for name in SUBCOMMANDS)
    parser = argparse.ArgumentParser(prog="anatomark", formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Anatomical landmarks on X-rays. Without a subcommand, or with image or project "
                                     "files, starts the desktop app (anatomark --smoke-test: check an installation on the demo, "
                                     "print one JSON line).",
                                     epilog=f"commands (anatomark COMMAND --help for each):\n{commands}")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("predict", help="predict landmarks for images")
    p.add_argument("images", nargs="+", help="DICOM, PNG, JPEG, TIFF or BMP files")
    p.add_argument("--model", default=None, help="bundled model name or path to a .pt model file (default: the bundled "
                   "model whose anatomy each image shows; an image none fits is refused)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--runtime", default="auto", choices=("auto", "torch", "openvino"),
                   help="what runs the networks: auto (OpenVINO on the CPU when installed, else PyTorch), torch, openvino")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--decoder", default=None, help="heatmap decoder: soft_argmax, argmax, local_soft_argmax or blob (default: the model card's)")
    p.add_argument("--spacing", type=spacing_argument, default=None, metavar="MM[,MM]",
                   help="pixel spacing in mm (x[,y]) for images whose file does not say it (PNG, JPEG); wins over the file's")
    p.set_defaults(func=cmd_predict)
    e = sub.add_parser("evaluate", help="measure a model on a dataset folder")
    e.add_argument("--model", required=True)
    e.add_argument("--dataset", required=True, help="folder in a ../shared/data/<set> layout")
    e.add_argument("--split", default=None, help="split name (default: all images)")
    e.add_argument("--limit", type=int, default=None, help="first N images only")
    e.add_argument("--skip", type=int, default=0, help="leave out the first N images (before --limit)")
    e.add_argument("--decoder", default=None, help="heatmap decoder: soft_argmax, argmax, local_soft_argmax or blob (default: the model card's)")
    e.add_argument("--device", default="auto")
    e.add_argument("--runtime", default="auto", choices=("auto", "torch", "openvino"), help="as for predict")
    e.add_argument("--json", action="store_true")
    e.add_argument("--record", action="store_true", help="store the result in the model card's metrics")
    e.add_argument("--record-coverage", action="store_true",
                   help="store the uncertainty regions' observed coverage in the card (evaluate images the calibration did not use, e.g. with --skip)")
    e.set_defaults(func=cmd_evaluate)
    t = sub.add_parser("train", help="train a model from a recipe on a dataset folder")
    t.add_argument("--recipe", required=True, help="chest6 or ceph19, optionally with suffixes: -plain (no GNN, no structural losses), -sc (spatial-configuration loss), -adaptive (learned heatmap σ and rotation), e.g. ceph19-plain-sc")
    t.add_argument("--dataset", default=None, help="dataset folder (every stage but assemble)")
    t.add_argument("--out", default=None, help="model file to write (.pt, with its .json card); needed with --stage all")
    t.add_argument("--work", default=None, help="folder for checkpoints (resumable); default OUT.work")
    t.add_argument(
        "--stage",
        default="all",
        choices=("all", "global", "patch", "assemble"),
        help="train one stage, both (all, then write --out), or only write --out from the checkpoints in --work",
    )
    t.add_argument("--split", default="train")
    t.add_argument("--val-split", default="val")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--max-minutes", type=float, default=None)
    t.add_argument("--device", default="auto")
    t.add_argument("--patch-size", type=int, default=None, help="patch stage input size in fine-grid pixels (multiple of 8)")
    t.add_argument("--init-from", default=None, help="start from this stage checkpoint (.pt) instead of random weights")
    t.add_argument("--name", default=None, help="model name written in the card (default: the recipe's)")
    t.add_argument("--model-version", default="1", help="version written in the model card (the model id is NAME@VERSION)")
    t.add_argument("--parent-version", default=None, help="version of the model this one replaces, for the card")
    t.add_argument("--patch-from", default=None, metavar="MODEL", help="with --stage assemble: take the patch stage from this model file (same schema) instead of --work")
    t.add_argument("--global-from", default=None, metavar="MODEL", help="with --stage assemble: take the global stage from this model file (same schema) and the patch stage from --work")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a training setting, e.g. --set jitter=14 --set lr=5e-4 --set augment.rotation_deg=5")
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's choice)")
    t.add_argument("--json", action="store_true", help="JSON lines progress")
    t.set_defaults(func=cmd_train)
    m = sub.add_parser("models", help="list bundled models")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)
    from core.cli.experiment import add_parsers as add_experiment_parsers

    add_experiment_parsers(sub)  # experiment, experiment-report (core.experiments)
    from core.cli.effort import add_parsers as add_effort_parsers

    add_effort_parsers(sub)  # simulate-review (core.review.effort)
    return parser


def _mistyped_command(word: str) -> str | None:
    """The one-line error for a first argument that is neither a command nor a file the app could
    open (``anatomark simulat-review``: no such file, no extension, no folder); None otherwise."""
    path = Path(word)
    if word in SUBCOMMANDS or word.startswith("-") or path.exists() or path.suffix or len(path.parts) > 1:
        return None
    import difflib

    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"anatomark: unknown command '{word}' (and no such file); {hint}commands: {', '.join(SUBCOMMANDS)}"


def wants_cli(argv: list[str]) -> bool:
    """Whether the ``anatomark`` program should run the command line for these arguments (a
    subcommand, an option, or a mistyped command, which gets its one-line error) rather than the
    desktop app (no argument, image or project files, the app's own flags). The program's entry
    point (``app.launch``) asks this before importing either side."""
    if not argv or argv[0] in APP_FLAGS:
        return False
    return argv[0] in SUBCOMMANDS or argv[0].startswith("-") or _mistyped_command(argv[0]) is not None


def main(argv: list[str] | None = None) -> int:
    """Run one command; expected failures print one line and return 2. Without a command (the
    app's arguments) it prints the help: the app starts from ``app.launch``, which core never imports."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # pydicom warns (with a source line) about the damage it reads past; the command reports a
    # file it cannot use in one line of its own, so its warnings would only add noise.
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
    if argv and (message := _mistyped_command(argv[0])):
        print(message, file=sys.stderr)
        return EXIT_USAGE
    if not wants_cli(argv):
        build_parser().print_help(sys.stderr)
        print("anatomark: no command given; the desktop app starts from the anatomark program "
              "(python -m app)", file=sys.stderr)
        return EXIT_USAGE
    if argv[0] == "calibrate":  # core.cli.calibrate: anatomark calibrate --model M --dataset D --split S --out M2
        from core.cli.calibrate import main as calibrate_main

        return calibrate_main(argv, expected_errors())
    if argv[0] == "pacs":  # core.cli.dicomweb: anatomark pacs search --dicomweb URL …
        from core.cli.dicomweb import main as dicomweb_main

        return dicomweb_main(argv, expected_errors())
    if argv[0] == "export":  # core.cli.exchange: anatomark export --project P --format F --out PATH
        from core.cli.exchange import main as exchange_main

        return exchange_main(argv, expected_errors())
    if argv[0] in PROJECT_COMMANDS or any(a == "--project" or a.startswith("--project=") for a in argv[1:]):
        from core.cli.project import main as project_main

        return project_main(argv, expected_errors())
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    return run(args, expected_errors())
