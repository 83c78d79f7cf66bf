"""The mrkdwn rule end to end: what a workflow author writes reaches Slack formatted, but
never as a broadcast and never as a link that hides where it goes (README, message contract).
Through the seed's state machine on moto, the notifier and interactions handlers, and the
Slack stand-in's record of every call."""

from __future__ import annotations

import json
from types import ModuleType

from bot.ids import Action
from bot.local.infra import ExampleStack
from bot.local.slack_standin import SlackStandIn
from tests.functional.conftest import (
    ANA,
    CHANNEL,
    Aws,
    Interactions,
    invoke_notifier,
    receive,
    request_approval,
    start_execution,
    wait_for_status,
)

BROADCASTS = ("<!channel>", "<!here>", "<!everyone>", "<!subteam^")


def _texts(slack: SlackStandIn, method: str) -> list[str]:
    return [str(call.params.get("text", "")) for call in slack.calls(method)]


def _blocks(call_params: dict) -> str:
    blocks = call_params["blocks"]
    return blocks if isinstance(blocks, str) else json.dumps(blocks)


def _parsed(call_params: dict) -> list[str]:
    """What Slack parses as mrkdwn in a call: ``text`` and every mrkdwn text object (a
    plain_text header shows ``<!channel>`` as typed, without parsing it)."""
    found = [str(call_params.get("text", ""))]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(str(node.get("text")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(_blocks(call_params)))
    return found


def test_execution_input_in_the_title_never_notifies_nor_links(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
) -> None:
    """The example task generator puts execution input in the title, and chat.postMessage's
    ``text`` (the notification) carried it raw: ``<!channel>`` notified the channel."""
    posted = request_approval(
        aws,
        stack,
        notifier,
        slack,
        "hostile-title",
        service="<!channel> @here",
        version="<https://evil.example/login|bank.com>",
        approvers=[ANA],
    )
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert wait_for_status(aws, posted.execution_arn)["status"] == "SUCCEEDED"
    calls = slack.calls("chat.postMessage") + slack.calls("chat.update")
    assert len(calls) >= 2
    for call in calls:
        shown = "\n".join(_parsed(call.params))
        assert not any(b in shown for b in BROADCASTS), shown
        assert "<https://evil.example/login|bank.com>" not in shown
        assert "@here" not in shown
        assert "&lt;!channel&gt;" in str(call.params["text"])  # shown as typed


def test_a_labelled_link_in_the_text_shows_its_real_host(
    aws: Aws, stack: ExampleStack, notifier: ModuleType, slack: SlackStandIn
) -> None:
    start_execution(aws, stack, "disguised-link", service="checkout")
    (message,) = receive(aws, stack.queues.url, 1)
    body = json.loads(message["Body"])
    body["Payload"]["approval"]["text"] = "Log in at <https://evil.example/login|bank.com>"
    message["Body"] = json.dumps(body)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    (call,) = slack.calls("chat.postMessage")
    assert "<https://evil.example/login|bank.com> (evil.example)" in _blocks(call.params)


def test_text_that_broadcasts_fails_the_task_and_posts_nothing(
    aws: Aws, stack: ExampleStack, notifier: ModuleType, slack: SlackStandIn
) -> None:
    arn = start_execution(aws, stack, "broadcast-text", service="checkout")
    (message,) = receive(aws, stack.queues.url, 1)
    body = json.loads(message["Body"])
    body["Payload"]["approval"]["text"] = "<!here> please approve"
    message["Body"] = json.dumps(body)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    assert slack.calls("chat.postMessage") == []
    described = wait_for_status(aws, arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidApprovalRequest"
