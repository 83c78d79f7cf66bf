"""The App Home use case (bot.service.home) with in-memory fakes: what each person sees,
under the visibility rules of /approvals, and whose Home is republished on a change."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from bot.models import TaskToken, parse_envelope
from bot.service import ApprovalService, Policy
from bot.service.home import REFRESH_MAX, REFRESH_WINDOW_HOURS
from tests.fakes import FakeClock, FakeHomeVisits, FakeSlack, FakeStore, FakeWorkflow
from tests.unit.test_service_decision import ANA, ARN, BO, CY, EVE, user

PRIVATE = "C0PRIVATE"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store, self.workflow, self.slack = FakeStore(), FakeWorkflow(), FakeSlack()
        self.visits = FakeHomeVisits()
        self.slack.users = {u: user(u, n) for u, n in ((ANA, "ana"), (BO, "bo"), (CY, "cy"))}
        self.slack.users[EVE] = user(EVE, "eve")
        self.slack.emails = {f"{u.name}@example.com": uid for uid, u in self.slack.users.items()}
        self.slack.groups = {"S0ONCALL": frozenset({CY})}
        self.slack.members = {"C0DEFAULT": frozenset({ANA, BO, CY}), PRIVATE: frozenset({ANA})}
        self.service = ApprovalService(
            store=self.store,
            workflow=self.workflow,
            slack=self.slack,
            policy=Policy(default_channel="C0DEFAULT"),
            clock=self.clock,
            home=self.visits,
        )

    def submit(self, token: str, **approval: Any) -> str:
        payload = {"task": token, "approval": {"title": f"Request {token}", **approval}}
        body = {"TaskToken": token, "Execution": ARN, "Payload": payload}
        self.service.submit(parse_envelope(json.dumps(body)))
        return TaskToken(token).approval_id()

    def home(self, user_id: str) -> str:
        """The text of the user's Home view as just published."""
        self.service.publish_home(user_id)
        return json.dumps(self.slack.homes[user_id])

    def open(self, *users: str) -> None:
        for user_id in users:
            assert self.service.home_opened(user_id, f"Ev-{user_id}-{self.clock().timestamp()}")


@pytest.fixture
def world() -> World:
    return World()


def section(view_text: str, name: str) -> str:
    """The part of the Home view between the header ``name`` and the next header."""
    view = json.loads(view_text)
    out, inside = [], False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"] == name
            continue
        if inside:
            out.append(json.dumps(block))
    return "\n".join(out)


def test_waiting_lists_what_the_user_may_decide_with_its_buttons(world: World) -> None:
    approval_id = world.submit("t1", approvers=[ANA], requester=BO)
    ana = world.home(ANA)
    assert "Request t1" in section(ana, "Waiting for you")
    assert f'"value": "{approval_id}"' in section(ana, "Waiting for you")
    bo = world.home(BO)  # the requester: under "Your requests", with no buttons
    assert "Request t1" not in section(bo, "Waiting for you")
    assert "Request t1" in section(bo, "Your requests")
    assert approval_id not in section(bo, "Your requests").replace(approval_id[:6].upper(), "")
    assert "Request t1" not in world.home(EVE)  # neither member nor approver


def test_a_private_request_is_shown_to_no_non_member(world: World) -> None:
    world.submit("t1", channel=PRIVATE, requester=BO, approvers=[ANA])
    assert "Request t1" not in world.home(BO)  # asked for it, but is not in the channel
    assert "Request t1" not in world.home(EVE)
    assert "Request t1" in section(world.home(ANA), "Waiting for you")


def test_decisions_show_under_recently_decided_and_the_requesters_list(world: World) -> None:
    world.submit("t1", approvers=[ANA], requester=BO)
    approval_id = TaskToken("t1").approval_id()
    world.service.decide(approval_id, ANA, "approved")
    ana = world.home(ANA)
    assert "Request t1" in section(ana, "Recently decided")
    assert "Request t1" not in section(ana, "Waiting for you")
    bo = world.home(BO)
    assert "approved by <@U0ANA>" in section(bo, "Your requests")
    assert "Request t1" not in section(bo, "Recently decided")  # BO decided nothing
    assert "Request t1" not in world.home(EVE)


