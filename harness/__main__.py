"""``python -m harness`` is the ``alexbench`` command."""

import sys

from .cli import main

sys.exit(main())
