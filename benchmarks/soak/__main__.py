"""``python -m benchmarks.soak``: see the package docstring."""

import sys

from benchmarks.soak import main

sys.exit(main())
