"""``python -m lrcn``: the same as the ``lrcn`` command."""

import sys

from .cli import main

sys.exit(main())
