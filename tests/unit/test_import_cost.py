"""What importing the handlers' modules does not load (each costs cold-start time; what a rare
path needs is imported on that path)."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.common import ROOT


def test_bot_models_does_not_import_difflib() -> None:
    """difflib only suggests the field a request misspelt (~0.6 ms of every import)."""
    code = "import sys, bot.models; print('difflib' in sys.modules)"
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
