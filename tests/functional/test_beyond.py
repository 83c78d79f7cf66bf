"""N-of-M approvals, the approve form (inputs, comment, high-risk code + 2FA), reminders and
escalation, and the audit trail — through signed requests against moto and the stand-in."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from types import ModuleType

import pytest

from bot import audit
from bot.ids import Action, Input, Modal
from bot.local.events import LocalContext, body_event
from bot.local.infra import ExampleStack
from bot.local.sandbox import scheduled_event
from bot.local.slack_standin import SlackStandIn
from bot.models import Status, approval_id_for
from bot.store import ApprovalStore
from tests.functional.conftest import (
    ANA,
    BO,
    CHANNEL,
    CY,
    EVE,
    ONCALL,
    TABLE,
    Aws,
    Interactions,
    Posted,
    invoke_notifier,
    receive,
    request_approval,
    wait_for_status,
)

DAN = "U0DAN"
BIG_ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:big"


def stored(aws: Aws, approval_id: str):
    return ApprovalStore(aws.dynamodb, TABLE).get(approval_id)


def task_output(aws: Aws, execution_arn: str) -> dict:
    history = aws.sfn.get_execution_history(executionArn=execution_arn)["events"]
    return next(
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in history
        if e["type"] == "TaskSucceeded"
        and e["taskSucceededEventDetails"]["resource"] == "sendMessage.waitForTaskToken"
    )


def decision_of(aws: Aws, execution_arn: str) -> dict:
    """``approval.decision`` of the approval task's output."""
    return dict(task_output(aws, execution_arn)["approval"]["decision"])


def ephemerals(slack: SlackStandIn, user: str) -> list[str]:
    return [e["text"] for e in slack.ephemerals(user=user)]


def blocks_text(slack: SlackStandIn, posted: Posted) -> str:
    return json.dumps(slack.message(CHANNEL, posted.ts)["blocks"], ensure_ascii=False)


@pytest.fixture
def team(slack: SlackStandIn) -> SlackStandIn:
    slack.add_user(DAN, "dan", real_name="Dan No2FA", email="dan@example.com", has_2fa=False)
    slack.add_channel("C0OTHER", "other", members=[ANA, BO, CY, EVE, DAN])
    return slack


def approve_via_form(
    interactions: Interactions, user: str, posted: Posted, values: dict[str, str | dict]
) -> dict | None:
    """Click Approve… (or Approve with note…), fill the modal, submit; the ack body or None."""
    interactions.slack.click(user, CHANNEL, posted.ts, Action.APPROVE_FORM)
    views = interactions.slack.open_views(Modal.APPROVE, user_id=user)
    assert views, ephemerals(interactions.slack.standin, user)
    form = {}
    for name, text in values.items():
        block = name if name in (Input.COMMENT_BLOCK, Input.CODE_BLOCK) else f"input:{name}"
        form[block] = {Input.VALUE: text}
    response = interactions.slack.submit(user, views[-1], form)
    interactions.wait()
    assert response.status == 200
    return response.json()


# --- N-of-M --------------------------------------------------------------------------------------


