"""The bundle's one program, ``anatomark``: the app with no subcommand, the CLI with one.

PyInstaller freezes this file (see ``anatomark.spec``); it is ``app.launch.main`` with the two
things a frozen program needs first: ``freeze_support`` (a child process started by
``multiprocessing`` re-runs this executable) and the Qt binding qtawesome must use.
"""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    os.environ.setdefault("QT_API", "pyside6")
    from app.launch import main

    sys.exit(main(sys.argv[1:]))
