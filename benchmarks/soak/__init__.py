"""Soak under injected faults: 0 lost, duplicated, double-decided, stuck, unauthorized, leaked.

    python -m benchmarks.soak            # CI size (n=16)
    python -m benchmarks.soak --n 200    # the long run

Runs N executions of the seed's state machine on moto through the real notifier and the real
interactions handler (signed requests over HTTP) while Slack answers 429 / 5xx / too slowly and
Step Functions fails transiently (``core``); adds the trust scenarios (``scenarios``):
requesters who are also approvers (by id, and by an e-mail Slack hides), directory outages that
must fail closed, outsiders listing private requests; grouped requests (``approval.group``)
decided by Approve all / Reject all and per-item clicks of people allowed all, part or none of a
group; then checks the invariants (``verdict``, ``groupcheck``) with the root logger at DEBUG
the whole time (``logscan``).

Exit status 1 if an invariant is violated, or if a fault type the soak injects never reached the
bot (``faults``: a Slack fault counts when a call met it, never when it was queued).
``main(["--n", "12", "--seed", "3"])`` returns the exit status instead of exiting.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections import Counter

from benchmarks.soak import faults, groupcheck, scenarios
from benchmarks.soak.core import Soak
from benchmarks.soak.logscan import Discard
from benchmarks.soak.verdict import Row, invariants

DEFAULT_N = 16
DEFAULT_SEED = 7
# Scenarios that must have happened at least once (beyond the fault types of faults.EXPECTED).
EXERCISED = (
    "crash_after_post",
    "duplicate_delivery",
    "concurrent_duplicate_delivery",
    "concurrent_approvers",
    "concurrent_n_of_m_votes",
    "double_click",
    "unauthorized_click",
    "requester_click",
    "requester_is_approver",
    "hidden_email_requester",
    "self_approval_attempt",
    "private_request",
    "click_during_directory_outage",
    "listing_by_outsider",
    "replayed_request",
    "stale_signature",
    "notify_both",
    "click_in_dm",
    # grouped requests (approval.group) and Approve all / Reject all
    "grouped_request",
    "group_message",
    "group_notify_both",
    "group_form_item",
    "group_form_approved",
    "group_item_click",
    "group_item_click_not_allowed",
    "approve_all_click",
    "approve_all_by_someone_allowed_part",
    "approve_all_by_someone_allowed_nothing",
    "reject_all_click",
    "decide_all_skipped_not_allowed",
    "decide_all_skipped_form",
)
# Printed beside them, not required (a race decides whether they happen).
ALSO_COUNTED = (
    "show_more_by_outsider",
    "reject_all_by_someone_allowed_part",
    "reject_all_by_someone_allowed_nothing",
    "decide_all_skipped_decided",
    "group_form_submitted_not_allowed",
    "redraw_by_sweep",  # finished requests waiting for the sweep's redraw, summed over sweeps
)


def run(n: int, seed: int, fault_rate: float) -> tuple[Soak, list[Row], float]:
    soak = Soak(n, seed, fault_rate)
    started = time.perf_counter()
    # The handlers log JSON to stdout (as on Lambda); at DEBUG that is noise here. Every record
    # still reaches the scan (logscan).
    with contextlib.redirect_stdout(Discard()):
        soak.start()
        try:
            soak.phase("start executions", soak.start_requests)
            soak.phase("deliver (notifier)", soak.deliver_all)
            soak.map_posts()
            soak.phase("directory outages", lambda: scenarios.directory_blackouts(soak))
            soak.phase("outsider listings", lambda: scenarios.outsider_listings(soak))
            soak.phase("clicks", soak.click_all)
            listed = frozenset(a.approval_id for a in soak.store.needs_redraw(limit=1000))
            soak.stale_after_clicks = groupcheck.stale_group_items(
                soak, final=False, listed=listed
            )[2]
            soak.phase("drive to an end", soak.drive_to_end)
            groupcheck.count_skips(soak)
            rows = invariants(soak)
        finally:
            soak.sandbox.stop()
            soak.logs.detach()
    return soak, rows, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"executions ({DEFAULT_N})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    args = parser.parse_args(argv)
    if args.n < 4:
        parser.error("--n must be at least 4 (one request of each outcome)")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log, not the bot
    os.environ["POWERTOOLS_LOG_LEVEL"] = "DEBUG"
    soak, rows, elapsed = run(args.n, args.seed, args.fault_rate)
    return report(soak, rows, elapsed, args)


def report(soak: Soak, rows: list[Row], elapsed: float, args: argparse.Namespace) -> int:
    rate = f"{args.fault_rate:.0%}"
    grouped = sum(1 for p in soak.plans if p.group)
    print(
        f"\nsoak: {args.n} executions (+{grouped} grouped), seed {args.seed}, "
        f"fault rate {rate}, {elapsed:.1f} s"
    )
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in soak.phases.items())
    print(f"phases: {phases}")
    table = soak.inject.table()
    never = [name for name in faults.EXPECTED if table[name] == 0]
    print(f"\n{'fault injected (fired = reached the bot)':<48} {'fired':>7}")
    for name in faults.EXPECTED:
        print(f"{name:<48} {table[name]:>7}  {'NEVER FIRED' if table[name] == 0 else 'fired'}")
    print(f"\n{'scenario':<48} {'count':>7}")
    for name in EXERCISED:
        count = soak.events.counts[name]
        print(f"{name:<48} {count:>7}")
        if count == 0:
            never.append(name)
    for name in ALSO_COUNTED:
        print(f"{name:<48} {soak.events.counts[name]:>7}")
    print(f"{'poison messages':<48} {len(soak.poison):>7}")
    calls = Counter(call.method for call in soak.sandbox.standin.calls())
    print(f"{'Slack calls':<48} {sum(calls.values()):>7}  {dict(calls.most_common())}")
    hits = soak.sandbox.standin.rate_limit_hits()
    by_method = Counter(hit.method for hit in hits)
    print(f"{'429s from Slack rate limits (not injected)':<48} {len(hits):>7}  {dict(by_method)}")
    timeouts = sum(p.outcome == "timeout" for p in soak.plans)
    print(f"{'timeouts (executions left to expire)':<48} {timeouts:>7}")
    print(f"\n{'invariant':<48} {'count':>7}  verdict")
    violated = []
    for name, count, allowed in rows:
        verdict = "" if allowed < 0 else ("ok" if count <= allowed else "VIOLATED")
        if verdict == "VIOLATED":
            violated.append(name)
        print(f"{name:<48} {count:>7}  {verdict}")
    _details(soak)
    if never:
        print(f"\nFAIL: never fired or never happened: {', '.join(never)}")
    if violated:
        print(f"\nFAIL: {', '.join(violated)}")
    if not never and not violated:
        print("\nall invariants hold; every fault type fired")
    sys.stdout.flush()
    return 1 if (violated or never) else 0


def _details(soak: Soak) -> None:
    """What a violated row counted, named."""
    details = {
        "stuck, by plan and status": dict(soak.stuck_kinds),
        "decided without Slack vouching": soak.unverified_decisions,
        "private requests shown to outsiders": soak.shown,
        "decided by someone not allowed": soak.not_allowed,
        "stale copies of": soak.stale_copies,
        "stale group items": soak.stale_group_items,
        "stale group items after the clicks": soak.stale_after_clicks,
        "timed-out requests decided": soak.late_decisions,
    }
    for label, found in details.items():
        if found:
            print(f"{label}: {found}")
