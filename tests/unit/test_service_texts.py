"""The refusal texts the service sends as mrkdwn: reasons that came from elsewhere are shown,
never interpreted (no broadcast, no disguised link)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.models import Status
from bot.service.texts import describe_decision
from tests.unit.test_blocks import approval

HOSTILE = "<!channel> see <https://evil.example|bank.com> *now*"


@pytest.mark.parametrize("status", [Status.EXPIRED, Status.ERROR])
def test_a_stored_reason_is_shown_escaped(status: Status) -> None:
    text = describe_decision(replace(approval(), status=status, status_reason=HOSTILE))
    assert "<!channel>" not in text
    assert "<https://evil.example|" not in text
    assert "&lt;!channel&gt;" in text
