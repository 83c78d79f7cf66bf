"""Property-based fuzzing of the two entry points, against moto and the Slack stand-in.

* **Notifier** (SQS → Slack): arbitrary batches of SQS bodies — broken or non-object JSON,
  deep nesting, huge payloads up to SQS's 256 KiB, odd unicode, missing or wrong-type
  ``TaskToken``/``Payload``/``Execution``, valid and invalid ``approval`` objects, duplicates,
  an injected transient Slack failure. Every generated record carries the verdict the message
  contract (README) gives it, computed here and not by the bot's own parser.
* **Interactions** (Slack → Bolt): unsigned, wrongly signed and stale requests (401, nothing
  happens), validly signed garbage (400 unless shaped like a Slack request; never a 5xx, never
  a state change), and clicks of people Slack cannot vouch for (a private refusal).

Examples share one moto account and one Slack stand-in per test, so every example uses fresh
task tokens (a uuid prefix) and checks only what it added.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import string
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any, Final
from urllib.parse import parse_qs, parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from bot.ids import Action, Command, Input, Modal
from bot.local.events import LocalContext, body_event
from bot.local.infra import ExampleStack
from bot.local.slack_requests import (
    api_gateway_v2_event,
    block_actions_body,
    sign,
    signed_form_headers,
    slash_command_body,
    view_submission_body,
)
from bot.local.slack_standin import Fault, SlackStandIn
from bot.models import Status, approval_id_for
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

SQS_MAX_BYTES: Final = 256 * 1024
MAX_TOKEN_CHARS: Final = 2048
SLACK_WINDOW_SECONDS: Final = 5 * 60

#: ``FUZZ_SCALE=20 pytest tests/functional/test_fuzz.py`` runs 20 times as many examples.
SCALE: Final = max(1, int(os.environ.get("FUZZ_SCALE", "1")))
FUZZ: Final = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

# --- text ---------------------------------------------------------------------------------------

ODD: Final = (
    "\x00",  # NUL
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "مرحبا بالعالم",  # Arabic (RTL)
    "שלום",  # Hebrew (RTL)
    "🚀",
    "👩🏽‍💻",  # emoji with skin tone and ZWJ
    "🇰🇷",  # flag (regional indicators)
    "e\u0301",  # combining accent
    "\ufeff",  # BOM / zero-width no-break space
    "\u200b",  # zero-width space
    "\u2028",  # LINE SEPARATOR
    "\uffff",  # a noncharacter
    "\U0010ffff",  # the last code point
    "&<>|*_~`",  # Slack mrkdwn control characters
    "<!channel>",
    "\\u0000",
    '"}',
    "\t\r\n",
    "\U0001d573\U0001d58a\U0001d591\U0001d591\U0001d594",  # fraktur "Hello"
    "한국어",
)

odd_text = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.lists(st.sampled_from(ODD) | st.text(max_size=3), max_size=6).map("".join),
)


def non_blank(limit: int) -> st.SearchStrategy[str]:
    """A string that ``str.strip()`` keeps non-empty, at most ``limit`` characters (the limit
    itself included, often)."""
    short = odd_text.map(lambda s: ("x" + s)[:limit])
    at_limit = st.tuples(st.sampled_from((*ODD, "x", "é", "&")), st.integers(0, limit)).map(
        lambda t: ("y" + t[0] * limit)[: max(1, t[1])]
    )
    return st.one_of(short, at_limit, st.just("z" * limit))


def too_long(limit: int) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from((*ODD, "x")), st.integers(1, 50)).map(
        lambda t: ("q" * (limit + t[1]) + t[0])[: limit + t[1]]
    )


blank = st.sampled_from(["", " ", "\t\n", "\u2003", "\u3000 "])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=12,
)
not_a_string = st.one_of(
    st.integers(), st.booleans(), st.lists(st.integers(), max_size=2), st.just({"a": 1})
)


# --- the approval object, with the verdict of the message contract ---------------------------

VALID, AMBIGUOUS, INVALID = "valid", "ambiguous", "invalid"
_RANK: Final = {VALID: 0, AMBIGUOUS: 1, INVALID: 2}

Verdicted = tuple[Any, str]


def worst(verdicts: list[str]) -> str:
    return max(verdicts, key=_RANK.__getitem__, default=VALID)


def _escaped_len(text: str) -> int:
    """Length after the renderer's mrkdwn escaping (& → &amp;, < → &lt;, > → &gt;)."""
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def _rendered(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "—"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def either(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any], *, odds: int = 5
) -> st.SearchStrategy[Verdicted]:
    """``(value, verdict)``: a valid value ``odds`` times as often as an invalid one (a request
    is invalid as soon as one field is, so each field must mostly be valid)."""
    good = valid.map(lambda v: (v, VALID))
    return st.one_of(*[good] * odds, invalid.map(lambda v: (v, INVALID)))


def _opt_text(limit: int) -> st.SearchStrategy[Verdicted]:
    return either(non_blank(limit) | st.none(), blank | too_long(limit) | not_a_string)


labels = non_blank(100)


@st.composite
def _fields(draw: st.DrawFn) -> Verdicted:
    shape = draw(st.sampled_from(["ok"] * 12 + ["not-an-object", "too-many", "bad-label"]))
    if shape == "not-an-object":
        return draw(st.lists(st.text(max_size=3), max_size=3) | st.text(max_size=5)), INVALID
    if shape == "too-many":
        return {f"f{i}": i for i in range(draw(st.integers(21, 40)))}, INVALID
    if shape == "bad-label":
        return {draw(blank | too_long(100)): "v"}, INVALID
    fields = draw(st.dictionaries(labels, json_values | non_blank(2000), max_size=20))
    verdicts = []
    for label, value in fields.items():
        # Slack's 2000 characters, counted as Slack sees them: after the mrkdwn escaping.
        over = _escaped_len(label) + _escaped_len(_rendered(value)) + 4 > 2000
        verdicts.append(INVALID if over else VALID)
    return fields, worst(verdicts)


url_chars = string.ascii_letters + string.digits + "-._~/?#[]@!$&'()*+,;=%"
hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
#: Characters that hide a link's real target (bidi controls, zero-width and other invisibles).
INVISIBLE: Final = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\x7f"
)


@st.composite
def _links(draw: st.DrawFn) -> Verdicted:
    shape = draw(
        st.sampled_from(["ok"] * 12 + ["bad-url", "too-many", "not-an-object", "hidden-target"])
    )
    if shape == "not-an-object":
        return draw(st.lists(st.just("https://example.com"), max_size=2)), INVALID
    if shape == "too-many":
        count = draw(st.integers(11, 15))
        return {f"l{i}": "https://example.com" for i in range(count)}, INVALID
    # A host, then any path: a link shows where it goes (README, the mrkdwn rule).
    url = st.tuples(
        st.sampled_from(["https://", "http://"]),
        hosts,
        st.sampled_from(["", "/"]),
        st.text(url_chars, max_size=900),
    ).map(lambda t: t[0] + t[1] + ("/" + t[3] if t[2] or t[3] else ""))
    if shape == "hidden-target":
        hidden = st.one_of(
            hosts.map(lambda h: f"https://bank.com@{h}/"),
            hosts.map(lambda h: f"https://user:pass@{h}/x"),
            hosts.map(lambda h: f"https://{h}\\@bank.com/"),
            st.tuples(hosts, st.sampled_from(sorted(INVISIBLE))).map(
                lambda t: f"https://{t[0]}/{t[1]}x"
            ),
            st.just("https://%62ank.com/"),
        )
        return {"docs": draw(hidden)}, INVALID
    if shape == "bad-url":
        bad = st.one_of(
            st.just("ftp://example.com"),
            st.just("javascript:alert(1)"),
            url.map(lambda u: u + draw(st.sampled_from([" ", "<", ">", "|", "\n"]))),
            st.just("https://" + "a" * 1000),
            not_a_string,
        )
        return {"docs": draw(bad)}, INVALID
    return draw(st.dictionaries(labels, url, max_size=10)), VALID


principal = st.from_regex(r"[UWS][A-Z0-9]{2,11}", fullmatch=True)


@st.composite
def _approvers(draw: st.DrawFn) -> Verdicted:
    shape = draw(st.sampled_from(["list"] * 8 + ["csv"] * 4 + ["bad-id", "too-many", "wrong-type"]))
    if shape == "list":
        return draw(st.lists(principal, max_size=50)), VALID
    if shape == "csv":
        ids = draw(st.lists(principal, max_size=10))
        return draw(st.sampled_from([",", ", ", " ,"])).join(ids), VALID
    if shape == "bad-id":
        bad = draw(st.sampled_from(["u0ana", "@ana", "#ops", "C0CHANNEL", "U", "ana@example.com"]))
        return [*draw(st.lists(principal, max_size=3)), bad], INVALID
    if shape == "too-many":
        return [f"U{i:04d}" for i in range(draw(st.integers(51, 60)))], INVALID
    return draw(st.integers() | st.just({"U0ANA": True}) | st.just([1, 2])), INVALID


email = st.tuples(
    st.text(string.ascii_lowercase + ".+", min_size=1, max_size=20),
    st.text(string.ascii_lowercase, min_size=1, max_size=20),
).map(lambda t: f"{t[0]}@{t[1]}.example")

#: The stand-in's users by e-mail: a requester named by e-mail must be someone in the workspace
#: (the bot resolves it to a user id when it posts); an e-mail nobody has is invalid.
MEMBER_EMAILS: Final = {"ana@example.com": "U0ANA", "bo@example.com": "U0BO"}

