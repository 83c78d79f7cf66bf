"""The soak of benchmarks/soak.py at CI size: every fault type injected, every invariant held."""

from __future__ import annotations

import pytest

from benchmarks import soak
from tests.e2e.conftest import restored_process_state


@pytest.mark.e2e
def test_soak_under_injected_faults_holds_every_invariant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with restored_process_state():
        status = soak.main(["--n", "16", "--seed", "11"])
    report = capsys.readouterr().out
    assert "all invariants hold" in report, report
    assert status == 0
    for line in report.splitlines():
        if line.startswith(("duplicate posts", "double decisions", "lost ", "stuck ")):
            assert line.split()[-2] == "0", line
