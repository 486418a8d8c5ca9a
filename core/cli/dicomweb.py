"""The command line's PACS commands (``core.dicomweb``), without Qt::

    anatomark pacs search --dicomweb URL [--patient-id ID] [--patient-name NAME] [--date D] [--modality M] [--json]
    anatomark project add P --dicomweb URL --study UID [--cache DIR]
    anatomark project store-sr P --dicomweb URL [--reviewed-only] [--include-identifiers]

Each takes ``--user NAME``; the password comes from the environment variable
``ANATOMARK_DICOMWEB_PASSWORD`` (or a prompt on a terminal), never from an argument that the
machine's other users could read in the process list, and is never printed or stored. Without a
user, a bearer token (cloud archives) comes from ``ANATOMARK_DICOMWEB_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.common import run


def add_server_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--dicomweb", required=required, metavar="URL",
                        help="the server's DICOMweb root, e.g. http://pacs:8042/dicom-web")
    parser.add_argument("--user", default=None, help="user name (password: $ANATOMARK_DICOMWEB_PASSWORD or a prompt); "
                        "without one, a bearer token from $ANATOMARK_DICOMWEB_TOKEN")


def server_from(args: argparse.Namespace):
    """The server the arguments name; asks for the password on a terminal when a user has none."""
    from core.dicomweb import Server

    server = Server.parse(args.dicomweb, args.user).with_password_from_env()
    if server.user and server.password is None:
        from core.dicomweb.server import PASSWORD_ENV

        if not sys.stdin.isatty():
            raise ValueError(f"no password for {server.user}: set {PASSWORD_ENV} (it is never taken as an argument)")
        import getpass

        server = Server(server.url, server.user, getpass.getpass(f"Password for {server.user} at {server.url}: "))
    return server


def cmd_pacs_search(args: argparse.Namespace) -> int:
    from core.dicomweb import search_studies

    studies = search_studies(server_from(args), args.patient_id, args.patient_name, args.date, args.modality)
    if args.json:
        print(json.dumps([s.__dict__ | {"modalities": list(s.modalities)} for s in studies]))
        return 0
    if not studies:
        print("no study matches")
    for s in studies:
        images = "?" if s.n_images is None else s.n_images
        print(f"{s.study_uid}  {s.study_date or '—'}  {'/'.join(s.modalities) or '—'}  {images} image(s)  "
              f"{s.patient_id}  {s.patient_name}  {s.description}")
    return 0


def cmd_project_add_dicomweb(args: argparse.Namespace, project) -> int:
    """``project add P --dicomweb URL --study UID``: fetch the study's images, then add them all."""
    from core.dicomweb import cache_folder, fetch_study
    from core.imaging import load_image

    if not args.study:
        raise ValueError("--dicomweb needs --study UID (find it with: anatomark pacs search --dicomweb URL)")
    server = server_from(args)
    cache = Path(args.cache) if args.cache else cache_folder(args.project)

    def progress(done: int, total: int) -> None:
        print(f"\rfetched {done}/{total}", end="", file=sys.stderr, flush=True)

    fetched = fetch_study(server, args.study, cache, progress)
    print(file=sys.stderr)
    loaded = [(f, load_image(f.path)) for f in fetched]  # every image decodes, or none is added
    before = len(project.images)
    for f, radiograph in loaded:
        project.add_image(f.path, radiograph=radiograph, source=f.source)
    project.save()
    print(f"{len(project.images) - before} image(s) added from study {args.study} at {server.url} "
          f"(cached in {cache}); the project has {len(project.images)}")
    return 0


def cmd_project_store_sr(args: argparse.Namespace) -> int:
    """``project store-sr P --dicomweb URL``: a TID 1500 report per DICOM image, stored by STOW-RS."""
    from core.dicomweb import store_datasets
    from core.exchange.dicom_sr import reports
    from core.project import Project

    server = server_from(args)
    with Project.open(args.project, read_only=True) as project:  # only read: the app may have it open
        built, skipped = reports(project, args.include_identifiers, args.reviewed_only)
    if not built:
        raise ValueError("no DICOM image of the project has a placed landmark: no report to store")
    stored = store_datasets(server, built)
    note = f"; {len(skipped)} image(s) are not DICOM and have no report" if skipped else ""
    who = ("with the patient's identifiers, filed with the image's study" if args.include_identifiers else
           "pseudonymised: the server files them under a pseudonym patient; --include-identifiers files "
           "them with the patient's study")
    print(f"stored {len(stored)} landmark report(s) at {server.url} ({who}){note}")
    return 0


def add_project_parsers(pp) -> None:
    """``project store-sr`` (``project add --dicomweb`` is an option of ``project add``)."""
    s = pp.add_parser("store-sr", help="store the landmark reports (DICOM SR) on a DICOMweb server")
    s.add_argument("project")
    add_server_arguments(s)
    s.add_argument("--reviewed-only", action="store_true", help="only images a person has reviewed")
    s.add_argument("--include-identifiers", action="store_true",
                   help="copy the patient's identifiers so the report files with its study (default: pseudonyms)")
    s.set_defaults(func=cmd_project_store_sr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anatomark")
    sub = parser.add_subparsers(dest="command", required=True)
    pacs = sub.add_parser("pacs", help="a PACS over DICOMweb").add_subparsers(dest="action", required=True)
    s = pacs.add_parser("search", help="find studies (QIDO-RS)")
    add_server_arguments(s)
    s.add_argument("--patient-id", default="")
    s.add_argument("--patient-name", default="", help="DICOM wildcards allowed: DOE*")
    s.add_argument("--date", default="", help="YYYYMMDD or YYYYMMDD-YYYYMMDD")
    s.add_argument("--modality", default="", help="e.g. CR, DX")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_pacs_search)
    return parser


def main(argv: list[str], expected: tuple[type[BaseException], ...]) -> int:
    return run(build_parser().parse_args(argv), expected)
