"""bot.mrkdwn: workflow text may format, never broadcast, never hide where a link goes."""

from __future__ import annotations

import pytest

from bot.mrkdwn import author_mrkdwn, link, own_mrkdwn, plain, plain_bold, text_problem


@pytest.mark.parametrize(
    "text",
    [
        "*bold* _italic_ ~strike~ `code` ```block``` :rocket:",
        "> a quote\n• a list\n1. item",
        "<@U0ANA> <#C0OPS> <!date^1764079200^{date_short} at {time}|25 Nov 14:00>",
        "<https://example.com> and <https://example.com/a|example.com/a>",
        "bob@here.com, x&y, 2 < 3",
    ],
)
def test_formatting_passes_unchanged(text: str) -> None:
    assert author_mrkdwn(text) == text
    assert text_problem(text) is None


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<!channel>", "\u2039!channel\u203a"),
        ("<!here|here>", "\u2039!here|here\u203a"),
        ("<!subteam^S0ONCALL|@oncall>", "\u2039!subteam^S0ONCALL|@oncall\u203a"),
        ("@channel @Here @everyone", "\uff20channel \uff20Here \uff20everyone"),
        ("<@U0ANA|the boss>", "<@U0ANA>"),  # a label cannot rename a mention
        ("<!date^1^{date}^https://evil.example|today>", "<!date^1^{date}|today>"),
        ("<tel:123|call>", "\u2039tel:123|call\u203a"),
    ],
)
def test_broadcasts_and_unknown_entities_are_inert(text: str, shown: str) -> None:
    assert author_mrkdwn(text) == shown


@pytest.mark.parametrize(
    ("url", "label", "shown"),
    [
        ("https://evil.example/x", "bank.com", "<https://evil.example/x|bank.com> (evil.example)"),
        ("https://evil.example/x", "https://bank.com", "(evil.example)"),
        ("https://b\u0430nk.com/", "bank.com", "(xn--bnk-6cd.com)"),  # a Cyrillic look-alike
        ("https://EXAMPLE.com/", "example.com", "<https://EXAMPLE.com/|example.com>"),
        ("mailto:ceo@evil.example", "ceo@bank.com", "(ceo@evil.example)"),
        ("https://evil.example/", "a \u202emoc.knab", "<https://evil.example/|a moc.knab> ("),
        ("https://u:p@evil.example/", "bank", "\u2039https://u:p@evil.example/|bank\u203a"),
    ],
)
def test_a_link_shows_its_real_target(url: str, label: str, shown: str) -> None:
    assert shown in link(url, label)


def test_plain_text_is_escaped_defused_and_bold_safe() -> None:
    assert plain("<!here> & @here \u202ex") == "&lt;!here&gt; &amp; \uff20here x"
    assert plain_bold("*a* `b`") == "\u2217a\u2217 \u02cbb\u02cb"


def test_own_mrkdwn_keeps_only_the_bots_entities() -> None:
    text = "Only <@U0ANA>, <!subteam^S0ONCALL> in <#C0OPS> (<!channel>, <https://x.io|y>)"
    assert own_mrkdwn(text) == (
        "Only <@U0ANA>, <!subteam^S0ONCALL> in <#C0OPS> (&lt;!channel&gt;, &lt;https://x.io|y&gt;)"
    )
