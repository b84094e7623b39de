"""``python -m archspec`` = the ``archspec`` command."""

import sys

from archspec.cli import main

sys.exit(main())
