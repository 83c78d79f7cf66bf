"""``bot.lambda_bolt.parse_form``: the screen's form parser answers exactly what
``urllib.parse.parse_qs(body, keep_blank_values=True)`` answers, for any body."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from hypothesis import given
from hypothesis import strategies as st

from bot.lambda_bolt import parse_form

# Text rich in what form decoding treats specially: escapes (good and broken), plus signs,
# separators, backslashes (the fast path's own escape character) and non-ASCII.
SPECIAL = st.sampled_from(
    ["%", "%4", "%41", "%e9", "%C3%A9", "%E2%82", "+", "&", "=", "\\", "\\x41"]
)
TEXT = st.lists(st.one_of(SPECIAL, st.text(max_size=5)), max_size=12).map("".join)


@given(TEXT)
def test_any_body_parses_as_parse_qs_parses_it(body: str) -> None:
    assert parse_form(body) == parse_qs(body, keep_blank_values=True)


@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=200)), max_size=6))
def test_encoded_forms_round_trip(pairs: list[tuple[str, str]]) -> None:
    body = urlencode(pairs)
    assert parse_form(body) == parse_qs(body, keep_blank_values=True)


def test_a_click_payload_with_hundreds_of_escapes() -> None:
    payload = '{"type":"block_actions","blocks":[' + ",".join(['{"text":"é \\\\ +%"}'] * 200) + "]}"
    body = urlencode({"payload": payload})
    assert body.count("%") > 1000
    assert parse_form(body) == {"payload": [payload]}
