"""The App Home tab's rendering: pure, snapshot-tested, valid Block Kit within Slack's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.home_blocks import HOME_LIST_MAX, MAX_HOME_BLOCKS, HomeContent, Section, home_view
from bot.ids import Action
from bot.local.slack_driver import find_button
from bot.local.slack_standin.blockkit import view_errors
from bot.models import Approval, AuditEvent, Status
from tests.unit.test_blocks import approval

AT = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ANA, BO = "U0ANA", "U0BO"


def many(count: int) -> tuple[Approval, ...]:
    return tuple(
        approval(approval_id=f"{i:02d}" + "a" * 24, spec=replace(approval().spec, title=f"R{i}"))
        for i in range(count)
    )


def event(
    kind: str, approval_id: str = "k7q2m4x9c3v8b1n6z5a0s2d4f6", **detail: object
) -> AuditEvent:
    return AuditEvent(
        approval_id=approval_id,
        event=kind,
        at=AT,
        actor_id=ANA,
        actor_name="ana",
        title="Deploy checkout 2.4.1 to production?",
        detail=dict(detail),
        channel="C0OPS",
    )


def test_home_tab_sections(snapshot) -> None:
    content = HomeContent(
        user_id=ANA,
        waiting=Section((approval(),)),
        mine_pending=Section((approval(approval_id="b" * 26),), more=3),
        mine_finished=Section((event("rejected", comment="not <!here> today"),)),
        decided=Section((event("approved"), event("vote", outcome="rejected")), more_unknown=True),
        notice="Someone was faster: <@U0CY> approved it.",
    )
    view = home_view(content)
    assert view["type"] == "home"
    assert view_errors(view, allow_home=True) == []
    snapshot("home_tab", view)


def test_waiting_items_carry_the_channel_messages_buttons() -> None:
    pending = approval()
    view = home_view(HomeContent(user_id=ANA, waiting=Section((pending,))))
    for action in (Action.APPROVE, Action.APPROVE_FORM, Action.REJECT):
        assert find_button(view["blocks"], action.value)["value"] == pending.approval_id


def test_lists_are_bounded_and_say_how_many_more() -> None:
    items = many(HOME_LIST_MAX + 4)
    events = tuple(event("approved", approval_id=a.approval_id) for a in items)
    content = HomeContent(
        user_id=ANA,
        waiting=Section(items, more=4),
        mine_pending=Section(items, more=4),
        mine_finished=Section(events),
        decided=Section(events, more=4),
        notice="x" * 5000,
    )
    view = home_view(content)
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS
    assert view_errors(view, allow_home=True) == []
    texts = [str(b) for b in view["blocks"]]
    assert sum("R0*" in t for t in texts) == 2  # one waiting, one of yours
    assert not any(f"R{HOME_LIST_MAX}*" in t for t in texts)  # the 9th is not shown
    assert sum("and 4 more" in t for t in texts) == 3


def test_slack_not_answering_is_said_not_hidden_as_empty() -> None:
    view = home_view(HomeContent(user_id=ANA, waiting=None))
    text = str(view["blocks"])
    assert "Slack did not answer" in text
    assert "Nothing is waiting for you" not in text


def test_empty_home_says_so() -> None:
    view = home_view(HomeContent(user_id=BO))
    text = str(view["blocks"])
    assert "Nothing is waiting for you" in text
    assert "No requests of yours" in text
    assert "not decided anything" in text
    assert Status.PENDING.value not in text
