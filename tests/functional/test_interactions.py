"""The decision path end to end through the interactions Lambda: signed API Gateway v2 events
into the real Bolt app, moto running the seed's state machine, and the Slack stand-in."""

from __future__ import annotations

import json
import threading
import time
from types import ModuleType

import pytest
from botocore.exceptions import EndpointConnectionError

from bot.ids import Action, Input, Modal
from bot.local.events import LocalContext
from bot.local.infra import ExampleStack
from bot.local.slack_requests import (
    api_gateway_v2_event,
    block_actions_body,
    sign,
    signed_form_headers,
)
from bot.local.slack_standin import SlackStandIn
from bot.models import Status
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
    LogCapture,
    Posted,
    request_approval,
    wait_for_status,
)


@pytest.fixture
def posted(aws: Aws, stack: ExampleStack, notifier: ModuleType, slack: SlackStandIn) -> Posted:
    return request_approval(
        aws, stack, notifier, slack, "deploy-1", service="checkout", version="2.4.1", requester=BO
    )


def stored(aws: Aws, approval_id: str):
    return ApprovalStore(aws.dynamodb, TABLE).get(approval_id)


def ephemeral_texts(slack: SlackStandIn, user: str) -> list[str]:
    return [e["text"] for e in slack.ephemerals(user=user)]


def count_task_calls(interactions: Interactions) -> dict[str, int]:
    """Count SendTask* calls the handler's own boto3 client makes (a botocore event hook)."""
    counts = {"SendTaskSuccess": 0, "SendTaskFailure": 0}
    client = interactions.module.service._workflow._sfn

    def count(model, **_):
        if model.name in counts:
            counts[model.name] += 1

    client.meta.events.register("before-call.sfn.*", count)
    return counts


def test_approve_continues_the_execution_and_updates_the_message(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions, logs: LogCapture
) -> None:
    response = interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    assert response.status == 200
    interactions.wait()

    described = wait_for_status(aws, posted.execution_arn)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])  # what lambda-for-processing made of it
    assert output["decision"] == "approved"
    assert output["approved_by"] == "ana"
    history = aws.sfn.get_execution_history(executionArn=posted.execution_arn)["events"]
    task_output = next(
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in history
        if e["type"] == "TaskSucceeded"
        and e["taskSucceededEventDetails"]["resource"] == "sendMessage.waitForTaskToken"
    )
    assert task_output["service"] == "checkout"  # the original payload …
    assert task_output["approval"]["title"].startswith("Deploy checkout")  # … as it was sent …
    assert task_output["approval"]["decision"]["outcome"] == "approved"  # … plus the decision
    assert task_output["approval"]["decision"]["approver"] == {"id": ANA, "name": "ana"}
    assert task_output["approval"]["id"] == posted.approval_id

    message = slack.message(CHANNEL, posted.ts)
    assert all(b["type"] != "actions" for b in message["blocks"])
    assert "*Approved* by <@U0ANA>" in json.dumps(message["blocks"])
    assert stored(aws, posted.approval_id).status is Status.APPROVED
    assert ephemeral_texts(slack, ANA) == []

    calls = json.dumps([c.params for c in slack.calls()])
    assert posted.token not in calls
    assert posted.token not in logs.text