def test_a_new_request_republishes_the_home_of_recent_visitors_who_may_decide_it(
    world: World,
) -> None:
    world.open(ANA, CY, EVE)
    world.slack.published.clear()
    world.submit("t1", approvers=[ANA, "S0ONCALL"], requester=BO)
    assert sorted(world.slack.published) == [ANA, CY]  # EVE cannot decide it; BO never opened
    assert "Request t1" in section(json.dumps(world.slack.homes[CY]), "Waiting for you")


def test_a_decision_republishes_the_requester_and_the_approvers_who_opened_home(
    world: World,
) -> None:
    approval_id = world.submit("t1", approvers=[ANA], requester=BO)
    world.open(ANA, BO)
    world.slack.published.clear()
    world.service.decide(approval_id, ANA, "rejected", "not today")
    assert sorted(world.slack.published) == [ANA, BO]
    assert "rejected by <@U0ANA>" in section(json.dumps(world.slack.homes[BO]), "Your requests")


def test_changes_within_a_deferred_block_republish_each_home_once_at_its_end(
    world: World,
) -> None:
    """A notifier batch (or an Approve all click) changes many requests: each visitor
    concerned is published once, after the last change, so their Home shows all of them."""
    world.open(ANA, CY)
    world.slack.published.clear()
    with world.service.home_refresh_deferred():
        for token in ("t1", "t2", "t3"):
            world.submit(token, approvers=[ANA, "S0ONCALL"], requester=BO)
        assert world.slack.published == []  # nothing until the block ends
    assert sorted(world.slack.published) == [ANA, CY]
    waiting = section(json.dumps(world.slack.homes[ANA]), "Waiting for you")
    assert all(f"Request {t}" in waiting for t in ("t1", "t2", "t3"))


def test_only_visits_within_the_window_are_refreshed(world: World) -> None:
    world.open(ANA)
    world.clock.advance(timedelta(hours=REFRESH_WINDOW_HOURS, seconds=1).total_seconds())
    world.slack.published.clear()
    world.submit("t1", approvers=[ANA])
    assert world.slack.published == []


def test_refreshes_per_change_are_bounded(world: World) -> None:
    visitors = [f"U0V{i:03d}" for i in range(REFRESH_MAX + 5)]
    world.slack.members["C0DEFAULT"] = frozenset({*visitors, ANA, BO})
    for v in visitors:
        world.slack.users[v] = user(v, v.lower())
    world.open(*visitors)
    world.slack.published.clear()
    world.submit("t1")  # no approvers: any channel member may decide
    assert len(world.slack.published) == REFRESH_MAX


def test_a_retried_event_is_not_published_twice(world: World) -> None:
    assert world.service.home_opened(ANA, "Ev1") is True
    assert world.service.home_opened(ANA, "Ev1") is False  # Slack's retry of the same event
    assert world.service.home_opened(ANA, "Ev2") is True  # the next time the tab is opened


def test_a_failing_views_publish_never_undoes_the_change(world: World) -> None:
    approval_id = world.submit("t1", approvers=[ANA], requester=BO)
    world.open(ANA, BO)
    world.slack.unavailable.add("views.publish")
    result = world.service.decide(approval_id, ANA, "approved")
    assert result.approval is not None
    assert result.approval.status.value == "APPROVED"
    assert world.workflow.calls  # the task was completed


def test_slack_not_answering_is_shown_not_an_empty_list(world: World) -> None:
    world.submit("t1")  # any channel member may decide it
    world.slack.unavailable.add("users.conversations")
    ana = world.home(ANA)
    assert "Slack did not answer" in section(ana, "Waiting for you")
    assert "Request t1" not in ana  # fail closed


def test_a_finished_private_request_is_not_shown_to_its_requester_outside_the_channel(
    world: World,
) -> None:
    approval_id = world.submit("t1", channel=PRIVATE, requester=BO, approvers=[ANA])
    world.service.decide(approval_id, ANA, "approved")
    assert "Request t1" in section(world.home(ANA), "Recently decided")
    assert "Request t1" not in world.home(BO)  # the audit trail's rule: channel members only
