"""``python -m app [FILE…]``: the ``anatomark`` program (``app.launch``) without an installed script."""

import sys

from app.launch import main

sys.exit(main())