def test_reject_opens_a_modal_and_fails_the_execution_with_the_reason(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    assert interactions.slack.click(ANA, CHANNEL, posted.ts, Action.REJECT).status == 200
    (modal,) = interactions.slack.open_views(Modal.REJECT)
    assert modal["blocks"][-1]["element"]["action_id"] == Input.REASON_INPUT

    empty = interactions.slack.submit(ANA, modal, {Input.REASON_BLOCK: {Input.REASON_INPUT: "  "}})
    assert empty.status == 200
    assert empty.json() == {
        "response_action": "errors",
        "errors": {Input.REASON_BLOCK: "Please give a reason."},
    }
    assert stored(aws, posted.approval_id).status is Status.PENDING

    reason = {Input.REASON_BLOCK: {Input.REASON_INPUT: "Not on a Friday afternoon"}}
    assert interactions.slack.submit(ANA, modal, reason).status == 200
    interactions.wait()
    described = wait_for_status(aws, posted.execution_arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "Rejected"
    approval = stored(aws, posted.approval_id)
    assert approval.status is Status.REJECTED
    assert approval.decision.comment == "Not on a Friday afternoon"
    text = json.dumps(slack.message(CHANNEL, posted.ts)["blocks"])
    assert "*Rejected* by <@U0ANA>" in text
    assert "Not on a Friday afternoon" in text


def test_double_click_and_concurrent_approvers_complete_the_task_once(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    counts = count_task_calls(interactions)
    barrier = threading.Barrier(4)
    responses = []

    def click(user: str) -> None:
        barrier.wait()
        responses.append(interactions.slack.click(user, CHANNEL, posted.ts, Action.APPROVE))

    threads = [threading.Thread(target=click, args=(u,)) for u in (ANA, ANA, CY, CY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    interactions.wait()
    assert [r.status for r in responses] == [200] * 4
    assert counts == {"SendTaskSuccess": 1, "SendTaskFailure": 0}
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    winner = stored(aws, posted.approval_id).decision.actor.id
    loser = CY if winner == ANA else ANA
    told = " ".join(ephemeral_texts(slack, loser))
    assert f"<@{winner}> already approved it" in told or f"<@{winner}> is approving" in told


@pytest.mark.parametrize(
    ("user", "execution_input", "refusal"),
    [
        (EVE, {}, "Only <@U0ANA>, <!subteam^S0ONCALL> can decide this request."),
        (
            BO,
            {"approvers": [BO, ANA]},
            "You requested this approval, so someone else has to decide it.",
        ),
    ],
)
def test_unauthorized_and_self_approval_are_refused_privately(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
    logs: LogCapture,
    user: str,
    execution_input: dict,
    refusal: str,
) -> None:
    posted = request_approval(
        aws, stack, notifier, slack, "refuse-1", requester=BO, **execution_input
    )
    counts = count_task_calls(interactions)
    interactions.slack.click(user, CHANNEL, posted.ts, Action.APPROVE)
    interactions.slack.click(user, CHANNEL, posted.ts, Action.REJECT)
    interactions.wait()
    assert ephemeral_texts(slack, user) == [refusal, refusal]
    assert interactions.slack.open_views() == []
    assert counts == {"SendTaskSuccess": 0, "SendTaskFailure": 0}
    assert stored(aws, posted.approval_id).status is Status.PENDING
    assert aws.sfn.describe_execution(executionArn=posted.execution_arn)["status"] == "RUNNING"
    assert user in logs.text  # who tried is logged
    assert "decision refused" in logs.text


def test_user_group_member_may_approve(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    interactions.slack.click(CY, CHANNEL, posted.ts, Action.APPROVE)  # CY is in S0ONCALL
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    assert stored(aws, posted.approval_id).decision.actor.id == CY


@pytest.mark.parametrize(
    "tamper",
    ["bad-secret", "stale-timestamp", "missing-signature", "future-timestamp"],
)
def test_bad_or_stale_signatures_are_refused_with_401_and_change_nothing(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions, tamper: str
) -> None:
    driver = interactions.slack
    if tamper == "bad-secret":
        response = driver.click(ANA, CHANNEL, posted.ts, Action.APPROVE, secret="not-the-secret")
    elif tamper == "stale-timestamp":
        stale = int(time.time()) - 6 * 60
        response = driver.click(ANA, CHANNEL, posted.ts, Action.APPROVE, timestamp=stale)
    elif tamper == "future-timestamp":
        future = int(time.time()) + 6 * 60
        response = driver.click(ANA, CHANNEL, posted.ts, Action.APPROVE, timestamp=future)
    else:
        original = driver._send
        driver._send = lambda body, headers: original(
            body, {"content-type": headers["content-type"]}
        )
        response = driver.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
        driver._send = original
    interactions.wait()
    assert response.status == 401
    assert interactions.lazy.invocations == 0
    assert stored(aws, posted.approval_id).status is Status.PENDING
    assert aws.sfn.describe_execution(executionArn=posted.execution_arn)["status"] == "RUNNING"


def test_unknown_and_forged_approval_ids_are_answered_privately(
    slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    for action, value in (
        (Action.APPROVE, "a" * 26),
        (Action.REJECT, "b" * 26),
        (Action.APPROVE, "<script>"),
    ):
        interactions.slack.raw_click(ANA, CHANNEL, action, value)
        interactions.wait()  # lazy listeners answer concurrently: keep the order known
    texts = ephemeral_texts(slack, ANA)
    assert texts[:2] == ["This approval request no longer exists."] * 2
    assert "not valid" in texts[2]
    unknown_action = interactions.slack.raw_click(ANA, CHANNEL, "something.else", "x")
    assert unknown_action.status == 404


@pytest.mark.parametrize("approval_timeout", [2])
def test_click_after_the_execution_timed_out_shows_expired(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    described = wait_for_status(aws, posted.execution_arn, timeout=15)
    assert described["status"] == "FAILED"
    assert described["error"] == "ApprovalExpired"  # the ASL's Catch on States.Timeout
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    approval = stored(aws, posted.approval_id)
    assert approval.status is Status.EXPIRED
    assert approval.status_reason == "the execution is failed"
    assert "This request has expired" in ephemeral_texts(slack, ANA)[0]
    blocks = slack.message(CHANNEL, posted.ts)["blocks"]
    assert "*Expired*" in json.dumps(blocks)
    assert all(b["type"] != "actions" for b in blocks)


def test_transient_step_functions_failure_after_the_claim_leaves_it_decidable(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    client = interactions.module.service._workflow._sfn
    failures = {"left": 1}

    def network_down(model, **_):
        if model.name == "SendTaskSuccess" and failures["left"]:
            failures["left"] -= 1
            raise EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com")

    client.meta.events.register("before-call.sfn.SendTaskSuccess", network_down)
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert "nothing was decided" in ephemeral_texts(slack, ANA)[0]
    assert stored(aws, posted.approval_id).status is Status.PENDING
    blocks = slack.message(CHANNEL, posted.ts)["blocks"]
    assert any(b["type"] == "actions" for b in blocks)  # the buttons work again

    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    assert stored(aws, posted.approval_id).status is Status.APPROVED


def test_status_change_event_expires_the_approval_and_updates_the_message(
    aws: Aws, slack: SlackStandIn, posted: Posted, expirations: ModuleType
) -> None:
    aws.sfn.stop_execution(executionArn=posted.execution_arn, error="Cancelled")
    event = {
        "version": "0",
        "id": "6f1e1b6e-0000-0000-0000-000000000000",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "us-east-1",
        "resources": [posted.execution_arn],
        "detail": {
            "executionArn": posted.execution_arn,
            "stateMachineArn": posted.execution_arn.replace(":execution:", ":stateMachine:").rsplit(
                ":", 1
            )[0],
            "name": "deploy-1",
            "status": "ABORTED",
            "startDate": 1764072000000,
            "stopDate": 1764072060000,
            "input": "{}",
            "output": None,
        },
    }
    assert expirations.handler(event, LocalContext(function_name="expirations")) == {"expired": 1}
    approval = stored(aws, posted.approval_id)
    assert approval.status is Status.EXPIRED
    assert approval.status_reason == "the execution aborted"
    blocks = slack.message(CHANNEL, posted.ts)["blocks"]
    assert "*Expired*" in json.dumps(blocks)
    assert all(b["type"] != "actions" for b in blocks)
    # A repeated event changes nothing.
    assert expirations.handler(event, LocalContext(function_name="expirations")) == {"expired": 0}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ("not json", {"content-type": "application/json"}, 401),
        ("payload=x", {"x-slack-request-timestamp": "now", "x-slack-signature": "v0=x"}, 401),
        ("payload=x", {"x-slack-signature": "v0=é"}, 401),
    ],
)
def test_requests_not_signed_by_slack_get_401_before_any_parsing(
    posted: Posted, interactions: Interactions, body: str, headers: dict, status: int
) -> None:
    event = api_gateway_v2_event(body, headers)
    response = interactions.module.handler(event, LocalContext(function_name="interactions"))
    assert response["statusCode"] == status


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=x", "application/x-www-form-urlencoded"),
        ("payload=%5B%5D", "application/x-www-form-urlencoded"),
        ('{"type": "event_callback", "event": null}', "application/json"),
        ("hello=world", "application/x-www-form-urlencoded"),
    ],
)
def test_signed_bodies_not_shaped_like_slack_get_400(
    aws: Aws, posted: Posted, interactions: Interactions, body: str, content_type: str
) -> None:
    response = interactions.slack._send(
        body, {"content-type": content_type, **sign(SIGNING_SECRET, body)}
    )
    assert response.status == 400
    assert stored(aws, posted.approval_id).status is Status.PENDING


def test_a_click_without_a_user_is_a_400_and_changes_nothing(
    aws: Aws, posted: Posted, interactions: Interactions
) -> None:
    body = block_actions_body(
        user_id=ANA,
        user_name="ana",
        team_id="T0STANDIN",
        channel_id=CHANNEL,
        message_ts=posted.ts,
        action_id=Action.REJECT,
        value=posted.approval_id,
        block_id="b",
    ).replace("%22user%22%3A%7B%22id%22%3A%22U0ANA%22", "%22user%22%3A%7B%22x%22%3A%22U0ANA%22")
    response = interactions.slack._send(body, signed_form_headers(SIGNING_SECRET, body))
    assert response.status == 400
    assert stored(aws, posted.approval_id).status is Status.PENDING


def test_a_user_slack_does_not_know_is_refused_privately(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions
) -> None:
    interactions.slack.raw_click("U0GHOST", CHANNEL, Action.APPROVE, posted.approval_id)
    interactions.wait()
    assert ephemeral_texts(slack, "U0GHOST") == ["Slack does not know your account here."]
    assert stored(aws, posted.approval_id).status is Status.PENDING


LAZY_HEADERS = {"x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": "reject"}


@pytest.mark.parametrize("spelling", ["lower", "Title-Case"])
def test_bolts_internal_lazy_headers_from_outside_are_refused(
    aws: Aws, slack: SlackStandIn, posted: Posted, interactions: Interactions, spelling: str
) -> None:
    """A signed request carrying Bolt's lazy-listener headers would run the lazy listener
    directly, skipping the ack-time checks (here: the reason's length). Only the function's own
    re-invocation may carry them; over HTTP they are refused before Bolt sees the request."""
    driver = interactions.slack
    assert driver.click(ANA, CHANNEL, posted.ts, Action.REJECT).status == 200
    (modal,) = driver.open_views(Modal.REJECT)
    headers = {(k if spelling == "lower" else k.title()): v for k, v in LAZY_HEADERS.items()}
    original = driver._send
    driver._send = lambda body, signed: original(body, {**signed, **headers})
    try:
        huge = {Input.REASON_BLOCK: {Input.REASON_INPUT: "x" * 20_000}}
        response = driver.submit(ANA, modal, huge)
    finally:
        driver._send = original
    interactions.wait()
    assert response.status == 400
    assert "internal" in response.body
    assert interactions.lazy.invocations == 0
    assert stored(aws, posted.approval_id).status is Status.PENDING
    assert aws.sfn.describe_execution(executionArn=posted.execution_arn)["status"] == "RUNNING"
    # The same submission without the headers is checked at ack time as always.
    huge_again = driver.submit(ANA, modal, {Input.REASON_BLOCK: {Input.REASON_INPUT: "y" * 3001}})
    assert huge_again.json()["response_action"] == "errors"
