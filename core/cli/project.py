"""The project subcommands of ``anatomark`` (the learning loop, issue 4), without Qt.

    anatomark project new P --schema NAME
    anatomark project add P IMAGE…
    anatomark project import P --dataset DIR [--split S] [--state corrected|predicted]
    anatomark predict --project P [--all]
    anatomark train --project P [--from current|scratch|VERSION] [--epochs N] [--max-minutes M]
                    [--device auto|cpu|cuda|mps] [--stage all|global|patch] [--set KEY=VALUE] [--json]
    torchrun --nproc_per_node N -m core.cli train --project P …   (DistributedDataParallel)
    anatomark models --project P [--json]
    anatomark adopt --project P VERSION|--model NAME [--force]

``core.cli.commands`` sends ``project``, ``adopt`` and ``predict``/``train``/``models``
with ``--project`` here. Expected failures: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from core.cli.common import open_project, override, print_json, run


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def cmd_project_new(args: argparse.Namespace) -> int:
    from core.project import Project

    Project.create(args.project, args.schema).close()
    print(f"created {args.project} (schema {args.schema})")
    return 0


def cmd_project_add(args: argparse.Namespace) -> int:
    if bool(args.images) == bool(args.dicomweb):
        raise ValueError("project add takes image files, or --dicomweb URL --study UID (one of the two)")
    with open_project(args.project) as project:
        if args.dicomweb:  # a study from a PACS: core.cli.dicomweb
            from core.cli.dicomweb import cmd_project_add_dicomweb

            return cmd_project_add_dicomweb(args, project)
        for image in args.images:
            project.add_image(image)
        project.save()
        print(f"{len(args.images)} image(s) added; the project has {len(project.images)}")
    return 0


def cmd_project_import(args: argparse.Namespace) -> int:
    """A dataset folder's images with its ground truth as CORRECTED (or PREDICTED, ``dataset:<name>``) landmarks."""
    from core.learning.selection import add_sample_image
    from core.project import LandmarkRecord, LandmarkState
    from core.project.records import utc_now
    from core.training.datasets import load_dataset

    if args.file:  # landmarks from an exchange file: core.cli.exchange
        from core.cli.exchange import cmd_project_import_file

        return cmd_project_import_file(args)
    if args.format:  # a data set folder in an exchange format: core.exchange.dataset
        from core.exchange.dataset import import_dataset

        with open_project(args.project) as project:
            before = len(project.images)
            result = import_dataset(project, args.dataset, args.format,
                                    state="file" if args.keep_states else args.state)
            project.save()
            print(f"{len(project.images) - before} image(s) added from {args.dataset} ({args.format}); {result.summary()}")
        return 0
    with open_project(args.project) as project:
        dataset = load_dataset(args.dataset, args.split, schema=None)
        if dataset.schema.landmarks != project.schema.landmarks:
            raise ValueError(f"{args.dataset}: landmarks of schema {dataset.schema.name!r}, "
                             f"the project is {project.schema.name!r}")
        samples = dataset.samples[: args.limit] if args.limit else dataset.samples
        names = project.schema.landmarks
        for sample in samples:
            image = add_sample_image(project, sample)
            for k, name in enumerate(names):
                x, y = sample.points[k]
                if not (x == x and y == y):
                    continue
                if args.state == "corrected":
                    project.set_point(image.id, name, float(x), float(y))
                else:
                    now = utc_now()
                    record = LandmarkRecord(float(x), float(y), LandmarkState.PREDICTED, f"model:dataset:{dataset.name}", now)
                    project.restore(image.id, name, record, action="import")
        project.save()
        print(f"{len(samples)} image(s) imported from {args.dataset} as {args.state}; the project has {len(project.images)}")
    return 0


def cmd_project_recover(args: argparse.Namespace) -> int:
    """``project recover DAMAGED --out NEW``: core.project.recovery; the damaged file is only read."""
    from core.project.recovery import recover_project

    for line in recover_project(args.project, args.out).lines():
        print(line)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from core.learning import repredict

    with open_project(args.project) as project:
        done = repredict(project, all_images=args.all, device=args.device)
        print(f"{done} image(s) predicted")
    return 0


def _brief(summary: dict) -> dict:
    keys = ("mre_px", "mre_mm", "sdr", "per_landmark", "n_images", "n_informative", "accept_radius_px")
    return {k: summary.get(k) for k in keys} if summary else {}


def cmd_train(args: argparse.Namespace) -> int:
    """``train --project``; under ``torchrun --nproc_per_node N`` every process trains a shard (DDP)."""
    from core.training.distributed import session

    with session(args.device):
        return _train_project(args)


