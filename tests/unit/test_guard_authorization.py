"""Guards found by mutation testing (benchmarks/mutants.py): a cut-short membership list."""

from __future__ import annotations

from dataclasses import dataclass

from bot.ports import Memberships
from bot.service.authorization import NOT_TOLD_APPROVER
from tests.fakes import FakeSlack
from tests.unit.test_authorization import CHANNEL, EVE, SECRET, access, approval, person


@dataclass
class CutShortSlack(FakeSlack):
    """``users.conversations`` stops before the end: the reader is in more channels than the
    bot reads (``MEMBERSHIP_MAX_PAGES``), and the request's channel is not among those read."""

    def user_channels(self, user_id: str, *, fresh: bool = False) -> Memberships:
        self._ask("users.conversations", user_id, fresh)
        return Memberships(frozenset({"C0OTHER"}), complete=False)


def test_a_membership_list_cut_short_says_neither_yes_nor_no() -> None:
    memberships = Memberships(frozenset({"C0OTHER"}), complete=False)
    assert memberships.member_of("C0OTHER") is True
    assert memberships.member_of(CHANNEL) is None
    assert Memberships(frozenset(), complete=True).member_of(CHANNEL) is False


def test_a_cut_short_membership_list_neither_decides_nor_shows() -> None:
    slack = CutShortSlack()
    slack.users = {EVE: person(EVE, "eve")}
    policy = access(slack)
    anyone_in_channel = approval(SECRET)  # no approvers: any member of the channel decides
    refusal = policy.refusal(anyone_in_channel, slack.users[EVE], policy.for_decision())
    assert refusal == NOT_TOLD_APPROVER
    assert not policy.may_see(anyone_in_channel, EVE, policy.for_listing())
