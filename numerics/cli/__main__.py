"""``python -m numerics.cli``: the ``mirrorflow`` command line."""

import sys

from . import main

sys.exit(main())
