"""``anatomark export`` and ``anatomark project import P --file F --format FMT``, without Qt.

    anatomark export --project P --format csv|coco|labelme|isbi|dicom-sr --out PATH [--reviewed-only] [--include-identifiers]
    anatomark project import P --file PATH --format csv|coco|labelme|isbi|dicom-sr [--state corrected|predicted] [--keep-states]

``--out`` is a file for csv and coco, a folder for labelme, isbi and dicom-sr.
Exports are anonymised (images named by content id, DICOM SR patient pseudonyms)
unless ``--include-identifiers`` opts in to source file names and patient data.
The ``project import`` parser lives in ``core.cli.project`` (it also takes
``--dataset``); it hands ``--file`` imports to :func:`cmd_project_import_file`.
Expected failures print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse

from core.exchange import EXPORT_FORMATS, IMPORT_FORMATS, ExchangeError

from core.cli.common import run


def cmd_export(args: argparse.Namespace) -> int:
    from core.exchange import export_project
    from core.project import Project

    with Project.open(args.project, read_only=True) as project:
        written = export_project(project, args.format, args.out, include_identifiers=args.include_identifiers,
                                 reviewed_only=args.reviewed_only)
        skipped = len(project.images) - len(written) if args.format in ("labelme", "isbi", "dicom-sr") else 0
    where = written[0] if len(written) == 1 else f"{len(written)} files in {args.out}"
    why = "not reviewed or without every landmark" if args.reviewed_only else "without every landmark"
    note = f" ({skipped} image(s) {why} skipped)" if skipped else ""
    print(f"exported {args.format} to {where}{note}")
    return 0


def cmd_project_import_file(args: argparse.Namespace) -> int:
    """``project import P --file F --format FMT``: landmarks from a file into the project's images."""
    from core.cli.common import open_project
    from core.exchange import import_file

    if not args.format:
        raise ExchangeError(f"--file needs --format ({', '.join(IMPORT_FORMATS)})")
    state = "file" if getattr(args, "keep_states", False) else args.state
    with open_project(args.project) as project:
        result = import_file(project, args.file, args.format, state=state)
        project.save()
    print(result.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anatomark")
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write a project's landmarks in an exchange format")
    e.add_argument("--project", required=True)
    e.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    e.add_argument("--out", required=True, help="a file (csv, coco) or a folder (labelme, isbi, dicom-sr)")
    e.add_argument("--reviewed-only", action="store_true",
                   help="only images a person has reviewed (signed off, or every landmark corrected/verified/absent)")
    e.add_argument("--include-identifiers", action="store_true",
                   help="opt in to patient identifiers: source file names, and (dicom-sr) the source's patient/study "
                        "attributes (default: images named by content id, patient pseudonyms)")
    e.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str], expected: tuple[type[BaseException], ...]) -> int:
    from core.project import ProjectError

    return run(build_parser().parse_args(argv), (*expected, ExchangeError, ProjectError))