_requester = either(
    st.from_regex(r"[UW][A-Z0-9]{2,11}", fullmatch=True)
    | st.sampled_from(["ana@example.com", "BO@example.com"])
    | st.none(),
    st.one_of(
        st.sampled_from(["not a user", "S0ONCALL", "C0APPROVALS", "@bo", "bo@"]),
        st.just("b@" + "x" * 250 + ".io"),
        email,  # nobody in the workspace has it
        blank,
        not_a_string,
    ),
)


def only_the_requester_approves(spec: dict[str, Any]) -> bool:
    """Approvers named by id who are all the requester: nobody could ever approve it."""
    approvers, requester = spec.get("approvers"), spec.get("requester")
    if isinstance(approvers, str):
        approvers = [a.strip() for a in approvers.split(",") if a.strip()]
    if not isinstance(approvers, list) or not approvers or not isinstance(requester, str):
        return False
    if not all(isinstance(a, str) and a[:1] in "UW" for a in approvers):
        return False
    return set(approvers) <= {MEMBER_EMAILS.get(requester.lower(), requester)}


_channel = either(
    st.sampled_from([CHANNEL, None]),
    st.one_of(
        # Well-formed ids of channels Slack does not know: refused by chat.postMessage.
        st.from_regex(r"[CG]0NOSUCH[A-Z0-9]{0,8}", fullmatch=True),
        st.from_regex(r"[CG]0NOSUCH[A-Z0-9]{0,8}", fullmatch=True),
        st.sampled_from(["#ops", "approvals", "c0approvals", "C", "C0" + "A" * 40]),
        # A direct message: the app has no im:* scope (README).
        st.from_regex(r"D[A-Z0-9]{2,10}", fullmatch=True),
        blank,
        not_a_string,
    ),
)

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def expiry_verdict(raw: Any, now: datetime) -> str:
    """The contract: ISO 8601 with a timezone, in the future (a past one fails the task)."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        return INVALID
    try:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            return INVALID
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return INVALID
    if abs(moment - now) < timedelta(hours=1):
        return AMBIGUOUS  # too close to the clock to call
    return VALID if moment > now else INVALID


@st.composite
def _expires_at(draw: st.DrawFn) -> Verdicted:
    now = datetime.now(UTC)
    raw = draw(
        st.one_of(
            st.datetimes(timezones=offsets).map(datetime.isoformat),
            st.datetimes(timezones=offsets).map(lambda d: d.isoformat().replace("+00:00", "Z")),
            st.datetimes(min_value=datetime(2030, 1, 1), timezones=offsets).map(datetime.isoformat),
            # The ends of the calendar, where a UTC offset leaves datetime's range.
            st.datetimes(max_value=datetime(1, 1, 2), timezones=offsets).map(datetime.isoformat),
            st.datetimes(min_value=datetime(9999, 12, 31), timezones=offsets).map(
                datetime.isoformat
            ),
            st.datetimes().map(datetime.isoformat),  # no timezone
            st.sampled_from(["tomorrow", "2026-13-01T00:00:00Z", "1764072000"]),
            odd_text,
            not_a_string,
        )
    )
    return raw, expiry_verdict(raw, now)


#: A broadcast (README's mrkdwn rule): refused in approval.text.
BROADCAST: Final = re.compile(r"<!(channel|here|everyone|group|subteam)([|^][^<>]*)?>", re.I)
broadcasts = st.sampled_from(
    ["<!channel>", "<!here>", "<!everyone>", "<!group>", "<!here|here>", "<!subteam^S0ONCALL>"]
)


def text_verdict(text: Any, verdict: str) -> str:
    """approval.text: mrkdwn that may format but not broadcast; whether a text with links is
    within 3000 characters once its links show their hosts is left to the bot (ambiguous)."""
    if verdict != VALID or not isinstance(text, str):
        return verdict
    if BROADCAST.search(text):
        return INVALID
    if re.search(r"https?://|mailto:", text, re.I):
        return AMBIGUOUS
    return VALID


@st.composite
def _text(draw: st.DrawFn) -> Verdicted:
    text, verdict = draw(_opt_text(3000))
    if isinstance(text, str) and verdict == VALID and draw(st.integers(0, 9)) == 0:
        cut = draw(st.integers(0, len(text)))
        text = (text[:cut] + draw(broadcasts) + text[cut:])[:3000]
    return text, text_verdict(text, verdict)


SPEC_FIELDS: Final = {
    "title": _opt_text(150),
    "text": _text(),
    "fields": _fields(),
    "channel": _channel,
    "approvers": _approvers(),
    "requester": _requester,
    "links": _links(),
    "expires_at": _expires_at(),
}


@st.composite
def bulky_approval(draw: st.DrawFn) -> Verdicted:
    """An approval object near its own limits: 20 fields of ~2000 characters, a long text."""
    unit = draw(st.sampled_from(["x", "é", "🚀", "한"]))
    size = draw(st.integers(1000, 2000 - len("field 00") - 4))
    fields = {f"field {i:02d}": unit * size for i in range(draw(st.integers(10, 20)))}
    return {"title": "Bulk import", "text": unit * 3000, "fields": fields}, VALID


@st.composite
def approval_objects(draw: st.DrawFn) -> Verdicted:
    """``Payload.approval``: mostly an object of known fields, sometimes not an object at all,
    sometimes with an unknown field (a typo)."""
    shape = draw(st.sampled_from(["object"] * 12 + ["not-an-object", "unknown-field"]))
    if shape == "not-an-object":
        return draw(
            st.sampled_from([[], "approve please", 0, 1.5, True, False, [{"a": 1}]])
        ), INVALID
    picked = draw(st.fixed_dictionaries({}, optional=SPEC_FIELDS))
    spec = {key: value for key, (value, _) in picked.items()}
    verdict = worst([v for _, v in picked.values()])
    if only_the_requester_approves(spec):
        verdict = INVALID
    if shape == "unknown-field":
        key = draw(st.sampled_from(["titel", "approver", "channels", "expires", "x"]) | odd_text)
        if key not in SPEC_FIELDS:
            spec[key] = draw(json_scalars)
            verdict = INVALID
    return spec, verdict


# --- whole SQS records ------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    body: str
    kind: str  # VALID | AMBIGUOUS | INVALID (a usable token), or "unprocessable" (none)
    token: str | None  # the token string the body carries (also when it is not usable)

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 2000 else f"{self.body[:2000]}… ({len(self.body)})"
        return f"Record({body!r}, {self.kind!r}, {self.token!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' pretty printer
        printer.text(repr(self))

    @property
    def approval_id(self) -> str | None:
        return approval_id_for(self.token) if self.kind != UNPROCESSABLE else None


UNPROCESSABLE: Final = "unprocessable"

TOKEN_CHARS: Final = string.ascii_letters + string.digits + "+/=-_"


@st.composite
def tokens(draw: st.DrawFn, *, max_size: int = MAX_TOKEN_CHARS) -> str:
    """A fresh, unique task token (a uuid prefix: examples share one table)."""
    head = f"AQ{uuid.uuid4().hex}"
    tail = draw(
        st.one_of(
            st.text(TOKEN_CHARS, max_size=80),
            st.text(st.characters(codec="utf-8"), max_size=20),
            st.integers(0, max_size - len(head)).map(lambda n: "Z" * n),
        )
    )
    return (head + tail)[:max_size]


execution_arn = st.tuples(
    st.sampled_from(["aws", "aws-us-gov", "aws-cn"]),
    st.sampled_from(["us-east-1", "eu-central-1"]),
    st.sampled_from(["execution", "express"]),
    st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=40),
    st.text(st.characters(codec="utf-8", exclude_characters=":"), min_size=1, max_size=40).filter(
        lambda s: not any(c.isspace() for c in s)
    ),
    st.sampled_from(["", ":6d4ecc3e-11ee-9b61"]),
).map(lambda t: f"arn:{t[0]}:states:{t[1]}:123456789012:{t[2]}:{t[3]}:{t[4]}{t[5]}")

#: Step Functions names: 1-80 characters, none of these, no white space, no control character
#: (U+0000-001F, U+007F-009F, U+FFFE-FFFF) and no surrogate (the StartExecution reference).
SFN_NAME_FORBIDDEN: Final = frozenset('<>{}[]?*"#%\\^|~`$&,;:/\ufffe\uffff')


def _sfn_name(name: str) -> bool:
    return 1 <= len(name) <= 80 and not any(
        c.isspace()
        or c in SFN_NAME_FORBIDDEN
        or ord(c) < 0x20
        or 0x7F <= ord(c) <= 0x9F
        or 0xD800 <= ord(c) <= 0xDFFF
        for c in name
    )


def arn_verdict(arn: str) -> str:
    """The execution ARN grammar: arn:<partition>:states:<region>:<12 digits>:execution:
    <machine>[/<map run>]:<name>, or …:express:<machine>:<name>:<id>; at most 256 characters."""
    parts = arn.split(":")
    if len(arn) > 256 or len(parts) not in (8, 9) or parts[0] != "arn" or parts[2] != "states":
        return INVALID
    partition, region, account, kind = parts[1], parts[3], parts[4], parts[5]
    ok = (
        re.fullmatch(r"aws(-[a-z]+)*", partition) is not None
        and re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", region) is not None
        and re.fullmatch(r"[0-9]{12}", account) is not None
    )
    if kind == "execution" and len(parts) == 8:
        machine = parts[6].split("/")
        names = [*machine, parts[7]] if len(machine) <= 2 else [""]
    elif kind == "express" and len(parts) == 9:
        names = parts[6:]
    else:
        return INVALID
    return VALID if ok and all(_sfn_name(n) for n in names) else INVALID


_execution = st.one_of(
    *[execution_arn.map(lambda arn: (arn, arn_verdict(arn)))] * 4,
    st.none().map(lambda none: (none, VALID)),
    st.sampled_from(["", "deploy-1", "arn:aws:states:us-east-1:1:execution:x:y"]).map(
        lambda bad: (bad, INVALID)
    ),
    not_a_string.map(lambda bad: (bad, INVALID)),
)


def _dump(data: Any, ascii_only: bool) -> str:
    return json.dumps(data, ensure_ascii=ascii_only, separators=(",", ":"))


@st.composite
def _fill(draw: st.DrawFn, envelope: dict[str, Any], ascii_only: bool) -> None:
    """Grow ``Payload.blob`` towards SQS's 256 KiB (sometimes right up to it)."""
    unit = draw(st.sampled_from(["x", "é", "🚀", "\x00", "<&>", "0"]))
    as_list = unit == "0"
    envelope["Payload"]["blob"] = [] if as_list else ""
    base = len(_dump(envelope, ascii_only).encode())
    per_unit = 2 if as_list else len(_dump(unit, ascii_only).encode()) - 2
    room = max(0, (SQS_MAX_BYTES - base) // per_unit)
    count = room if draw(st.booleans()) else draw(st.integers(0, room))
    envelope["Payload"]["blob"] = [0] * count if as_list else unit * count


DYNAMODB_ITEM_BYTES: Final = 400 * 1024
#: How far ``stored_bytes`` may be from the item's real size (attribute names, the other
#: attributes, the approval object normalised for storage).
ITEM_SIZE_SLACK: Final = 10_000


def stored_bytes(envelope: dict[str, Any]) -> int:
    """About what the approval's DynamoDB item needs: the payload as JSON (stored once; the
    approval object is derived from it on read) and the token (the band ITEM_SIZE_SLACK
    absorbs the rest)."""
    parts = [envelope.get("Payload"), envelope.get("TaskToken")]
    return sum(len(json.dumps(part, ensure_ascii=False).encode()) for part in parts)


def size_verdict(envelope: dict[str, Any]) -> str:
    """A request too large to keep in DynamoDB (400 KB an item) is invalid: its task fails."""
    size = stored_bytes(envelope)
    if size > DYNAMODB_ITEM_BYTES + ITEM_SIZE_SLACK:
        return INVALID
    return VALID if size < DYNAMODB_ITEM_BYTES - ITEM_SIZE_SLACK else AMBIGUOUS


MISSING: Final = object()
PAYLOAD_SHAPES: Final = (
    ["approval"] * 8 + ["any"] * 2 + ["huge"] * 2 + ["deep", "missing", "null-approval"]
)


def _payload(draw: st.DrawFn, shape: str) -> tuple[Any, list[str]]:
    """``Payload`` of the given shape (MISSING: no key) and the verdicts it adds."""
    if shape == "missing":
        return MISSING, [INVALID]
    if shape == "huge":
        return {"service": "bulk"}, []  # filled up by the caller, once the rest is known
    if shape == "any":
        payload = draw(json_values)
        if isinstance(payload, dict):
            payload.pop("approval", None)
        return payload, []
    if shape == "null-approval":
        return {"approval": None, "service": draw(odd_text)}, []
    if shape == "deep":
        inner: Any = draw(json_scalars)
        for _ in range(draw(st.integers(1, 120))):
            inner = [inner] if draw(st.booleans()) else {"k": inner}
        return {"nested": inner}, []
    spec, verdict = draw(approval_objects())
    return {"approval": spec, "service": draw(odd_text)}, [verdict]


@st.composite
def requests(draw: st.DrawFn) -> Record:
    """A body with a usable token: valid, invalid or ambiguous by the message contract."""
    token = draw(tokens())
    if draw(st.booleans()):
        token = draw(st.sampled_from(["", " ", "\n"])) + token + draw(st.sampled_from(["", " "]))
        token = token[:MAX_TOKEN_CHARS] if token.strip() else token
    envelope: dict[str, Any] = {"TaskToken": token}
    verdicts = []
    execution, verdict = draw(_execution)
    if execution is not None or draw(st.booleans()):
        envelope["Execution"] = execution
        verdicts.append(verdict)
    shape = draw(st.sampled_from(PAYLOAD_SHAPES))
    payload, more = _payload(draw, shape)
    verdicts += more
    if payload is not MISSING:
        envelope["Payload"] = payload
    for key in draw(st.lists(st.sampled_from(["Extra", "taskToken", "Input"]), max_size=2)):
        envelope[key] = draw(json_scalars)
    ascii_only = draw(st.booleans())
    if shape == "huge":
        if draw(st.booleans()):
            spec, verdict = draw(approval_objects() | bulky_approval())
            envelope["Payload"]["approval"] = spec
            verdicts.append(verdict)
        draw(_fill(envelope, ascii_only))
    body = _dump(envelope, ascii_only)
    event(f"request: {shape}, {worst(verdicts)}")
    assume(len(body.encode()) <= SQS_MAX_BYTES)  # what Step Functions can send at all
    size = size_verdict(envelope)
    verdicts.append(size)
    return Record(body, worst(verdicts), token)


@st.composite
def unprocessable(draw: st.DrawFn) -> Record:
    """A body without a usable token."""
    shape = draw(
        st.sampled_from(
            ["text", "broken", "non-object", "deep", "no-token", "wrong-token", "long-token"]
        )
    )
    if shape == "text":
        text = draw(st.text(st.characters(codec="utf-8"), max_size=200))
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            text = "#" + text
        return Record(text, UNPROCESSABLE, None)
    if shape == "broken":
        whole = draw(requests()).body
        cut = draw(st.integers(0, len(whole) - 1))
        return Record(whole[:cut], UNPROCESSABLE, None)
    if shape == "non-object":
        value = draw(json_values.filter(lambda v: not isinstance(v, dict)))
        return Record(json.dumps(value), UNPROCESSABLE, None)
    if shape == "deep":
        depth = draw(st.integers(1000, 100_000))
        opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return Record(opening * depth + closing * depth, UNPROCESSABLE, None)
    envelope: dict[str, Any] = {"Payload": draw(json_values), "Execution": draw(execution_arn)}
    token: str | None = None
    if shape == "wrong-token":
        envelope["TaskToken"] = draw(
            st.one_of(blank, st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2))
        )
    elif shape == "long-token":
        token = draw(tokens(max_size=8000)).ljust(MAX_TOKEN_CHARS + 1, "L")
        envelope["TaskToken"] = token
    return Record(json.dumps(envelope), UNPROCESSABLE, token)


