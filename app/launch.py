"""The ``anatomark`` program: the desktop app, or the command line for a subcommand.

``anatomark`` alone, with image or project files, or with the app's flags starts the app
(``app.main``); ``anatomark SUBCOMMAND …`` runs the command line (``core.cli``), which never
imports Qt. Deciding costs no heavy import: ``core.cli.commands`` loads torch and pydicom only
inside the commands that need them.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from core.cli.commands import wants_cli

    if wants_cli(argv):
        from core.cli.commands import main as cli_main

        return cli_main(argv)
    from app.main import main as app_main

    return app_main(argv)
