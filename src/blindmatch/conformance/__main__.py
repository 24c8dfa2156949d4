"""``python -m blindmatch.conformance``: check an implementation against the vector files."""

import sys

from .command import main

sys.exit(main())
