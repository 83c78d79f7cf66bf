from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

SNAPSHOTS = Path(__file__).parent / "snapshots"


class Snapshot:
    """Compare JSON-able values with ``tests/unit/snapshots/<name>.json``.

    ``UPDATE_SNAPSHOTS=1 pytest tests/unit`` rewrites them; review the diff before committing.
    A missing snapshot fails (CI never creates one silently).
    """

    def __call__(self, name: str, value: Any) -> None:
        path = SNAPSHOTS / f"{name}.json"
        rendered = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        if os.environ.get("UPDATE_SNAPSHOTS") == "1":
            path.write_text(rendered)
            return
        if not path.exists():
            pytest.fail(f"missing snapshot {path.name}: run UPDATE_SNAPSHOTS=1 pytest tests/unit")
        assert json.loads(rendered) == json.loads(path.read_text()), f"snapshot {name} changed"


@pytest.fixture
def snapshot() -> Snapshot:
    return Snapshot()
