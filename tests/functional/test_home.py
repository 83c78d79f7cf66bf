"""The App Home tab end to end: signed Events API ``app_home_opened`` requests through the real
interactions handler (pre-Bolt screen, Bolt, lazy listener), DynamoDB in moto, ``views.publish``
into the Slack stand-in; clicks from the Home tab; the manifest against what the app registers."""

from __future__ import annotations

import json
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest
import yaml

from bot.ids import Action, Event, Input, Modal
from bot.lambda_bolt import SUBSCRIBED_EVENTS
from bot.local.infra import ExampleStack
from bot.local.slack_requests import app_home_opened_body, sign, signed_json_headers
from bot.local.slack_standin import SlackStandIn
from bot.models import Status, approval_id_for
from bot.service.home import REFRESH_WINDOW_HOURS
from bot.slack_app import Listeners
from bot.store import ApprovalStore
from tests.functional.conftest import (
    ANA,
    BO,
    CHANNEL,
    CY,
    EVE,
    SIGNING_SECRET,
    TABLE,
    Aws,
    Interactions,
    Posted,
    invoke_notifier,
    receive,
    request_approval,
    start_execution,
    wait_for_status,
)
from tests.functional.test_deploy_config import MANIFEST_FILE


@pytest.fixture
def posted(aws: Aws, stack: ExampleStack, notifier: ModuleType, slack: SlackStandIn) -> Posted:
    return request_approval(aws, stack, notifier, slack, "home-1", service="checkout", requester=BO)


def home_text(slack: SlackStandIn, user_id: str) -> str:
    view = slack.home_view(user_id)
    assert view is not None, f"no Home view published for {user_id}"
    assert view["type"] == "home"
    return json.dumps(view["blocks"])


def section(slack: SlackStandIn, user_id: str, name: str) -> str:
    view = slack.home_view(user_id) or {"blocks": []}
    out, inside = [], False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"] == name
        elif inside:
            out.append(json.dumps(block))
    return "\n".join(out)


def publishes(slack: SlackStandIn, user_id: str | None = None) -> int:
    return len([c for c in slack.calls("views.publish") if user_id in (None, c.params["user_id"])])


