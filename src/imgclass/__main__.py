"""``python -m imgclass`` is the ``imgclass`` command."""

import sys

from imgclass.cli import main

sys.exit(main())