records = st.one_of(requests(), requests(), unprocessable())


@st.composite
def batches(draw: st.DrawFn) -> list[Record]:
    """1..10 records (SQS's batch limit), some of them redeliveries of earlier ones."""
    batch = draw(st.lists(records, min_size=1, max_size=7))
    for _ in range(draw(st.integers(0, min(3, 10 - len(batch))))):
        batch.append(batch[draw(st.integers(0, len(batch) - 1))])
    return batch


# --- notifier ---------------------------------------------------------------------------------


def posts_by_approval(slack: SlackStandIn) -> Counter[str]:
    """How many channel messages carry each approval id in their metadata."""
    counts: Counter[str] = Counter()
    for message in slack.messages(CHANNEL):
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if isinstance(payload.get("approval_id"), str):
            counts[payload["approval_id"]] += 1
    return counts


def run_batch(notifier: ModuleType, stack: ExampleStack, bodies: list[str]) -> tuple[Any, Any]:
    event = body_event(bodies, queue_arn=stack.queues.arn)
    response = notifier.handler(event, LocalContext(function_name="notifier"))
    return event, response


def failed_indexes(event: dict[str, Any], response: Any) -> set[int]:
    assert isinstance(response, dict)
    assert set(response) == {"batchItemFailures"}
    ids = [record["messageId"] for record in event["Records"]]
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert set(failed) <= set(ids), "a failure names a message that is not in the batch"
    return {i for i, message_id in enumerate(ids) if message_id in failed}


def token_leaks(token: str, logs: LogCapture, since: int, slack: SlackStandIn, calls: int) -> bool:
    logged = "\n".join(logs.lines[since:])
    sent = json.dumps([c.params for c in slack.calls()[calls:]], ensure_ascii=False)
    return token in logged or token in sent or json.dumps(token)[1:-1] in sent


def request_record(kind: str, approval: Any, **envelope: Any) -> Record:
    """A fixed request for ``@example`` (its token is fixed too: one use per test run)."""
    token = f"AQexample-{hashlib.sha256(repr((approval, envelope)).encode()).hexdigest()}"
    body = json.dumps({"TaskToken": token, "Payload": {"approval": approval}, **envelope})
    return Record(body, kind, token)


def bulky_record() -> Record:
    """A request right at SQS's 256 KiB: an approval object near its own limits (20 fields of
    1988 emoji) and a payload that fills the rest, as Step Functions can send it. Its DynamoDB
    item holds the payload once: it fits in 400 KB, and it is posted. (When the approval
    object was stored a second time, the item would have exceeded 400 KB: it was invalid.)"""
    token = "AQexample-bulky"
    approval = {
        "title": "Bulk import",
        "text": "🚀" * 3000,
        "fields": {f"field {i:02d}": "🚀" * 1988 for i in range(20)},
    }
    envelope: dict[str, Any] = {"TaskToken": token, "Payload": {"approval": approval, "blob": ""}}
    room = SQS_MAX_BYTES - len(_dump(envelope, False).encode())
    envelope["Payload"]["blob"] = "x" * room
    assert size_verdict(envelope) == VALID
    return Record(_dump(envelope, False), VALID, token)