def test_opening_home_publishes_what_waits_for_the_approver_with_working_buttons(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    response = interactions.slack.open_home(ANA)
    assert response.status == 200
    interactions.wait()
    waiting = section(slack, ANA, "Waiting for you")
    assert f'"value": "{posted.approval_id}"' in waiting

    # The requester sees it as theirs, without buttons; an outsider sees nothing of it.
    interactions.slack.open_home(BO)
    interactions.slack.open_home(EVE)
    interactions.wait()
    assert posted.approval_id[:6].upper() in section(slack, BO, "Your requests")
    assert posted.approval_id not in section(slack, BO, "Waiting for you")

    # A click on Home decides through the same flow as the channel message.
    assert interactions.slack.click_home(ANA, Action.APPROVE).status == 200
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    assert ApprovalStore(aws.dynamodb, TABLE).get(posted.approval_id).status is Status.APPROVED
    assert "*Approved* by <@U0ANA>" in json.dumps(slack.message(CHANNEL, posted.ts)["blocks"])
    # Both Homes that show it were republished: the approver's and the requester's.
    assert posted.approval_id not in section(slack, ANA, "Waiting for you")
    assert posted.approval_id[:6].upper() in section(slack, ANA, "Recently decided")
    assert "approved by <@U0ANA>" in section(slack, BO, "Your requests")


def test_a_stale_home_click_is_answered_on_the_home_tab_not_lost(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    interactions.slack.open_home(CY)  # CY is on call: a default approver
    interactions.wait()
    assert f'"value": "{posted.approval_id}"' in section(slack, CY, "Waiting for you")
    stale = slack.home_view(CY)
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)  # ANA is faster
    interactions.wait()
    assert posted.approval_id not in section(slack, CY, "Waiting for you")  # refreshed
    # CY clicks Approve on the Home view as it was before the refresh reached their screen.
    response = interactions.slack.click_home(CY, Action.APPROVE, view=stale)
    assert response.status == 200
    interactions.wait()
    notice = json.loads(home_text(slack, CY))[0]["text"]["text"]  # the answer, on top
    assert "<@U0ANA>" in notice
    assert "approved" in notice.lower()
    assert slack.ephemerals(user=CY) == []  # there is no channel to answer in


def test_reject_from_home_opens_the_modal_and_answers_on_home_not_in_the_channel(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    interactions.slack.open_home(ANA)
    interactions.wait()
    stale = slack.home_view(ANA)
    assert interactions.slack.click_home(ANA, Action.REJECT).status == 200
    (modal,) = interactions.slack.open_views(Modal.REJECT, user_id=ANA)
    reason = {Input.REASON_BLOCK: {Input.REASON_INPUT: "Not from home"}}
    assert interactions.slack.submit(ANA, modal, reason).status == 200
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "FAILED"
    assert posted.approval_id[:6].upper() in section(slack, ANA, "Recently decided")
    assert posted.approval_id not in section(slack, ANA, "Waiting for you")
    # Reject again from the Home view as it was: refused before a modal opens, on Home.
    assert interactions.slack.click_home(ANA, Action.REJECT, view=stale).status == 200
    interactions.wait()
    assert len(interactions.slack.open_views(Modal.REJECT, user_id=ANA)) == 0
    notice = json.loads(home_text(slack, ANA))[0]["text"]["text"]
    assert "rejected" in notice.lower()
    assert slack.ephemerals(user=ANA) == []  # no channel to answer in


def test_a_new_request_refreshes_the_home_of_a_recent_visitor(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
) -> None:
    interactions.slack.open_home(ANA)
    interactions.wait()
    assert "Nothing is waiting for you" in section(slack, ANA, "Waiting for you")
    posted = request_approval(aws, stack, notifier, slack, "home-2", requester=BO)
    assert f'"value": "{posted.approval_id}"' in section(slack, ANA, "Waiting for you")
    assert publishes(slack, EVE) == 0  # never opened it: never published


def test_a_batch_of_requests_republishes_each_visitors_home_once(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
) -> None:
    """Five requests for the same approvers in one SQS batch: each recent visitor's Home is
    republished once, at the end of the batch, showing all five (not once per request: a burst
    would spend Slack's views.publish limit on Homes about to change again)."""
    interactions.slack.open_home(ANA)
    interactions.wait()
    before = publishes(slack, ANA)
    for i in range(5):
        start_execution(aws, stack, f"home-batch-{i}", requester=BO)
    messages = receive(aws, stack.queues.url, 5)
    assert invoke_notifier(notifier, stack, messages) == {"batchItemFailures": []}
    assert publishes(slack, ANA) - before == 1
    waiting = section(slack, ANA, "Waiting for you")
    for message in messages:
        approval_id = approval_id_for(json.loads(message["Body"])["TaskToken"])
        assert f'"value": "{approval_id}"' in waiting


def test_a_retried_event_is_published_once_and_the_messages_tab_not_at_all(
    slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    assert interactions.slack.open_home(ANA, event_id="Ev0HOME1").status == 200
    interactions.wait()
    assert interactions.slack.open_home(ANA, event_id="Ev0HOME1", retry_num=1).status == 200
    interactions.wait()
    assert publishes(slack, ANA) == 1
    assert interactions.slack.open_home(ANA, tab="messages").status == 200
    interactions.wait()
    assert publishes(slack, ANA) == 1
    assert interactions.slack.open_home(ANA).status == 200  # opened again later: fresh
    interactions.wait()
    assert publishes(slack, ANA) == 2


def test_visits_are_kept_apart_from_approvals_listings_and_the_audit_trail(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    interactions.slack.open_home(ANA)
    interactions.wait()
    items = aws.dynamodb.scan(TableName=TABLE)["Items"]
    (visit,) = [i for i in items if i["pk"]["S"] == "HOME"]
    assert set(visit) == {"pk", "sk", "opened_at", "event_id", "expires_ttl"}  # no index keys
    assert int(visit["expires_ttl"]["N"]) > 0
    page = ApprovalStore(aws.dynamodb, TABLE).list_open(Status.PENDING, limit=10)
    assert [a.approval_id for a in page.approvals] == [posted.approval_id]
    trail = list(ApprovalStore(aws.dynamodb, TABLE).audit())
    assert [e.event for e in trail] == ["posted"]
    opened = datetime.fromisoformat(visit["opened_at"]["S"])
    assert int(visit["expires_ttl"]["N"]) > opened.timestamp() + REFRESH_WINDOW_HOURS * 3600


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ({"type": "message", "user": ANA, "channel": CHANNEL, "text": "hi"}, 400),
        ({"type": "app_home_opened", "channel": "D0X", "tab": "home"}, 400),  # no user
        ({"type": "app_home_opened", "user": ANA, "channel": "D0X", "tab": "home"}, 200),
    ],
    ids=["another event", "no user", "app_home_opened"],
)
def test_the_screen_lets_only_signed_app_home_opened_events_through(
    slack: SlackStandIn, interactions: Interactions, event: dict[str, Any], status: int
) -> None:
    body = json.dumps({"type": "event_callback", "team_id": slack.team_id, "event": event})
    assert (
        interactions.slack._send(body, signed_json_headers(SIGNING_SECRET, body)).status == status
    )
    interactions.wait()


def test_an_unsigned_or_badly_signed_event_is_refused_before_bolt(
    slack: SlackStandIn, interactions: Interactions
) -> None:
    body = app_home_opened_body(user_id=ANA, team_id=slack.team_id, channel_id="D0X")
    headers = {"content-type": "application/json", **sign("not-the-secret", body)}
    assert interactions.slack._send(body, headers).status == 401
    assert interactions.slack._send(body, {"content-type": "application/json"}).status == 401
    interactions.wait()
    assert slack.home_view(ANA) is None


# --- the manifest ---------------------------------------------------------------------------


class _Recorder:
    """Stands in for the Bolt app: records what ``Listeners.register`` subscribes to."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def event(self, name: str) -> Any:
        self.events.append(name)
        return lambda *a, **k: None

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: lambda *a2, **k2: None


def test_the_manifest_subscribes_to_exactly_the_events_the_app_listens_to() -> None:
    manifest = yaml.safe_load(MANIFEST_FILE.read_text())
    app = _Recorder()
    Listeners(service=None).register(app)  # type: ignore[arg-type]
    bot_events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert sorted(bot_events) == sorted(app.events) == sorted(SUBSCRIBED_EVENTS)
    assert sorted(app.events) == sorted(e.value for e in Event)
    # One Request URL for everything; the Home tab on.
    interactivity = manifest["settings"]["interactivity"]["request_url"]
    assert manifest["settings"]["event_subscriptions"]["request_url"] == interactivity
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "user_events" not in manifest["settings"]["event_subscriptions"]