def _train_project(args: argparse.Namespace) -> int:
    from core.learning import RetrainSettings, retrain
    from core.training import distributed
    from core.training.loop import TrainingCancelled, TrainingDiverged

    stages = ("global", "patch") if args.stage == "all" else (args.stage,)
    settings = RetrainSettings(start=args.start, epochs=args.epochs, max_minutes=args.max_minutes, device=args.device,
                               stages=stages)
    settings = override(settings, args.set, {"lr", "alpha", "batch_size", "seed"})
    main_rank = distributed.current().is_main  # the others train their shards and print nothing
    cancel = threading.Event()

    def progress(event: dict) -> None:
        if args.json:
            if event["event"] != "evaluate":
                print_json(event)
        elif event["event"] == "start":
            what = "resuming the interrupted training" if event.get("resumed") else "training"
            print(f"{what} on {event['device']} ({event['reason']}; {event['precision']}): {event['n_train']} images, "
                  f"validation {event['n_val']} ({event['validation']})", flush=True)
        elif event["event"] == "epoch":
            print(f"[{event['stage']}] epoch {event['epoch']}/{event['epochs']} loss {event['train_loss']:.3f} "
                  f"({event['seconds']:.0f} s)", flush=True)

    from core.project import Project

    # Read-only is fine: training only reads the project (the app holds its lock while a
    # subprocess trains) and publishes into the registry folder beside it.
    # SIGTERM (the app's cancel) sets the cancel flag: the run stops after the current step,
    # cleans up its work folder and publishes nothing.
    previous = signal.signal(signal.SIGTERM, lambda *_: cancel.set()) if _main_thread() else None
    try:
        with Project.open(args.project, read_only=not main_rank) as project:
            result = retrain(project, settings, progress, cancel, resume=args.resume)
    except (KeyboardInterrupt, TrainingCancelled):
        if main_rank:
            print("anatomark: training cancelled; nothing was published", file=sys.stderr)
        return 130
    except TrainingDiverged as exc:
        if args.json and main_rank:
            print_json({"event": "diverged", "message": " ".join(str(exc).split())})
        raise  # one line on stderr, exit status 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if not main_rank:
        return 0
    if args.json:
        print_json({"event": "done", "version": result.version, "model_path": str(result.model_path),
                     "parent": result.parent, "before": _brief(result.before), "after": _brief(result.after),
                     "worse_images": result.worse, "adoptable": result.adoptable, "seconds": round(result.seconds, 1),
                     "validation": result.validation, "verdict": result.verdict})
        return 0
    before = result.before.get("mre_px")
    print(f"{result.version} written to {result.model_path} in {result.seconds:.0f} s")
    print(f"validation MRE: {before:.2f} px → {result.after['mre_px']:.2f} px" if before is not None
          else f"validation MRE: {result.after['mre_px']:.2f} px")
    print(f"verdict: {result.verdict['text']}")
    print("adoptable: run `anatomark adopt --project P " + result.version + "`" if result.adoptable
          else "worse than the current model: not adoptable (adopt --force to use it anyway)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from core.learning import version_rows
    from core.project import Project

    with Project.open(args.project, read_only=True) as project:
        rows = version_rows(project)
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        mre = f"val MRE {r['val_mre_px']:.2f} px" if r["val_mre_px"] is not None else ""
        origin = f"installed {r['imported']}" if r.get("imported") else f"parent {r['parent'] or '-':<5}"
        print(f"{'*' if r['current'] else ' '} {r['version']:<5} {origin} {mre}  {r['title']}")
        if r.get("verdict"):
            print(f"        {r['verdict']}")
    return 0


def cmd_adopt(args: argparse.Namespace) -> int:
    from core.learning import adopt

    if bool(args.version) == bool(args.model):
        raise ValueError("adopt needs a VERSION or --model NAME (a bundled model or model file of the project's schema)")
    with open_project(args.project) as project:
        version = args.version
        if args.model:
            from core.learning import ModelRegistry

            version = ModelRegistry(project.path, project.schema.name).import_model(args.model)
        result = adopt(project, version, force=args.force, device=args.device)
    if args.json:
        print_json(result)
        return 0
    print(f"{result['version']} adopted (was {result['previous']}); {result['repredicted']} image(s) re-predicted")
    if result.get("verdict"):
        print(f"verdict: {result['verdict']['text']}")
    if result["agreement"]:
        mm = [r["mean_mm"] for r in result["agreement"] if r["mean_mm"] is not None]
        far = f"{sum(mm) / len(mm):.2f} mm" if len(mm) == len(result["agreement"]) else \
            f"{sum(r['mean_px'] for r in result['agreement']) / len(result['agreement']):.1f} px"
        print(f"reviewed images: the new predictions lie {far} from your points on average "
              f"({len(result['agreement'])} images; --json lists each)")
    return 0


def build_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anatomark")
    sub = parser.add_subparsers(dest="command", required=True)
    if command == "project":
        pp = sub.add_parser("project", help="make and fill a project").add_subparsers(dest="action", required=True)
        n = pp.add_parser("new", help="a new, empty project")
        n.add_argument("project")
        n.add_argument("--schema", required=True)
        n.set_defaults(func=cmd_project_new)
        from core.cli.dicomweb import add_project_parsers, add_server_arguments

        a = pp.add_parser("add", help="add images (no landmarks yet), from files or from a PACS")
        a.add_argument("project")
        a.add_argument("images", nargs="*")
        add_server_arguments(a, required=False)
        a.add_argument("--study", default=None, metavar="UID", help="with --dicomweb: the study to fetch")
        a.add_argument("--cache", default=None, help="with --dicomweb: where fetched images are kept "
                       "(default: <project>_pacs beside the project)")
        a.set_defaults(func=cmd_project_add)
        add_project_parsers(pp)  # project store-sr
        i = pp.add_parser("import", help="images and ground truth of a dataset folder, or landmarks from a file")
        i.add_argument("project")
        source = i.add_mutually_exclusive_group(required=True)
        source.add_argument("--dataset", help="a dataset folder: its images and ground truth (the ../shared/data layout, "
                            "or with --format the images beside COCO/CSV/labelme/ISBI annotations)")
        source.add_argument("--file", help="landmarks for the project's images from a file (core.cli.exchange)")
        i.add_argument("--format", choices=("csv", "coco", "labelme", "isbi", "dicom-sr"), help="the --file's or the --dataset folder's format "
                       "(dicom-sr: --file only, a report or a folder of reports)")
        i.add_argument("--keep-states", action="store_true", help="--file/--format: keep the file's landmark states")
        i.add_argument("--split", default=None)
        i.add_argument("--state", choices=("corrected", "predicted"), default="corrected")
        i.add_argument("--limit", type=int, default=None, help="first N images only")
        i.set_defaults(func=cmd_project_import)
        r = pp.add_parser("recover", help="copy what is sound of a damaged project into a new file")
        r.add_argument("project", help="the damaged project file (only read)")
        r.add_argument("--out", required=True, help="the new project file to write")
        r.set_defaults(func=cmd_project_recover)
    p = sub.add_parser("predict")
    p.add_argument("--project", required=True)
    p.add_argument("--all", action="store_true", help="every image, not only the unreviewed ones")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_predict)
    t = sub.add_parser("train")
    t.add_argument("--project", required=True)
    t.add_argument("--from", dest="start", default="current", help="current, scratch or a version (v0, v2…)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--max-minutes", type=float, default=None)
    t.add_argument("--device", default="auto")
    t.add_argument("--stage", default="all", choices=("all", "global", "patch"), help="train both stages, or one")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting: lr, alpha (L2-SP strength), batch_size or seed, e.g. --set lr=1e-4")
    t.add_argument("--resume", action="store_true",
                   help="carry on with the project's training that was killed, from its last epoch, with its settings")
    t.add_argument("--json", action="store_true", help="JSON lines: start, epoch…, done (or diverged)")
    t.set_defaults(func=cmd_train)
    m = sub.add_parser("models")
    m.add_argument("--project", required=True)
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)
    d = sub.add_parser("adopt")
    d.add_argument("--project", required=True)
    d.add_argument("version", nargs="?", help="a version of the project (v0, v1…)")
    d.add_argument("--model", default=None, help="use another model instead: a bundled name (e.g. chest6-seg) or a .pt file; it becomes a new version")
    d.add_argument("--force", action="store_true", help="adopt even when worse (restore an earlier version)")
    d.add_argument("--device", default="cpu")
    d.add_argument("--json", action="store_true",
                   help="print the result as JSON (verdict, per-image distance of the new predictions to your points)")
    d.set_defaults(func=cmd_adopt)
    return parser


def main(argv: list[str], expected: tuple[type[BaseException], ...]) -> int:
    from core.learning import RegistryError
    from core.project import ProjectError

    return run(build_parser(argv[0]).parse_args(argv), (*expected, ProjectError, RegistryError))
