"""``python -m core.cli SUBCOMMAND …``: the command line alone (training sub-processes, torchrun)."""

import sys

from core.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