def test_two_of_three_counts_each_person_once_and_lists_every_approver(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    posted = request_approval(
        aws, stack, notifier, team, "two-of-three", approvers=[ANA, CY, EVE], required_approvals=2
    )
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert "1 of 2 so far" in ephemerals(team, ANA)[-1]
    assert "*1 of 2 approvals*: <@U0ANA>" in blocks_text(team, posted)
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)  # the same person again
    interactions.wait()
    assert "each person counts once" in ephemerals(team, ANA)[-1]
    assert aws.sfn.describe_execution(executionArn=posted.execution_arn)["status"] == "RUNNING"

    interactions.slack.click(CY, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    output = decision_of(aws, posted.execution_arn)
    assert [a["id"] for a in output["approvers"]] == [ANA, CY]
    assert output["approver"]["id"] == CY
    assert "*Approved* by <@U0ANA>, <@U0CY>" in blocks_text(team, posted)


def test_concurrent_votes_never_pass_n_nor_count_twice(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    posted = request_approval(
        aws, stack, notifier, team, "race", approvers=[ANA, CY, EVE, DAN], required_approvals=2
    )
    barrier = threading.Barrier(6)

    def click(user: str) -> None:
        barrier.wait()
        interactions.slack.click(user, CHANNEL, posted.ts, Action.APPROVE)

    threads = [threading.Thread(target=click, args=(u,)) for u in (ANA, ANA, CY, CY, EVE, DAN)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    approval = stored(aws, posted.approval_id)
    approvers = [v.actor.id for v in approval.votes_for("approved")]
    assert len(approvers) == 2
    assert len(set(approvers)) == 2
    assert [a["id"] for a in decision_of(aws, posted.execution_arn)["approvers"]] == approvers


def test_one_reject_fails_it_at_once_with_policy_any(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    posted = request_approval(
        aws, stack, notifier, team, "any-reject", approvers=[ANA, CY], required_approvals=2
    )
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    interactions.slack.click(CY, CHANNEL, posted.ts, Action.REJECT)
    (modal,) = interactions.slack.open_views(Modal.REJECT, user_id=CY)
    interactions.slack.submit(CY, modal, {Input.REASON_BLOCK: {Input.REASON_INPUT: "no"}})
    interactions.wait()
    described = wait_for_status(aws, posted.execution_arn)
    assert (described["status"], described["error"]) == ("FAILED", "Rejected")


def test_majority_policy_needs_n_rejections(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    posted = request_approval(
        aws,
        stack,
        notifier,
        team,
        "majority",
        approvers=[ANA, CY, EVE],
        required_approvals=2,
        reject_policy="majority",
    )
    for user in (ANA, CY):
        interactions.slack.click(user, CHANNEL, posted.ts, Action.REJECT)
        (modal,) = interactions.slack.open_views(Modal.REJECT, user_id=user)
        interactions.slack.submit(user, modal, {Input.REASON_BLOCK: {Input.REASON_INPUT: user}})
        interactions.wait()
        if user == ANA:
            assert "*1 of 2 rejections*: <@U0ANA>" in blocks_text(team, posted)
            running = aws.sfn.describe_execution(executionArn=posted.execution_arn)
            assert running["status"] == "RUNNING"
    assert wait_for_status(aws, posted.execution_arn)["error"] == "Rejected"
    assert stored(aws, posted.approval_id).status is Status.REJECTED


# --- the approve form ----------------------------------------------------------------------------

INPUTS = [
    {"name": "ticket", "label": "Change ticket", "required": True},
    {"name": "rollout", "label": "Rollout %", "type": "number", "min": 1, "max": 100},
    {"name": "window", "label": "Window", "type": "select", "options": ["now", "tonight"]},
]


def test_inputs_are_validated_and_passed_to_the_workflow(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    posted = request_approval(aws, stack, notifier, team, "inputs", inputs=INPUTS)
    buttons = team.message(CHANNEL, posted.ts)["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Approve…", "Reject"]
    # The plain Approve action (a forged click) is refused: the form is required.
    interactions.slack.raw_click(ANA, CHANNEL, Action.APPROVE, posted.approval_id)
    interactions.wait()
    assert "needs the approve form" in ephemerals(team, ANA)[-1]

    errors = approve_via_form(interactions, ANA, posted, {"rollout": "250", "window": "never"})
    assert errors == {
        "response_action": "errors",
        "errors": {
            "input:ticket": "Required.",
            "input:rollout": "At most 100.",
            "input:window": "Pick one of the options.",
        },
    }
    assert stored(aws, posted.approval_id).status is Status.PENDING

    ok = approve_via_form(  # in the shapes Slack sends for number and select elements
        interactions,
        ANA,
        posted,
        {
            "ticket": "CHG-42",
            "rollout": {"type": "number_input", "value": "25"},
            "window": {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "tonight"},
                    "value": "tonight",
                },
            },
            Input.COMMENT_BLOCK: "go",
        },
    )
    assert ok is None
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    approval = decision_of(aws, posted.execution_arn)
    assert approval["inputs"] == {"ticket": "CHG-42", "rollout": 25, "window": "tonight"}
    assert approval["comment"] == "go"
    assert "*Change ticket:* CHG-42" not in blocks_text(team, posted)  # labels: names shown
    assert "*ticket:* CHG-42" in blocks_text(team, posted)


def test_approve_with_note_on_a_plain_request(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    posted = request_approval(aws, stack, notifier, team, "note")
    approve_via_form(interactions, ANA, posted, {Input.COMMENT_BLOCK: "checked the diff"})
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    assert decision_of(aws, posted.execution_arn)["comment"] == "checked the diff"
    assert "checked the diff" in blocks_text(team, posted)


def test_high_risk_needs_the_code_and_2fa(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    posted = request_approval(
        aws, stack, notifier, team, "risky", risk="high", approvers=[ANA, DAN]
    )
    code = posted.approval_id[:6].upper()
    interactions.slack.click(DAN, CHANNEL, posted.ts, Action.APPROVE_FORM)
    interactions.wait()
    assert "two-factor authentication" in ephemerals(team, DAN)[-1]
    assert interactions.slack.open_views(Modal.APPROVE, user_id=DAN) == []

    wrong = approve_via_form(interactions, ANA, posted, {Input.CODE_BLOCK: "ABC123"})
    assert wrong == {"response_action": "errors", "errors": {"code": f"Type {code} to confirm."}}
    right = approve_via_form(interactions, ANA, posted, {Input.CODE_BLOCK: code.lower()})
    assert right is None
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"


# --- reminders and escalation --------------------------------------------------------------------


def test_reminders_and_escalation_run_in_the_sweep_once_each(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
    expirations: ModuleType,
) -> None:
    posted = request_approval(
        aws,
        stack,
        notifier,
        team,
        "remind",
        approvers=[ANA],
        remind_every="PT1S",
        escalate_after="PT2S",
        escalate_to=[ONCALL],
    )

    def sweep() -> dict:
        return expirations.handler(scheduled_event(), LocalContext(function_name="expirations"))

    assert sweep()["reminded"] == 0  # not yet due
    time.sleep(1.1)
    assert sweep()["reminded"] == 1
    assert sweep()["reminded"] == 0  # a retried or concurrent sweep never reminds twice
    replies = [m for m in team.messages(CHANNEL) if m.get("thread_ts") == posted.ts]
    assert len(replies) == 1
    assert "Reminder" in replies[0]["text"]
    assert "<@U0ANA>" in replies[0]["text"]

    # Before escalation, cy (in @oncall) may not decide; after it, cy may.
    interactions.slack.click(CY, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert "Only <@U0ANA> can decide" in ephemerals(team, CY)[-1]
    time.sleep(1.0)
    report = sweep()
    assert report["escalated"] == 1
    assert sweep()["escalated"] == 0
    replies = [m["text"] for m in team.messages(CHANNEL) if m.get("thread_ts") == posted.ts]
    escalations = [r for r in replies if "Escalated to <!subteam^S0ONCALL>" in r]
    assert len(escalations) == 1
    assert "<!subteam^S0ONCALL>" in blocks_text(team, posted)  # now listed as an approver
    interactions.slack.click(CY, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    time.sleep(1.1)
    assert sweep()["reminded"] == 0  # decided: no more reminders


# --- audit trail ---------------------------------------------------------------------------------


def test_audit_trail_in_history_and_export(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
    capsys: pytest.CaptureFixture[str],
) -> None:
    posted = request_approval(aws, stack, notifier, team, "audited", requester=BO)
    interactions.slack.click(EVE, CHANNEL, posted.ts, Action.APPROVE)  # refused
    interactions.wait()  # lazy listeners run concurrently: keep the order of events known
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"

    response = interactions.slack.command(BO, CHANNEL, "history 5")
    blocks = response.json()["blocks"]
    text = json.dumps(blocks)
    assert blocks[0]["text"]["text"] == "Approval history"
    assert text.index("*approved* by <@U0ANA>") < text.index("*refused* by <@U0EVE>")
    assert "*posted*" in text

    out = io.StringIO()
    count = audit.export(out, table=TABLE, since=None, until=None, limit=None)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == 3
    assert [e["event"] for e in lines] == ["posted", "refused", "approved"]
    assert lines[1]["actor"] == {"id": EVE, "name": "eve"}
    assert all(e["approval_id"] == posted.approval_id for e in lines)
    assert posted.token not in out.getvalue()
    capsys.readouterr()  # drop what the handlers printed (their metrics)
    assert audit.main(["export", "--table", TABLE, "--since", "2000-01-01T00:00:00Z"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_history_shows_only_requests_of_channels_the_reader_is_in(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    team.add_channel("C0PRIVATE", "private", members=[ANA, BO])
    request_approval(aws, stack, notifier, team, "public-one")
    execution = aws.sfn.start_execution(
        stateMachineArn=stack.state_machine_arn,
        name="private-one",
        input=json.dumps({"service": "vault", "channel": "C0PRIVATE"}),
    )["executionArn"]
    (message,) = receive(aws, stack.queues.url, 1)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    assert execution

    def history(user: str) -> str:
        return json.dumps(interactions.slack.command(user, CHANNEL, "history").json()["blocks"])

    assert "Deploy vault" in history(ANA)
    assert "Deploy checkout" in history(ANA)
    assert "Deploy vault" not in history(EVE)
    assert "Deploy checkout" in history(EVE)


# --- the output contract ------------------------------------------------------------------------


def test_on_approve_the_workflow_gets_its_payload_untouched_plus_the_decision(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    """Nothing the author sent is lost (Korean text through SQS, DynamoDB and Step Functions):
    ``approval`` keeps title, text, fields and the inputs' definitions; ``id`` and ``decision``
    are added beside them."""
    inputs = [{"name": "ticket", "label": "변경 티켓", "type": "text", "required": True}]
    posted = request_approval(
        aws,
        stack,
        notifier,
        team,
        "korean",
        service="결제",
        version="2.4.1",
        environment="운영",
        approvers=[ANA],
        inputs=inputs,
    )
    history = aws.sfn.get_execution_history(executionArn=posted.execution_arn)["events"]
    sent = next(  # what the waiting task sent: the MessageBody's Payload
        json.loads(e["taskScheduledEventDetails"]["parameters"])["MessageBody"]["Payload"]
        for e in history
        if e["type"] == "TaskScheduled"
        and e["taskScheduledEventDetails"]["resource"] == "sendMessage.waitForTaskToken"
    )
    assert sent["approval"]["title"] == "Deploy 결제 2.4.1 to 운영?"
    ok = approve_via_form(
        interactions, ANA, posted, {"ticket": "변경-42", Input.COMMENT_BLOCK: "좋아요 ✅"}
    )
    assert ok is None
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"

    output = task_output(aws, posted.execution_arn)
    decision = output["approval"].pop("decision")
    assert output == {**sent, "approval": {**sent["approval"], "id": posted.approval_id}}
    assert decision["outcome"] == "approved"
    assert decision["approver"] == {"id": ANA, "name": "ana"}
    assert decision["comment"] == "좋아요 ✅"
    assert decision["inputs"] == {"ticket": "변경-42"}
    assert [a["id"] for a in decision["approvers"]] == [ANA]
    assert decision["decided_at"].endswith("Z")


def test_an_output_past_step_functions_limit_fails_the_task_as_invalid_output(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    """A payload near SQS's 256 KiB plus the decision (a long comment, twice) no longer fits
    SendTaskSuccess: the bot says so instead of losing the decision silently."""
    token = f"token-{uuid.uuid4()}"
    payload = {"blob": "x" * 258_000, "approval": {"approvers": [ANA]}}
    body = json.dumps({"TaskToken": token, "Execution": BIG_ARN, "Payload": payload})
    assert len(body.encode()) < 256 * 1024
    event = body_event([body], queue_arn=stack.queues.arn)
    assert notifier.handler(event, LocalContext()) == {"batchItemFailures": []}
    approval_id = approval_id_for(token)
    ts = stored(aws, approval_id).ts
    assert ts is not None
    posted = Posted(BIG_ARN, approval_id, ts, token)

    approve_via_form(interactions, ANA, posted, {Input.COMMENT_BLOCK: "y" * 3000})
    approval = stored(aws, approval_id)
    assert approval.status is Status.ERROR
    assert "more than Step Functions' 262144" in (approval.status_reason or "")
    assert "could not be completed" in ephemerals(team, ANA)[-1]
