"""AccessPolicy with in-memory fakes: who may decide, who may see, and what it asks Slack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.models import (
    Approval,
    ApprovalRequest,
    ApprovalSpec,
    InvalidApprovalRequest,
    Status,
    TaskToken,
)
from bot.ports import UserInfo
from bot.service.authorization import LISTING_MAX_GROUPS, AccessPolicy
from bot.service.context import Deps, Policy
from tests.fakes import FakeClock, FakeSlack, FakeStore, FakeWorkflow

ANA, BO, CY, EVE = "U0ANA", "U0BO", "U0CY", "U0EVE"
CHANNEL, SECRET = "C0PUBLIC", "G0SECRET"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def person(uid: str, name: str, email: str | None = None, **kw: object) -> UserInfo:
    base = {"is_bot": False, "deleted": False, "has_2fa": True}
    base.update(kw)
    return UserInfo(id=uid, name=name, email=email, **base)  # type: ignore[arg-type]


@pytest.fixture
def slack() -> FakeSlack:
    fake = FakeSlack()
    fake.users = {u: person(u, u[2:].lower()) for u in (ANA, BO, CY, EVE)}
    fake.emails = {"bo@example.com": BO}
    fake.groups = {"S0ONCALL": frozenset({CY})}
    fake.members = {CHANNEL: frozenset({ANA, BO, CY, EVE}), SECRET: frozenset({ANA, BO})}
    return fake


def access(slack: FakeSlack, **policy: object) -> AccessPolicy:
    deps = Deps(FakeStore(), FakeWorkflow(), slack, Policy(**policy), FakeClock())  # type: ignore[arg-type]
    return AccessPolicy(deps)


def approval(channel: str = CHANNEL, requester_id: str | None = None, **spec: object) -> Approval:
    return Approval(
        approval_id="a" * 26,
        status=Status.PENDING,
        execution_arn=None,
        payload={},
        spec=ApprovalSpec(**spec),  # type: ignore[arg-type]
        channel=channel,
        ts="1.2",
        created_at=NOW,
        updated_at=NOW,
        requester_id=requester_id,
    )


# --- may see ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "shown"),
    [
        (ANA, True),  # a member of the private channel
        (CY, True),  # not a member, but in the approver group
        (EVE, False),  # neither
        ("U0DAN", False),  # in no channel at all
    ],
)
def test_a_private_request_is_shown_to_members_and_deciders_only(
    slack: FakeSlack, reader: str, shown: bool
) -> None:
    policy = access(slack)
    secret = approval(SECRET, approvers=("S0ONCALL",))
    assert policy.may_see(secret, reader, policy.for_listing()) is shown


def test_a_public_request_is_not_shown_to_non_members_who_cannot_decide_it(
    slack: FakeSlack,
) -> None:
    policy = access(slack)
    public = approval(CHANNEL, approvers=(ANA,))
    assert policy.may_see(public, EVE, policy.for_listing())  # a member
    slack.members[CHANNEL] = frozenset({ANA})
    assert not policy.may_see(public, EVE, policy.for_listing())  # left the channel


def test_a_listing_hides_what_slack_did_not_answer_and_says_so(slack: FakeSlack) -> None:
    policy = access(slack)
    slack.unavailable = {"users.conversations", "usergroups.users.list"}
    directory = policy.for_listing()
    assert not policy.may_see(approval(SECRET, approvers=("S0ONCALL",)), CY, directory)
    assert directory.unanswered


def test_a_listing_reads_the_readers_channels_once_and_asks_about_few_groups(
    slack: FakeSlack,
) -> None:
    policy = access(slack)
    directory = policy.for_listing()
    groups = [f"S0G{i:02d}" for i in range(LISTING_MAX_GROUPS + 3)]
    for group in groups:  # EVE is in the last group only: past the listing's bound
        slack.groups[group] = frozenset()
        policy.may_see(approval(SECRET, approvers=(group,)), EVE, directory)
    slack.groups[groups[-1]] = frozenset({EVE})
    assert not policy.may_see(approval(SECRET, approvers=(groups[-1],)), EVE, directory)
    asked = [(method, fresh) for method, _, fresh in slack.asked]
    assert asked.count(("users.conversations", False)) == 1
    assert asked.count(("usergroups.users.list", False)) == LISTING_MAX_GROUPS
    assert not directory.unanswered  # unknown by the bound, not by Slack failing


# --- may decide -------------------------------------------------------------------------------


def test_decisions_ask_slack_anew_and_listings_may_remember(slack: FakeSlack) -> None:
    policy = access(slack)
    request = approval(approvers=("S0ONCALL",))
    assert policy.refusal(request, slack.users[CY], policy.for_decision()) is None
    policy.refusal(request, slack.users[CY], policy.for_listing())
    assert slack.asked == [
        ("usergroups.users.list", "S0ONCALL", True),
        ("usergroups.users.list", "S0ONCALL", False),
    ]


def test_the_requester_is_recognised_by_id_when_slack_hides_their_email(
    slack: FakeSlack,
) -> None:
    policy = access(slack)
    hidden = slack.users[BO]  # users.info without the e-mail
    request = approval(requester_id=BO, requester="bo@example.com", approvers=(ANA, BO))
    refusal = policy.refusal(request, hidden, policy.for_decision())
    assert refusal == "You requested this approval, so someone else has to decide it."
    assert policy.refusal(request, slack.users[ANA], policy.for_decision()) is None
    assert (
        access(slack, allow_self_approval=True).refusal(request, hidden, policy.for_decision())
        is None
    )


def test_an_older_email_request_without_a_stored_id_is_resolved_at_the_click(
    slack: FakeSlack,
) -> None:
    policy = access(slack)
    older = approval(requester="bo@example.com", approvers=(ANA, BO))  # no requester_id
    assert "You requested" in (policy.refusal(older, slack.users[BO], policy.for_decision()) or "")
    assert ("users.lookupByEmail", "bo@example.com", True) in slack.asked
    # A listing does not look e-mails up: it cannot vouch, so "mine" leaves it out.
    assert policy.refusal(older, slack.users[BO], policy.for_listing()) is not None
    # Slack not answering the lookup refuses the click: nothing is assumed.
    slack.unavailable = {"users.lookupByEmail"}
    refusal = policy.refusal(older, slack.users[ANA], policy.for_decision())
    assert refusal is not None
    assert "Slack did not tell whether you requested" in refusal


# --- when a request is posted ------------------------------------------------------------------


def request(**spec: object) -> ApprovalRequest:
    return ApprovalRequest(TaskToken("t"), None, {}, ApprovalSpec(**spec), CHANNEL)  # type: ignore[arg-type]


def test_an_email_requester_is_resolved_to_an_id_when_posted(slack: FakeSlack) -> None:
    assert access(slack).audience(request(requester="BO@example.com")).requester_id == BO
    with pytest.raises(InvalidApprovalRequest, match=r"nobody@example\.com is no user"):
        access(slack).audience(request(requester="nobody@example.com"))


@pytest.mark.parametrize(
    ("spec", "policy", "problem"),
    [
        (
            {"approvers": (ANA, BO), "requester": BO, "required_approvals": 2},
            {},
            "only 1 person other than the requester",
        ),
        (
            {"required_approvals": 2},
            {"default_approvers": (ANA,)},
            r"only 1 person can approve it \(the bot's DEFAULT_APPROVERS\)",
        ),
    ],
)
def test_too_few_people_named_by_id_is_invalid_when_posted(
    slack: FakeSlack, spec: dict, policy: dict, problem: str
) -> None:
    with pytest.raises(InvalidApprovalRequest, match=problem):
        access(slack, **policy).audience(request(**spec))


def test_too_few_group_members_is_counted_not_refused(slack: FakeSlack) -> None:
    policy = access(slack)
    short = policy.audience(request(approvers=("S0ONCALL", ANA), required_approvals=3))
    assert short.eligible_approvers == 2  # CY through @oncall, and ANA
    enough = policy.audience(request(approvers=("S0ONCALL", ANA), required_approvals=2))
    assert enough.eligible_approvers is None
    escalated = request(approvers=("S0ONCALL",), escalate_to=(EVE,), required_approvals=2)
    assert policy.audience(escalated).eligible_approvers is None  # escalation brings EVE
    slack.unavailable = {"usergroups.users.list"}
    unknown = policy.audience(request(approvers=("S0ONCALL",), required_approvals=3))
    assert unknown.eligible_approvers is None  # not known: posted without a note


def test_posting_counts_a_group_from_remembered_answers_and_a_decision_asks_anew(
    slack: FakeSlack,
) -> None:
    """Counting who could approve is a note on the message: a remembered answer will do (a
    fresh usergroups.users.list per request met Slack's Tier 2 limit). Who may decide is asked
    anew at the click (issue 11 item 7)."""
    policy = access(slack)
    short = policy.audience(request(approvers=("S0ONCALL",), required_approvals=2))
    assert short.eligible_approvers == 1
    assert slack.asked == [("usergroups.users.list", "S0ONCALL", False)]
    slack.asked.clear()
    posted = approval(approvers=("S0ONCALL",), required_approvals=2)
    assert policy.refusal(posted, slack.users[CY], policy.for_decision()) is None
    assert slack.asked == [("usergroups.users.list", "S0ONCALL", True)]


def test_a_self_approval_setting_counts_the_requester(slack: FakeSlack) -> None:
    spec = {"approvers": (ANA, BO), "requester": BO, "required_approvals": 2}
    assert access(slack, allow_self_approval=True).audience(request(**spec)).requester_id == BO


def test_the_channel_is_not_counted(slack: FakeSlack) -> None:
    """Without approvers anyone in the channel decides: the channel can grow, no check."""
    assert access(slack).audience(request(required_approvals=50)).eligible_approvers is None


def test_the_requester_shown_is_the_resolved_id_else_what_was_sent() -> None:
    assert approval(requester_id=BO, requester="bo@example.com").requester == BO
    assert approval(requester="bo@example.com").requester == "bo@example.com"
