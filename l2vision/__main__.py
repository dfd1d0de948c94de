"""``python -m l2vision``: the command line."""

import sys

from l2vision.cli import main

sys.exit(main())