@settings(max_examples=250 * SCALE, **FUZZ)
@given(batch=batches(), transient=st.integers(0, 7).map(lambda n: n == 0))
# Fixed: an expires_at whose UTC value is outside datetime's range raised OverflowError, not
# InvalidApprovalRequest: the record was retried into the DLQ and the task never failed.
@example(
    batch=[request_record(INVALID, {"expires_at": "9999-12-31T12:00:00-12:00"})], transient=False
)
@example(
    batch=[request_record(INVALID, {"expires_at": "0001-01-01T00:00:00+00:01"})], transient=False
)
# Fixed: the 2000-character check counted a field before mrkdwn escaping (& → &amp;): Slack
# refused the escaped text (invalid_blocks). Now it is invalid when parsed.
@example(batch=[request_record(INVALID, {"fields": {"Query": "a<b&c>" * 300}})], transient=False)
@example(batch=[request_record(VALID, {"fields": {"Query": "&" * 398 + "x"}})], transient=False)
@example(batch=[request_record(INVALID, {"fields": {"Query": "&" * 398 + "xy"}})], transient=False)
# Fixed: after a transient chat.postMessage failure the retry first reads the channel's
# history, and channel_not_found there meant "retry later" forever (DLQ).
@example(batch=[request_record(INVALID, {"channel": "C0NOSUCH"})], transient=True)
# Fixed: a request too large to keep in DynamoDB was retried into the DLQ, its task never
# failed (begin_posting raised InvalidApprovalRequest where submit did not catch it). Since
# the item holds the payload once, a request SQS can carry fits: this one is posted.
@example(batch=[bulky_record()], transient=False)
def test_notifier_handles_any_batch(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    logs: LogCapture,
    batch: list[Record],
    transient: bool,
) -> None:
    log_start, call_start = len(logs.lines), len(slack.calls())
    if transient:  # one chat.postMessage answers 500: that record must be retried
        slack.inject("chat.postMessage", Fault(status=500))
    try:
        sent, response = run_batch(notifier, stack, [r.body for r in batch])
    finally:
        slack.clear_faults()
    failed = failed_indexes(sent, response)
    event(f"failed in first delivery: {sorted(batch[i].kind for i in failed)}")
    retry = check_failures(batch, sent, failed, logs, log_start)
    posts = posts_by_approval(slack)
    for index, record in enumerate(batch):
        if record.kind == UNPROCESSABLE and record.token is not None:
            assert posts[approval_id_for(record.token)] == 0, where(index, record)
    if retry:
        redeliver(notifier, stack, logs, retry)
    check_outcomes(batch, posts_by_approval(slack))
    for index, record in enumerate(batch):
        if record.token:
            assert not token_leaks(record.token, logs, log_start, slack, call_start), (
                f"the task token leaked into a log line or a Slack call: {where(index, record)}"
            )
    check_store(aws, batch)


def where(index: int, record: Record) -> str:
    return f"record {index} ({record.kind}): {record.body[:300]!r}"


#: Why a record with a usable token may be left for SQS to redeliver: Slack or DynamoDB did not
#: answer (the injected 500, a timeout of the stand-in under load), or another delivery of the
#: same request holds the posting lease (Slack may still be posting it).
TRANSIENT: Final = re.compile(
    r"HTTP 5\d\d|internal_error|Timeout|ratelimited|being posted by another delivery"
)


def failure_reasons(logs: LogCapture, since: int) -> dict[str, str]:
    """The notifier's "record failed; it will be retried" lines since ``since``, by message id."""
    reasons = {}
    for line in logs.lines[since:]:
        if "record failed; it will be retried" in line:
            entry = json.loads(line)
            reasons[entry.get("message_id")] = str(entry.get("error"))
    return reasons


def check_failures(
    batch: list[Record], sent: dict[str, Any], failed: set[int], logs: LogCapture, since: int
) -> list[Record]:
    """Every record without a usable token fails; one with a token only for a transient
    reason. Returns the records SQS redelivers."""
    reasons = failure_reasons(logs, since)
    retry = []
    for index, record in enumerate(batch):
        if record.kind == UNPROCESSABLE:
            assert index in failed, f"no usable token, but consumed: {where(index, record)}"
        elif index in failed:
            reason = reasons.get(sent["Records"][index]["messageId"], "(no reason logged)")
            assert TRANSIENT.search(reason), f"failed for good ({reason}): {where(index, record)}"
            retry.append(record)
    return retry


def redeliver(
    notifier: ModuleType, stack: ExampleStack, logs: LogCapture, retry: list[Record]
) -> None:
    """SQS redelivers after its visibility timeout, when a posting lease has ended (and again,
    up to a few times, while the failures are transient)."""
    service = notifier.service
    clock = service._clock
    for attempt in range(1, 4):
        later = timedelta(seconds=attempt * (service._policy.post_lease_seconds + 1))
        service._clock = lambda later=later: clock() + later
        since = len(logs.lines)
        try:
            sent, response = run_batch(notifier, stack, [r.body for r in retry])
        finally:
            service._clock = clock
        failed = failed_indexes(sent, response)
        retry = check_failures(
            [retry[i] for i in sorted(failed)], *_only(sent, failed), logs, since
        )
        if not retry:
            event(f"redelivered {attempt} time(s)")
            return
    raise AssertionError(f"still failing after 3 redeliveries: {retry}")


def _only(sent: dict[str, Any], failed: set[int]) -> tuple[dict[str, Any], set[int]]:
    """The sent event and failed indexes restricted to the failed records."""
    records = [sent["Records"][i] for i in sorted(failed)]
    return {"Records": records}, set(range(len(records)))


def check_outcomes(batch: list[Record], posts: Counter[str]) -> None:
    for index, record in enumerate(batch):
        if record.kind == VALID:
            assert posts[record.approval_id] == 1, f"not posted once: {where(index, record)}"
        elif record.kind == INVALID:
            assert posts[record.approval_id] == 0, f"invalid, but posted: {where(index, record)}"
        elif record.kind == AMBIGUOUS:
            assert posts[record.approval_id] <= 1, where(index, record)


def check_store(aws: Aws, batch: list[Record]) -> None:
    """What the store says agrees with what Slack shows."""
    for record in batch:
        if record.kind in (VALID, INVALID):
            try:
                status = ApprovalStore(aws.dynamodb, TABLE).get(record.approval_id).status
            except LookupError:
                status = None
            expected = {Status.PENDING} if record.kind == VALID else {None, Status.INVALID}
            assert status in expected, f"{record.kind} request stored as {status}: {record.body}"


# --- interactions -----------------------------------------------------------------------------
#
# Requests are generated as recipes that do not depend on the fixtures (so Hypothesis can replay
# and shrink them, and ``@example`` can pin them): the placeholders below are filled in with the
# target approval's id and message ts and a fresh response URL of the Slack stand-in.

TARGET_ID: Final = "<<target-id>>"
TARGET_TS: Final = "<<target-ts>>"
RESPONSE_URL: Final = "<<response-url>>"
FORM: Final = "application/x-www-form-urlencoded"
STATE_CHANGING: Final = frozenset(
    {"chat.postMessage", "chat.update", "views.open", "views.push", "views.update"}
)


