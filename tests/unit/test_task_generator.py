"""The example task generator copies execution input into approval.text: escaped there too."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from bot.blocks import message_for
from bot.models import Approval, Status, parse_envelope, parse_request
from bot.mrkdwn import plain_bold

HOSTILE = [
    "<!channel>",
    "<!subteam^S0ONCALL>",
    "<https://evil.example|bank.com>",
    "@here & @everyone",
    "*bold* `code` \u202eevil",
    "x & <y> | z",
]


def _generator() -> ModuleType:
    """Loaded from its file, as the deployed function is (it cannot import ``bot``)."""
    path = Path(__file__).parents[2] / "infra" / "lambdas" / "task_generator.py"
    spec = importlib.util.spec_from_file_location("task_generator_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("value", HOSTILE)
def test_execution_input_in_the_text_is_shown_as_typed_and_never_parsed(value: str) -> None:
    generator = _generator()
    task = generator.handler({"service": value, "version": value}, None)
    text = task["approval"]["text"]
    shown = plain_bold(value)  # escaped, defused, and unable to end the bold or the code
    assert text == f"A deployment of *{shown}* `{shown}` is waiting for approval."
    assert generator.mrkdwn_plain(value) == shown  # the copy stays in step with bot.mrkdwn

    body = json.dumps({"TaskToken": f"t-{value}", "Payload": task})
    request = parse_request(parse_envelope(body), default_channel="C0OPS")  # not refused
    now = datetime(2026, 1, 1, tzinfo=UTC)
    approval = Approval("a" * 26, Status.PENDING, None, task, request.spec, "C0OPS", None, now, now)
    section = message_for(approval).blocks[1]["text"]["text"]
    assert section == text
    for entity in ("<!", "<http", "<@"):
        assert entity not in section
