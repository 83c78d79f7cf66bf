"""The soak's trust scenarios: who is shown what, and who decides when Slack cannot vouch.

* :func:`directory_blackouts` — ``users.info``, ``usergroups.users.list`` and
  ``users.conversations`` answer 429 / 5xx / too slowly (every call, retries included) while an
  approver who can only be verified through that method clicks Approve, and an outsider lists.
  Fail closed: no vote may be recorded, no private request shown. A vote recorded, or a
  completion Step Functions accepted, during a blackout is a decision by an unverifiable user.
* :func:`outsider_listings` — people outside the private channels (and not their deciders)
  run ``/approvals``, ``/approvals mine`` and click "Show more". What counts is what Slack
  showed them (the stand-in's record of every ephemeral and response), not what the bot thinks
  it sent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from benchmarks.soak import faults
from benchmarks.soak.core import ANA, CY, OUTSIDERS, Plan
from bot.ids import Action
from bot.local.sandbox import CHANNEL
from bot.local.slack_driver import ButtonNotFound

if TYPE_CHECKING:
    from benchmarks.soak.core import Soak

BLACKOUT_CALLS: Final = 4  # > 1 + the bot's rate-limit retries (2): every attempt fails
MAX_PAGES: Final = 5  # "Show more" clicks per listing, at most


def _drill_plan(soak: Soak) -> Plan | None:
    """A posted request approved through DEFAULT_APPROVERS (ana, and cy via @oncall),
    requested by someone else: ana is verified by users.info, cy by usergroups.users.list."""
    for plan in soak.plans:
        if plan.outcome == "approve" and plan.ts and plan.requester_id not in (ANA, CY):
            return plan
    return None


def directory_blackouts(soak: Soak) -> None:
    standin = soak.sandbox.standin
    plan = _drill_plan(soak)
    for method in faults.DIRECTORY:
        for kind in faults.KINDS:
            soak.inject.disarm()
            # Retry-After 0: the bot's retries meet the outage at once
            standin.inject(method, faults.fault(kind, retry_after=0), times=BLACKOUT_CALLS)
            if method == "users.conversations":  # read by listings, not by these decisions
                list_as(soak, OUTSIDERS[0], "")
            elif plan is not None:
                clicker = ANA if method == "users.info" else CY
                votes = _votes(soak, plan)
                accepted = soak.witness.accepted(plan.approval_id)
                soak.approve(clicker, plan)
                soak.sandbox.lazy.wait(timeout=60)
                soak.events.add("click_during_directory_outage")
                decided = soak.witness.accepted(plan.approval_id) > accepted
                if decided or _votes(soak, plan) != votes:
                    soak.unverified_decisions.append(f"{clicker} during {method} {kind}")
    soak.inject.disarm()


def _votes(soak: Soak, plan: Plan) -> list[str]:
    approval = soak.store.get(plan.approval_id)
    return [v.actor.id for v in approval.votes]


def outsider_listings(soak: Soak) -> None:
    for user in OUTSIDERS:
        for text in ("", "mine"):
            list_as(soak, user, text)


def list_as(soak: Soak, user: str, text: str) -> None:
    """``/approvals [text]`` by ``user``, then "Show more" while there is more."""
    driver, standin = soak.driver, soak.sandbox.standin
    response = driver.command(user, CHANNEL, text)
    soak.events.add("listing_by_outsider")
    body: dict[str, Any] = (
        response.json() if response.body.startswith("{") else {"text": response.body}
    )
    if response.status != 200 or not (body.get("text") or body.get("blocks")):
        return
    # Slack shows the acknowledgement's body to the user (the stand-in records it).
    shown = standin.show_ephemeral(
        channel=CHANNEL,
        user=user,
        text=str(body.get("text", "")),
        blocks=list(body.get("blocks") or []),
    )
    for _ in range(MAX_PAGES):
        before = len(standin.ephemerals(user=user))
        try:
            driver.click_ephemeral(user, shown, Action.MORE_PENDING)
        except ButtonNotFound:
            return
        soak.events.add("show_more_by_outsider")
        soak.sandbox.lazy.wait(timeout=60)
        after = standin.ephemerals(user=user)
        if len(after) <= before:
            return
        shown = after[-1]


def private_shown_to_outsiders(soak: Soak) -> dict[str, list[str]]:
    """Private requests each outsider was shown (by Slack), found by their service name,
    approval id, or channel, in everything shown to them as ephemeral or response."""
    seen: dict[str, list[str]] = {}
    for user in OUTSIDERS:
        shown = json.dumps(soak.sandbox.standin.ephemerals(user=user), default=str)
        leaked = [
            plan.service
            for plan in soak.plans
            if plan.private
            and user not in plan.deciders
            and any(mark and mark in shown for mark in (plan.service, plan.approval_id))
        ]
        if any(channel in shown for channel in soak.private):
            leaked.append("a private channel's id")
        if leaked:
            seen[user] = leaked
    return seen
