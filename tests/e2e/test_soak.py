"""The soak (benchmarks/soak/) at its default size: every fault type fired, every invariant held."""

from __future__ import annotations

import pytest

from benchmarks import soak
from benchmarks.soak import faults
from tests.e2e.conftest import restored_process_state

ZERO_ROWS = (
    "duplicate posts",
    "double decisions (Step Functions witness)",
    "lost ",
    "stuck ",
    "self-approvals",
    "decisions by unverifiable users",
    "private requests shown to outsiders",
    "token leaks",
    "duplicate DM copies",
    "stale copies (copy consistency)",
    "decided by someone not allowed (witness)",
    "form items approved without the form",
    "stale group items (group message vs witness)",
    "stale group items after the clicks, unlisted",
)
# Grouped requests and Approve all / Reject all: each exercised (the soak fails otherwise; the
# rows are asserted here as well, so that a soak dropping them fails this test).
EXERCISED_GROUPS = (
    "group_message",
    "approve_all_click",
    "approve_all_by_someone_allowed_part",
    "approve_all_by_someone_allowed_nothing",
    "reject_all_click",
    "decide_all_skipped_not_allowed",
    "decide_all_skipped_form",
)


@pytest.mark.e2e
def test_soak_fires_every_fault_type_and_holds_every_invariant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with restored_process_state():
        status = soak.main([])  # the default size and seed, as CI runs it
    report = capsys.readouterr().out
    assert status == 0, report
    assert "all invariants hold; every fault type fired" in report, report
    lines = report.splitlines()
    for name in faults.EXPECTED:  # each listed, with a count that reached the bot
        row = [line for line in lines if line.startswith(f"{name} ")]
        assert len(row) == 1, (name, report)
        count, verdict = row[0][len(name) :].split()
        assert int(count) > 0, row[0]
        assert verdict == "fired", row[0]
    dm_requests = [line for line in lines if line.startswith("requests with DM copies")]
    assert len(dm_requests) == 1, report
    assert int(dm_requests[0].split()[-1]) > 0, dm_requests[0]  # the soak sent some
    for name in ("grouped requests (approval.group)", "group items checked", *EXERCISED_GROUPS):
        row = [line for line in lines if line.startswith(f"{name} ")]
        assert len(row) == 1, (name, report)
        assert int(row[0][len(name) :].split()[0]) > 0, row[0]
    for prefix in ZERO_ROWS:
        row = [line for line in lines if line.startswith(prefix)]
        assert len(row) == 1, (prefix, report)
        assert row[0].split()[-2] == "0", row[0]