@dataclass(frozen=True)
class Req:
    """A request body: ``payload`` (a form with ``payload=<JSON of data>``, as Slack sends
    interactions), ``form`` (form fields, as for slash commands), ``json`` or ``raw`` text."""

    kind: str
    data: Any
    content_type: str = FORM

    def body(self, slack: SlackStandIn, target: Posted) -> str:
        def fill(value: Any) -> Any:
            if value == RESPONSE_URL:
                return slack.response_url(channel=CHANNEL, user=EVE)
            if isinstance(value, str):  # also inside text, e.g. a modal's JSON metadata
                return value.replace(TARGET_ID, target.approval_id).replace(TARGET_TS, target.ts)
            if isinstance(value, dict):
                return {fill(k): fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        data = fill(self.data)
        if self.kind == "payload":
            return urlencode({"payload": json.dumps(data)})
        if self.kind == "form":
            return urlencode(data)
        if self.kind == "json":
            return json.dumps(data)
        return str(data)


@pytest.fixture
def rate_limits() -> bool:
    """Off in this module: Hypothesis sends hundreds of examples at one stand-in within seconds,
    far faster than Slack allows, on purpose (test_slack_standin_ratelimits.py tests the limits)."""
    return False


@pytest.fixture
def target(aws: Aws, stack: ExampleStack, notifier: ModuleType, slack: SlackStandIn) -> Posted:
    """One real, pending approval (requested by BO; ANA and the S0ONCALL group may decide)."""
    return request_approval(
        aws, stack, notifier, slack, "fuzz-target", service="checkout", requester=BO
    )


@dataclass
class Answer:
    status: int
    body: str
    crash: str | None = None  # the exception the function raised (API Gateway: 500)


def call(
    interactions: Interactions, body: str, headers: dict[str, str], *, base64: bool = False
) -> Answer:
    """The interactions Lambda behind API Gateway: an exception is a 500 to Slack."""
    event = api_gateway_v2_event(body, headers, base64=base64)
    try:
        result = interactions.module.handler(event, LocalContext(function_name="interactions"))
    except Exception as exc:  # what the Lambda runtime makes of it
        return Answer(500, "", f"{type(exc).__name__}: {exc}")
    return Answer(int(result["statusCode"]), str(result.get("body") or ""))


class ErrorTrap(logging.Handler):
    """ERROR records of any logger.

    Installed after the handlers were imported: on the root logger without Powertools'
    ``SuppressFilter("sfn-approvals")`` (which drops every logger whose name contains the
    service's), and on every logger Powertools stopped from propagating (``bot.*``: the app's
    ``on_error``). Bolt's own ``slack-bolt-app:*`` loggers, the only place a failed lazy
    listener is reported, propagate to the root.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []
        self._loggers = [logging.getLogger()] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger) and not logger.propagate
        ]

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:300]}")

    def __enter__(self) -> ErrorTrap:
        for logger in self._loggers:
            logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        for logger in self._loggers:
            logger.removeHandler(self)


@dataclass
class Snapshot:
    message: dict[str, Any]
    calls: int
    errors: int
    lazy: int
    lazy_errors: int
    task_calls: int


class Untouched:
    """The target approval must stay as it was: PENDING, its execution RUNNING, no
    SendTaskSuccess/Failure, its message unchanged, nothing posted, updated or opened in Slack,
    and no error logged (Bolt swallows a lazy listener's exception and only logs it)."""

    def __init__(
        self, aws: Aws, slack: SlackStandIn, interactions: Interactions, trap: ErrorTrap
    ) -> None:
        self.aws, self.slack, self.interactions, self.trap = aws, slack, interactions, trap
        self.task_calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            if model.name in ("SendTaskSuccess", "SendTaskFailure"):
                self.task_calls[model.name] += 1

        sfn = interactions.module.service._workflow._sfn
        sfn.meta.events.register("before-call.sfn.*", count)

    def snapshot(self, target: Posted) -> Snapshot:
        return Snapshot(
            self.slack.message(CHANNEL, target.ts),
            len(self.slack.calls()),
            len(self.trap.records),
            self.interactions.lazy.invocations,
            len(self.interactions.lazy.errors),
            self.task_calls.total(),
        )

    def check(self, target: Posted, before: Snapshot) -> None:
        self.interactions.lazy.wait()  # the lazy listeners
        assert self.interactions.lazy.errors[before.lazy_errors :] == [], "a lazy run failed"
        assert self.trap.records[before.errors :] == [], "an error was logged"
        assert self.task_calls.total() == before.task_calls, "a task was completed"
        approval = ApprovalStore(self.aws.dynamodb, TABLE).get(target.approval_id)
        assert approval.status is Status.PENDING
        execution = self.aws.sfn.describe_execution(executionArn=target.execution_arn)
        assert execution["status"] == "RUNNING"
        assert self.slack.message(CHANNEL, target.ts) == before.message
        calls = self.slack.calls()[before.calls :]
        changed = [c.method for c in calls if c.method in STATE_CHANGING]
        assert changed == [], f"Slack state changed: {changed}"


@pytest.fixture
def untouched(aws: Aws, slack: SlackStandIn, interactions: Interactions) -> Iterator[Untouched]:
    with ErrorTrap() as trap:
        yield Untouched(aws, slack, interactions, trap)


# (a) requests Slack did not sign now -------------------------------------------------------------


def click_payload(user: str, action: str, value: str, *, ts: str = TARGET_TS) -> dict[str, Any]:
    """A ``block_actions`` payload as Slack sends it for a click on the target's message."""
    body = block_actions_body(
        user_id=user,
        user_name=user.lower(),
        team_id="T0STANDIN",
        channel_id=CHANNEL,
        message_ts=ts,
        action_id=action,
        value=value,
        block_id=f"approval_actions:{value}",
        trigger_id="1700000000000.1700000000.0123456789abcdef0123456789abcdef",
        response_url=RESPONSE_URL,
    )
    payload: dict[str, Any] = json.loads(parse_qs(body)["payload"][0])
    for action_ in payload["actions"]:
        action_.pop("action_ts")
    return payload


#: ANA's Approve click on the target: it would approve, were it signed.
REAL_CLICK: Final = Req("payload", click_payload(ANA, Action.APPROVE, TARGET_ID))


@dataclass(frozen=True)
class Unsigned:
    """A request plus what is wrong with its signature headers (timestamps are relative to
    the moment it is sent)."""

    req: Req
    tamper: str
    detail: Any = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    base64: bool = False

    def headers(self, body: str) -> dict[str, str]:
        now = int(time.time())
        headers: dict[str, str] = {}
        if self.tamper == "none":
            pass
        elif self.tamper == "no-signature":
            headers = {"x-slack-request-timestamp": str(now)}
        elif self.tamper == "no-timestamp":
            headers = {"x-slack-signature": sign(SIGNING_SECRET, body, now)["x-slack-signature"]}
        elif self.tamper == "signature":  # a made-up signature
            headers = {"x-slack-request-timestamp": str(now), "x-slack-signature": self.detail}
        elif self.tamper == "secret":  # signed with another secret
            headers = sign(self.detail, body, now)
        elif self.tamper == "age":  # signed right, but too long ago (or ahead)
            headers = sign(SIGNING_SECRET, body, now + self.detail)
        elif self.tamper == "other-body":  # a valid signature of another body
            headers = sign(SIGNING_SECRET, body + self.detail, now)
        elif self.tamper == "timestamp":  # a timestamp that is not a number, signed with it
            headers = hmac_headers(SIGNING_SECRET, self.detail, body)
        else:
            raise ValueError(self.tamper)
        return {**headers, **dict(self.extra_headers), "content-type": self.req.content_type}


def hmac_headers(secret: str, timestamp: str, body: str) -> dict[str, str]:
    """Signature headers for any timestamp text (``sign`` takes only integers)."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={digest.hexdigest()}"}


def _not_an_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return True
    return False


content_types = st.sampled_from(
    [FORM, "application/json", "text/plain", "multipart/form-data; boundary=x", ""]
)
any_bodies = st.one_of(
    st.just(REAL_CLICK),
    st.builds(Req, st.just("raw"), st.text(st.characters(codec="utf-8"), max_size=300)),
    st.builds(Req, st.just("form"), st.dictionaries(odd_text, odd_text, max_size=4)),
    st.builds(Req, st.just("json"), json_values),
).flatmap(lambda req: content_types.map(lambda ct: Req(req.kind, req.data, ct)))

signatures = (
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "v0=" + h) | odd_text
)
timestamps = st.sampled_from(["", "now", "1e9", "1764072000.5", "NaN", "0x10"]) | odd_text
tampers = [
    st.tuples(st.just("none"), st.none()),
    st.tuples(st.just("no-signature"), st.none()),
    st.tuples(st.just("no-timestamp"), st.none()),
    st.tuples(st.just("signature"), signatures),
    st.tuples(
        st.just("secret"), st.text(min_size=1, max_size=40).filter(lambda s: s != SIGNING_SECRET)
    ),
    st.tuples(
        st.just("age"),
        st.integers(SLACK_WINDOW_SECONDS + 5, 10**9)
        | st.integers(-(10**9), -(SLACK_WINDOW_SECONDS + 5)),
    ),
    st.tuples(st.just("other-body"), st.text(min_size=1, max_size=20)),
    st.tuples(st.just("timestamp"), timestamps.filter(_not_an_int)),
]

extra_headers = st.lists(
    st.sampled_from(
        [
            ("x-slack-bolt-lazy-only", "1"),
            ("x-slack-bolt-lazy-function-name", "approve"),
            ("x-slack-retry-num", "1"),
            ("x-slack-retry-reason", "http_timeout"),
        ]
    ),
    unique=True,
    max_size=3,
).map(tuple)


@st.composite
def unsigned(draw: st.DrawFn) -> Unsigned:
    req = draw(any_bodies)
    tamper, detail = draw(st.one_of(*tampers))
    return Unsigned(req, tamper, detail, draw(extra_headers), draw(st.booleans()))


FIXED_5XX_UNSIGNED: Final = (
    # Fixed: Bolt parses the body before it checks the signature, and its parser raised: anyone
    # could make the function fail (500) without the signing secret. Now screened first.
    Unsigned(Req("raw", "not json", "application/json"), "none"),
    Unsigned(Req("raw", "[]", "application/json"), "none"),
    Unsigned(Req("raw", "payload=x"), "none"),
    Unsigned(Req("raw", "{"), "none"),
    # Fixed: slack_sdk's SignatureVerifier raises on a timestamp that is not an integer and on
    # a non-ASCII signature (hmac.compare_digest): it was a 500, not a 401.
    Unsigned(REAL_CLICK, "timestamp", "now"),
    Unsigned(REAL_CLICK, "timestamp", "١٢"),  # Arabic-Indic digits: int() takes them
    Unsigned(REAL_CLICK, "signature", "v0=é"),
)


def _apply(examples: list[Any]) -> Callable[[Any], Any]:
    def decorate(test: Any) -> Any:
        for pinned in reversed(examples):
            test = pinned(test)
        return test

    return decorate


@settings(max_examples=300 * SCALE, **FUZZ)
@given(request=unsigned())
@example(request=Unsigned(REAL_CLICK, "age", -(SLACK_WINDOW_SECONDS + 60)))  # 6 minutes old
@example(request=Unsigned(REAL_CLICK, "other-body", "&x=1"))
@_apply([example(request=request) for request in FIXED_5XX_UNSIGNED])
def test_requests_not_signed_by_slack_now_get_401_and_change_nothing(
    slack: SlackStandIn,
    interactions: Interactions,
    target: Posted,
    untouched: Untouched,
    request: Unsigned,
) -> None:
    body = request.req.body(slack, target)
    before = untouched.snapshot(target)
    answer = call(interactions, body, request.headers(body), base64=request.base64)
    assert answer.status == 401, answer
    untouched.check(target, before)
    assert interactions.lazy.invocations == before.lazy, "a lazy listener was started"


# (b) validly signed garbage ----------------------------------------------------------------------

MEMBERS: Final = (ANA, CY, EVE, BO)
base32_ids = st.text("abcdefghijklmnopqrstuvwxyz234567", min_size=26, max_size=26)
unknown_users = st.one_of(
    st.from_regex(r"[UW]0[A-Z0-9]{6,10}", fullmatch=True),
    st.sampled_from(["", "USLACKBOT", "B0BOT", "u0ana"]),
    odd_text,
)
#: Who may not decide the target: EVE (not an approver), BO (its requester), and ids Slack does
#: not know (users.info fails: a private refusal).
outsiders = st.sampled_from([EVE, BO]) | unknown_users
anyone = st.sampled_from(MEMBERS) | unknown_users
cursors = st.one_of(
    st.fixed_dictionaries({"mine": json_scalars}),  # no cursor: "not valid any more"
    st.fixed_dictionaries({"cursor": odd_text | st.integers(), "mine": json_scalars}),
)
forged_values = st.one_of(
    base32_ids,
    odd_text,
    st.integers(1000, 20_000).map(lambda n: "v" * n),
    json_values.map(json.dumps),
    cursors.map(json.dumps),
)
junk_json = st.one_of(json_values, st.dictionaries(odd_text, json_values, max_size=4))
DECIDING: Final = (Action.APPROVE, Action.APPROVE_FORM, Action.REJECT)


def mutate(draw: st.DrawFn, data: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Drop some of ``keys``, or replace them with JSON of any shape."""
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if draw(st.booleans()):
            data[key] = draw(junk_json)
        else:
            data.pop(key, None)
    return data


@st.composite
def garbage_clicks(draw: st.DrawFn) -> Req:
    """A ``block_actions`` payload that must not decide anything."""
    action = draw(st.sampled_from([*Action, "something.else"]) | odd_text)
    real = action in DECIDING and draw(st.booleans())
    user = draw(outsiders) if real else draw(anyone)
    value = TARGET_ID if real else draw(forged_values)
    ts = draw(st.sampled_from([TARGET_TS, "1700000000.000100"]) | odd_text)
    payload = click_payload(user, action, value, ts=ts)
    shape = draw(st.sampled_from(["as-is", "as-is", "mutated", "actions", "user"]))
    if shape == "mutated":
        keys = ["trigger_id", "team", "message", "api_app_id", "state", "enterprise"]
        payload = mutate(draw, payload, [*keys, "channel", "container"])
        if draw(st.booleans()):
            payload["type"] = draw(st.sampled_from(["interactive_message", "shortcut", "x"]))
    elif shape == "actions":
        first = payload["actions"][0]
        payload["actions"] = draw(
            st.one_of(
                st.just([{"action_id": first["action_id"]}]),  # no value
                st.just([first] * 3),
                st.lists(junk_json, max_size=2).map(lambda extra: [first, *extra]),
                st.just([]),
                st.just({}),
                junk_json,
                st.lists(junk_json, max_size=3),
            )
        )
    elif shape == "user":
        if draw(st.booleans()):
            payload.pop("user")
        else:
            payload["user"] = draw(
                st.fixed_dictionaries({"id": unknown_users | st.integers()})
                | junk_json
                | st.just(None)
            )
    return Req("payload", payload)


def modal_values(callback: str, draw: st.DrawFn) -> Any:
    text = st.one_of(
        st.just("Not on a Friday"), odd_text, st.integers(2990, 3100).map(lambda n: "r" * n)
    )
    typed = st.fixed_dictionaries({"type": st.just("plain_text_input"), "value": text | st.none()})
    if callback == Modal.APPROVE:
        blocks = st.sampled_from([Input.COMMENT_BLOCK, Input.CODE_BLOCK, "input:ticket", "input:"])
        values = st.dictionaries(blocks | odd_text, st.fixed_dictionaries({Input.VALUE: typed}))
    else:
        values = st.fixed_dictionaries(
            {Input.REASON_BLOCK: st.fixed_dictionaries({Input.REASON_INPUT: typed})}
        )
    values |= st.dictionaries(odd_text, st.dictionaries(odd_text, typed), max_size=2)
    values |= junk_json | st.dictionaries(odd_text, st.dictionaries(odd_text, junk_json))
    return draw(values)


@st.composite
def garbage_submissions(draw: st.DrawFn) -> Req:
    """A modal's ``view_submission`` with forged ``private_metadata`` or values."""
    callback = draw(st.sampled_from([*Modal, "other"]) | odd_text)
    real = draw(st.booleans())
    user = draw(outsiders) if real else draw(anyone)
    meta: dict[str, Any] = {"approval_id": TARGET_ID if real else draw(base32_ids | odd_text)}
    if draw(st.booleans()):
        # The refusal is posted there (chat.postEphemeral), also to a channel that does not
        # exist or a user who is not in it (the answer is lost, nothing fails).
        meta["channel_id"] = draw(st.sampled_from([CHANNEL]) | odd_text | junk_json)
    metadata = draw(
        st.one_of(
            st.just(json.dumps(meta)),
            odd_text,
            junk_json.map(json.dumps),
            st.integers(3000, 4000).map(lambda n: "m" * n),
        )
    )
    view = {
        "type": "modal",
        "callback_id": callback,
        "title": {"type": "plain_text", "text": "Decide"},
        "blocks": [],
    }
    body = view_submission_body(
        user_id=user,
        user_name=user.lower(),
        team_id="T0STANDIN",
        view=view,
        values={},
        private_metadata=metadata,
        trigger_id="1700000000000.1700000000.0123456789abcdef0123456789abcdef",
    )
    payload: dict[str, Any] = json.loads(parse_qs(body)["payload"][0])
    payload["view"]["state"]["values"] = modal_values(callback, draw)
    for key in ("id", "hash", "root_view_id"):
        payload["view"][key] = "V0FUZZ" if key != "hash" else "1700000000.fuzz"
    shape = draw(st.sampled_from(["as-is", "as-is", "mutated", "user", "view"]))
    if shape == "mutated":
        payload = mutate(
            draw, payload, ["team", "trigger_id", "type", "api_app_id", "response_urls"]
        )
    elif shape == "user":
        payload.pop("user")
    elif shape == "view":
        view_keys = ["private_metadata", "id", "hash", "title", "blocks", "state"]
        payload["view"] = mutate(draw, payload["view"], view_keys)
    return Req("payload", payload)


@st.composite
def garbage_commands(draw: st.DrawFn) -> Req:
    """A slash command with random text, from anyone, with some fields missing."""
    user = draw(anyone)
    words = st.sampled_from(
        ["", "mine", "all", "list", "help", "history", "history 3", "history ²", "MINE  x"]
    )
    body = slash_command_body(
        command=draw(st.sampled_from([Command.APPROVALS.value, "/other"]) | odd_text),
        text=draw(words | odd_text),
        user_id=user,
        user_name=user.lower(),
        channel_id=draw(st.sampled_from([CHANNEL, "C0NOSUCH"]) | odd_text),
        team_id="T0STANDIN",
        response_url=RESPONSE_URL,
        trigger_id="1700000000000.1700000000.0123456789abcdef0123456789abcdef",
    )
    fields = dict(parse_qsl(body, keep_blank_values=True))
    droppable = sorted(k for k in fields if k != "command")
    for key in draw(st.lists(st.sampled_from(droppable), max_size=3, unique=True)):
        fields.pop(key)
    return Req("form", fields)


@st.composite
def other_garbage(draw: st.DrawFn) -> Req:
    """Form fields, a ``payload`` that is no interaction, and JSON bodies (Events API shapes)."""
    kind = draw(st.sampled_from(["form", "payload-text", "payload-json", "json"]))
    if kind == "form":
        fields = draw(st.dictionaries(odd_text, odd_text, max_size=5))
        if draw(st.booleans()):
            fields[draw(st.sampled_from(["command", "ssl_check", "payload"]))] = draw(odd_text)
        return Req("form", fields)
    if kind == "payload-text":
        return Req("form", {"payload": draw(odd_text)})
    if kind == "payload-json":  # JSON of any shape, often an object with a string "type"
        data = draw(junk_json)
        if isinstance(data, dict) and draw(st.booleans()):
            kinds = st.sampled_from(["block_actions", "view_submission", "shortcut"])
            data["type"] = draw(kinds | odd_text)
        return Req("payload", data)
    events = st.fixed_dictionaries(
        {"type": st.sampled_from(["url_verification", "event_callback", "x"]) | odd_text},
        optional={"challenge": odd_text, "event": junk_json, "token": odd_text},
    )
    content_type = draw(st.sampled_from(["application/json", FORM]))
    return Req("json", draw(events | junk_json), content_type)


signed_garbage = st.one_of(
    garbage_clicks(), garbage_clicks(), garbage_submissions(), garbage_commands(), other_garbage()
)


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def command_fields(**overrides: Any) -> dict[str, Any]:
    """``/approvals`` as Slack sends it; an override of None drops the field."""
    body = slash_command_body(
        command=Command.APPROVALS.value,
        text="",
        user_id=EVE,
        user_name="eve",
        channel_id=CHANNEL,
        team_id="T0STANDIN",
        response_url=RESPONSE_URL,
        trigger_id="1700000000000.1700000000.0123456789abcdef0123456789abcdef",
    )
    fields: dict[str, Any] = {**dict(parse_qsl(body, keep_blank_values=True)), **overrides}
    return {k: v for k, v in fields.items() if v is not None}


def submission_payload(user: str, callback: str, metadata: str, values: Any) -> dict[str, Any]:
    body = view_submission_body(
        user_id=user,
        user_name=user.lower(),
        team_id="T0STANDIN",
        view={"type": "modal", "callback_id": callback, "id": "V0FUZZ", "hash": "1700000000.fuzz"},
        values={},
        private_metadata=metadata,
        trigger_id="1700000000000.1700000000.0123456789abcdef0123456789abcdef",
    )
    payload: dict[str, Any] = json.loads(parse_qs(body)["payload"][0])
    payload["view"]["state"]["values"] = values
    return payload


def reason(text: str) -> dict[str, Any]:
    return {Input.REASON_BLOCK: {Input.REASON_INPUT: {"type": "plain_text_input", "value": text}}}


FORGED: Final = "a" * 26  # an approval id that does not exist
#: Fixed: these (and close neighbours, pinned with them) made the function fail (500), or a lazy
#: listener fail silently.
FIXED_SIGNED: Final = (
    # Bolt's request parsing raised (JSONDecodeError, AttributeError, TypeError): now 400.
    Req("form", {"payload": "x"}),
    Req("payload", []),
    Req("payload", {"type": 1}),
    Req("json", {"type": "event_callback", "event": None}, "application/json"),
    Req("json", [], "application/json"),
    Req("form", {"x": "1"}),
    # slack_bolt 1.30.0: 2+ response_urls → build_context logs via context.logger before it is
    # set, KeyError('logger'): now 400.
    Req(
        "payload",
        {
            **submission_payload(EVE, Modal.REJECT, "{}", reason("no")),
            "response_urls": [
                {
                    "block_id": b,
                    "action_id": "a",
                    "channel_id": CHANNEL,
                    "response_url": RESPONSE_URL,
                }
                for b in "bc"
            ],
        },
    ),
    # The listeners trusted the payload's shape (IndexError, KeyError, TypeError on the ack
    # path: 500; in a lazy listener: nothing told, an error logged).
    Req("payload", {**click_payload(EVE, Action.APPROVE, FORGED), "actions": [{"action_id": 5}]}),
    Req("payload", _without(click_payload(EVE, Action.REJECT, FORGED), "user")),
    Req("payload", {**click_payload(EVE, Action.REJECT, FORGED), "user": None}),
    Req("payload", {**click_payload(EVE, Action.APPROVE_FORM, TARGET_ID), "user": {"id": 7}}),
    Req("form", command_fields(user_id=None)),
    Req("form", command_fields(user_id="")),
    Req(
        "payload", submission_payload(EVE, Modal.REJECT, json.dumps({"approval_id": FORGED}), None)
    ),
    Req("payload", submission_payload(EVE, Modal.REJECT, True, reason("no"))),  # type: ignore[arg-type]
    # users.info failed for a user Slack does not know: 500, or a failed lazy listener.
    Req("form", command_fields(text="mine", user_id="U0NOBODY")),
    Req("payload", click_payload("U0NOBODY", Action.REJECT, TARGET_ID)),
    Req("payload", click_payload("U0NOBODY", Action.APPROVE, TARGET_ID)),
    Req("payload", click_payload("U0NOBODY", Action.APPROVE_FORM, TARGET_ID)),
    # A forged "Show more" cursor: binascii.Error in the store.
    Req("payload", click_payload(EVE, Action.MORE_PENDING, json.dumps({"cursor": "x"}))),
    Req("payload", click_payload(EVE, Action.MORE_PENDING, json.dumps({"cursor": "WzFd"}))),
    # chat.postEphemeral to the metadata's channel failed (channel_not_found) in a lazy listener.
    Req(
        "payload",
        submission_payload(
            EVE,
            Modal.REJECT,
            json.dumps({"approval_id": FORGED, "channel_id": "C0NOSUCH"}),
            reason("no"),
        ),
    ),
)


#: Fixed (screen() now answers them 400 before Bolt): ``(request, what it broke)``.
KNOWN_SIGNED: Final = (
    # slack_bolt's build_context trusts the payload's top-level shape: "id" in user / channel /
    # team / enterprise raises on a number or boolean (TypeError), response_urls[0].get on a
    # non-object (AttributeError); screen() does not check these: the function fails (500).
    (Req("payload", {"type": "block_actions", "user": 0}), "user: 0 - TypeError in Bolt (500)"),
    (Req("payload", {"type": "x", "channel": True}), "channel: true - TypeError in Bolt (500)"),
    (Req("payload", {"type": "x", "team": 1}), "team: 1 - TypeError in Bolt (500)"),
    (Req("payload", {"type": "x", "enterprise": 1.5}), "enterprise: 1.5 - TypeError (500)"),
    (
        Req("payload", {"type": "view_submission", "response_urls": [None]}),
        "response_urls: [null] - AttributeError in Bolt's build_context (500)",
    ),
    # Bolt's listener matching indexes ``actions[0]`` / ``view["type"]`` before any listener
    # runs, and screen() does not check those shapes: the function fails or Bolt answers 500.
    (
        Req("payload", {**click_payload(EVE, Action.APPROVE, FORGED), "actions": []}),
        "block_actions with actions: [] - IndexError in slack_bolt's to_action (500)",
    ),
    (
        Req("payload", {**click_payload(EVE, Action.APPROVE, FORGED), "actions": {}}),
        "block_actions with actions: {} - KeyError: 0 in slack_bolt's to_action (500)",
    ),
    (
        Req("payload", {**click_payload(EVE, Action.APPROVE, FORGED), "actions": None}),
        "block_actions with actions: null - TypeError in slack_bolt's to_action (500)",
    ),
    (
        Req("payload", {**click_payload(EVE, Action.APPROVE, FORGED), "actions": [{}]}),
        "block_actions whose first action has no action_id - Bolt answers 500",
    ),
    (
        Req("payload", {**click_payload(EVE, Action.APPROVE, FORGED), "actions": [5]}),
        "block_actions whose first action is not an object - Bolt answers 500",
    ),
    (
        Req("payload", {**submission_payload(EVE, Modal.REJECT, "{}", reason("no")), "view": None}),
        "view_submission with view: null - TypeError in slack_bolt's is_view_submission (500)",
    ),
    (
        Req(
            "payload",
            {
                **submission_payload(EVE, Modal.REJECT, "{}", reason("no")),
                "view": {"callback_id": 5},
            },
        ),
        "view_submission whose view has no type - KeyError('type') in slack_bolt (500)",
    ),
    # A lazy listener (Approve, Show more, the approve and reject modals' submissions) raises
    # MalformedPayload: app.error (→ 400) does not apply to lazy runs, so Bolt logs an ERROR
    # ("Failed to run an internal function") and the user is told nothing.
    (
        Req("payload", _without(click_payload(EVE, Action.APPROVE, FORGED), "user")),
        "Approve click without user: MalformedPayload in the lazy listener, an ERROR logged",
    ),
    (
        Req("payload", {**click_payload(EVE, Action.APPROVE, TARGET_ID), "user": {"id": 7}}),
        "Approve click with user.id 7: MalformedPayload in the lazy listener, an ERROR logged",
    ),
    (
        Req("payload", {**click_payload(EVE, Action.MORE_PENDING, "{}"), "user": {"id": ""}}),
        "Show more with user.id '': MalformedPayload in the lazy listener, an ERROR logged",
    ),
    (
        Req(
            "payload",
            _without(
                submission_payload(
                    EVE, Modal.REJECT, json.dumps({"approval_id": FORGED}), reason("no")
                ),
                "user",
            ),
        ),
        "reject modal submitted without user: MalformedPayload in the lazy listener, an ERROR "
        "logged",
    ),
    (
        Req(
            "payload",
            _without(
                submission_payload(EVE, Modal.APPROVE, json.dumps({"approval_id": FORGED}), {}),
                "user",
            ),
        ),
        "approve modal submitted without user: MalformedPayload in the lazy listener, an ERROR "
        "logged",
    ),
)


def slack_shaped(body: str, content_type: str) -> bool:
    """Whether a signed body is shaped like something Slack sends this app: a form with a
    ``payload`` (a JSON object with a string ``type`` and at most one response URL), a slash
    command or an SSL check; as JSON, Slack's URL verification or an ``app_home_opened``
    event naming its user. Anything else is a 400."""
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        if isinstance(data, dict) and data.get("type") == "event_callback":  # App Home only
            event = data.get("event")
            return (
                isinstance(event, dict)
                and event.get("type") == "app_home_opened"
                and isinstance(event.get("user"), str)
                and bool(event["user"])
            )
        return isinstance(data, dict) and data.get("type") == "url_verification"
    form = parse_qs(body, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return False
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return False
        urls = payload.get("response_urls")
        return urls is None or (isinstance(urls, list) and len(urls) <= 1)
    return "command" in form or "ssl_check" in form


def _signed_example(case: tuple[Req, str]) -> Any:
    """A fixed bug's input, kept as a regression example (screen() answers it 400 now)."""
    request, _ = case
    return example(request=request)


@settings(max_examples=500 * SCALE, **FUZZ)
@given(request=signed_garbage)
@example(request=Req("payload", click_payload(EVE, Action.APPROVE, TARGET_ID)))
@example(request=Req("payload", click_payload(BO, Action.REJECT, TARGET_ID)))
@example(request=Req("payload", click_payload(ANA, Action.APPROVE, FORGED)))
@example(request=Req("payload", submission_payload(EVE, Modal.REJECT, "{}", reason("no"))))
# Fixed: "²".isdigit() is true but int("²") raises - "/approvals history ²" answered 500.
@example(request=Req("form", command_fields(text="history ²", user_id=ANA)))
@example(request=Req("form", command_fields(text="history ١٢", user_id=ANA)))  # Arabic-Indic 12
@_apply([example(request=request) for request in FIXED_SIGNED])
@_apply([_signed_example(case) for case in KNOWN_SIGNED])
def test_signed_garbage_gets_a_clear_answer_and_changes_nothing(
    slack: SlackStandIn,
    interactions: Interactions,
    target: Posted,
    untouched: Untouched,
    request: Req,
) -> None:
    body = request.body(slack, target)
    headers = {**signed_form_headers(SIGNING_SECRET, body), "content-type": request.content_type}
    before = untouched.snapshot(target)
    answer = call(interactions, body, headers)
    shaped = slack_shaped(body, request.content_type)
    event(f"signed: {'Slack-shaped' if shaped else 'not Slack-shaped'}, answered {answer.status}")
    if shaped:
        assert answer.status < 500, answer
    else:
        assert answer.status == 400, answer
    if answer.status == 200 and answer.body:
        assert "in_channel" not in answer.body, answer  # at most a private answer
    untouched.check(target, before)


# (b2) /approvals: every text is bounded and answered -------------------------------------------

NOT_UNDERSTOOD: Final = "not understood"
command_texts = st.one_of(
    st.lists(
        st.sampled_from(["", "mine", "all", "list", "help", "history", "HISTORY", "Mine", "0"])
        | st.from_regex(r"[0-9]{1,5}", fullmatch=True)
        | odd_text,
        max_size=4,
    ).map(" ".join),
    st.integers(0, 6000).map(lambda n: "history " + "9" * n),
    st.tuples(st.sampled_from(ODD), st.integers(20, 3000)).map(lambda t: t[0] * t[1]),
)


def command_kind(text: str) -> str:
    """The README's usage: ``/approvals``, ``all``, ``list``, ``mine``, ``history [n]`` with n
    from 1 to 40, ``help`` (words in any case); anything else, or over 100 characters, is not
    understood."""
    words = text.lower().split()
    if len(text) > 100:
        return NOT_UNDERSTOOD
    if words[:1] == ["help"]:
        return "help"
    if words in ([], ["all"], ["list"]):
        return "Pending approvals"
    if words == ["mine"]:
        return "Pending approvals you can decide"
    if words == ["history"]:
        return "Approval history"
    if len(words) == 2 and words[0] == "history" and re.fullmatch("[0-9]+", words[1], re.ASCII):
        return "Approval history" if 1 <= int(words[1]) <= 40 else NOT_UNDERSTOOD
    return NOT_UNDERSTOOD


@settings(max_examples=150 * SCALE, **FUZZ)
@given(text=command_texts)
# Fixed: 4,301 digits passed str.isdecimal() and int() raised (Python's int-size limit): 500.
@example(text="history " + "9" * 4301)
@example(text="bogus stuff")
@example(text="history abc")
def test_every_approvals_command_is_bounded_and_answered(
    interactions: Interactions, text: str
) -> None:
    response = interactions.slack.command(ANA, CHANNEL, text)
    assert response.status == 200, response
    body = response.json()
    assert body["response_type"] == "ephemeral"
    kind = command_kind(text)
    event(f"/approvals: {kind}")
    if kind == NOT_UNDERSTOOD:
        assert body["text"].startswith(":thinking_face: I did not understand"), body
        assert "`/approvals mine`" in body["text"]  # then the usage
        assert len(body["text"]) < 1000  # the echo of the input is bounded
    elif kind == "help":
        assert "did not understand" not in body["text"]
        assert "`/approvals mine`" in body["text"]
    else:
        assert body["blocks"][0]["text"]["text"] == kind


# (c) people Slack cannot vouch for ---------------------------------------------------------------

#: ``(user, the directory method that fails for the click or None)``: ids Slack does not know
#: (users.info: user_not_found), or Slack not answering about a known user - the approver ANA,
#: or whether EVE / CY are in the approvers' user group.
unvouched = st.one_of(
    st.tuples(
        st.from_regex(r"[UW]0[A-Z0-9]{6,10}", fullmatch=True) | non_blank(30),
        st.none(),
    ),
    st.tuples(st.sampled_from(MEMBERS), st.just("users.info")),
    st.tuples(st.sampled_from([EVE, CY]), st.just("usergroups.users.list")),
)


@settings(max_examples=40 * SCALE, **FUZZ)
@given(case=unvouched, action=st.sampled_from(DECIDING))
@example(case=("U0NOBODY", None), action=Action.APPROVE)
@example(case=("U0NOBODY", None), action=Action.REJECT)
@example(case=(ANA, "users.info"), action=Action.APPROVE)
@example(case=(CY, "usergroups.users.list"), action=Action.APPROVE_FORM)
def test_a_user_slack_cannot_vouch_for_is_refused_privately(
    slack: SlackStandIn,
    interactions: Interactions,
    target: Posted,
    untouched: Untouched,
    case: tuple[str, str | None],
    action: str,
) -> None:
    """Fixed: a failing users.info (a user Slack does not know, or Slack not answering) made
    the function fail (500) or the lazy listener fail silently. Now the clicking user is told
    privately (a refusal, or "nothing changed"), and nothing is decided or opened."""
    user, failing = case
    # A warm function remembers directory answers for a minute: forget those of earlier examples.
    interactions.module.service._slack._cache._items.clear()
    body = block_actions_body(
        user_id=user,
        user_name=user.lower(),
        team_id=slack.team_id,
        channel_id=CHANNEL,
        message_ts=target.ts,
        action_id=action,
        value=target.approval_id,
        block_id=f"approval_actions:{target.approval_id}",
        trigger_id="1700000000000.1700000000.0123456789abcdef0123456789abcdef",
        response_url=slack.response_url(channel=CHANNEL, user=user),
        message=slack.message(CHANNEL, target.ts),
    )
    before = untouched.snapshot(target)
    told = len(slack.ephemerals(user=user))
    if failing is not None:
        slack.inject(failing, Fault(status=500), times=5)
    try:
        answer = call(interactions, body, signed_form_headers(SIGNING_SECRET, body))
        untouched.check(target, before)
    finally:
        slack.clear_faults()
    assert answer.status == 200, answer
    notes = [e["text"] for e in slack.ephemerals(user=user)[told:]]
    assert len(notes) == 1, notes
    event(f"{failing or 'unknown user'}: {notes[0][:60]}")
    if failing is not None:
        assert "nothing changed" in notes[0], notes


# --- replays and stale signatures -----------------------------------------------------------------


def signed_click(slack: SlackStandIn, target: Posted, user: str, *, timestamp: int | None = None):
    """The body and headers Slack sends when ``user`` clicks Approve on the target's message."""
    body = block_actions_body(
        user_id=user,
        user_name=slack.user_name(user),
        team_id=slack.team_id,
        channel_id=CHANNEL,
        message_ts=target.ts,
        action_id=Action.APPROVE,
        value=target.approval_id,
        block_id=f"approval_actions:{target.approval_id}",
        response_url=slack.response_url(channel=CHANNEL, user=user),
        message=slack.message(CHANNEL, target.ts),
    )
    return body, signed_form_headers(SIGNING_SECRET, body, timestamp)


def test_a_replayed_click_decides_once(
    aws: Aws, slack: SlackStandIn, interactions: Interactions, target: Posted, logs: LogCapture
) -> None:
    """The same signed request twice within Slack's 5-minute window (a replay, or Slack's own
    retry): both are answered, one decision is made."""
    calls: Counter[str] = Counter()
    sfn = interactions.module.service._workflow._sfn
    sfn.meta.events.register("before-call.sfn.*", lambda model, **_: calls.update([model.name]))
    body, headers = signed_click(slack, target, ANA)

    answers = [call(interactions, body, dict(headers)) for _ in range(2)]
    interactions.wait()

    assert [a.status for a in answers] == [200, 200]
    assert calls["SendTaskSuccess"] == 1
    assert calls["SendTaskFailure"] == 0
    assert wait_for_status(aws, target.execution_arn)["status"] == "SUCCEEDED"
    approval = ApprovalStore(aws.dynamodb, TABLE).get(target.approval_id)
    assert approval.status is Status.APPROVED
    assert approval.decision is not None
    assert approval.decision.actor.id == ANA
    # At most a private note about this very decision ("already approved it" / "is approving
    # it right now", depending on whether the replay's lazy run overlaps the first one).
    told = [e["text"] for e in slack.ephemerals(user=ANA)]
    assert len(told) <= 1, told
    assert all(f"<@{ANA}>" in text and "approv" in text for text in told), told
    assert target.token not in logs.text


def test_a_click_signed_six_minutes_ago_gets_401(
    slack: SlackStandIn, interactions: Interactions, target: Posted, untouched: Untouched
) -> None:
    body, headers = signed_click(slack, target, ANA, timestamp=int(time.time()) - 6 * 60)
    before = untouched.snapshot(target)
    answer = call(interactions, body, headers)
    assert answer.status == 401
    untouched.check(target, before)
    assert interactions.lazy.invocations == before.lazy


class RootLines(logging.Handler):
    """A root handler as on Lambda after a cold start: Powertools' ``Logger(service=...)`` adds
    ``SuppressFilter(service)`` to every root handler present when it is first configured (in
    a test session only the first test's handlers get it, so it is added here explicitly)."""

    def __init__(self, service: str) -> None:
        from aws_lambda_powertools.logging.filters import SuppressFilter

        super().__init__(level=logging.INFO)
        self.addFilter(SuppressFilter(service))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


def test_a_failing_lazy_listener_reaches_the_logs(
    slack: SlackStandIn,
    interactions: Interactions,
    target: Posted,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fixed: the Bolt app was named ``sfn-approvals-bolt``, and Powertools' SuppressFilter
    (a substring match on the service name) kept its lines off the root handler."""

    def fail(*_: Any, **__: Any) -> None:
        raise RuntimeError("the lazy approve failed")

    monkeypatch.setattr(interactions.module.service, "decide", fail)
    root = RootLines(interactions.module.logger.service)
    logging.getLogger().addHandler(root)
    try:
        body, headers = signed_click(slack, target, ANA)
        assert call(interactions, body, headers).status == 200  # acked before the lazy run
        interactions.wait()
    finally:
        logging.getLogger().removeHandler(root)
    assert any("the lazy approve failed" in line for line in root.lines)
