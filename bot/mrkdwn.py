# Look-alike characters (‹ › ＠ ∗ ˋ) are this module's subject, not typos:
# ruff: noqa: RUF002, RUF003
"""What workflow-author text may do in Slack: the mrkdwn rule, in one place.

Workflow text may *format* (bold, italics, strike, code, code blocks, quotes, lists, emoji,
user mentions ``<@U…>``, channel mentions ``<#C…>``, dates ``<!date^…|…>``, links), but it
never **broadcasts** to a channel or a group and never **hides a link's real target**:

* ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<!group>`` and ``<!subteam^…>`` are refused
  in ``approval.text`` when the request is parsed (:func:`text_problem`); anywhere else, and any
  other ``<…>`` the bot does not recognise, is shown as typed but inert, with ``‹ ›`` for
  ``< >`` (:func:`author_mrkdwn`). ``@channel``, ``@here``, ``@everyone`` and ``@group`` typed
  as words get a full-width ``＠``, so no client or parse mode turns them into broadcasts.
* A labelled link shows its real host after the label: ``<https://evil.example|bank.com>``
  renders as ``bank.com (evil.example)`` (host names in their ASCII form, so a look-alike
  ``bаnk.com`` shows as ``xn--bnk-…``). A link whose target has ``user:pass@``, a backslash, or
  an invisible, bidi or control character (U+202A–U+202E, U+2066–U+2069, U+200B–U+200F, …) is
  refused at parse time (:func:`link_problem`) and shown inert if it is ever rendered.
* Explicit bidi controls (embeddings, overrides, isolates) are removed from author text: they
  could reorder what is shown around them, the disclosed host included.

Plain author text (titles, field labels and values, link labels) is escaped with :func:`plain`,
and titles shown in bold with :func:`plain_bold`, which also swaps ``*`` and the backtick for
look-alikes (``∗``, ``ˋ``): Slack has no escape character, and either would break the bold.
The neutralisations keep the length (except the disclosed hosts), so Slack's limits can be
checked when a request is parsed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final
from urllib.parse import urlsplit

BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
BROADCASTS: Final = frozenset({"channel", "here", "everyone", "group", "subteam"})
LINK_SCHEMES: Final = ("https://", "http://", "mailto:")

_ENTITY: Final = re.compile(r"<([^<>]*)>")
_TYPED_BROADCAST: Final = re.compile(r"(?<![\w.+\-@])@(channel|here|everyone|group)\b", re.I)
_USER: Final = re.compile(r"^@([UW][A-Z0-9]{2,})(?:\|[^|]*)?$")
_CHANNEL: Final = re.compile(r"^#([CG][A-Z0-9]{2,})(?:\|[^|]*)?$")
_DATE: Final = re.compile(r"^!date\^(\d{1,12})\^([^|^]+)(?:\^[^|]*)?\|([^|]+)$")
_URL: Final = re.compile(r"^(?P<url>(?:https?://|mailto:)[^|]*)(?:\|(?P<label>.*))?$", re.I)
_BARE_URL: Final = re.compile(r"https?://[^\s<>|]+", re.I)
_HOST: Final = re.compile(r"^(?:[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?\.?)+$|^[0-9a-f:.]*:[0-9a-f:.]*$")
_SCHEME: Final = re.compile(r"^(?:https?://|mailto:)", re.I)
_BOLD_BREAKERS: Final = str.maketrans({"*": "\u2217", "`": "\u02cb"})
_INERT: Final = str.maketrans({"<": "\u2039", ">": "\u203a"})


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def strip_bidi(text: str) -> str:
    """Without explicit bidi embeddings, overrides and isolates."""
    return "".join(c for c in text if c not in BIDI_CONTROLS) if _has_bidi(text) else text


def _has_bidi(text: str) -> bool:
    return any(c in BIDI_CONTROLS for c in text)


def defuse(text: str) -> str:
    """``@channel``-style words with a full-width ``＠``: shown alike, never a broadcast."""
    return _TYPED_BROADCAST.sub(lambda m: "\uff20" + m.group(1), text)


def plain(text: str) -> str:
    """Author plain text for a mrkdwn field: escaped, defused, without bidi controls."""
    return defuse(escape(strip_bidi(text)))


def plain_bold(text: str) -> str:
    """Author plain text shown inside ``*…*`` (or inline code): nothing in it can end the span."""
    return plain(text).translate(_BOLD_BREAKERS)


def inert(text: str) -> str:
    """Text shown as typed but never parsed as an entity: ``<…>`` becomes ``‹…›``."""
    return defuse(strip_bidi(text)).translate(_INERT)


# --- links ---------------------------------------------------------------------------------------


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cs", "Cn")


def link_problem(url: str, *, schemes: tuple[str, ...] = LINK_SCHEMES) -> str | None:
    """Why ``url`` cannot be shown as a link whose real target the reader sees, or None."""
    if not url.lower().startswith(schemes):
        return f"must start with {' or '.join(schemes)}"
    bad = next((c for c in url if _invisible(c) or c in '<>|\\"'), None)
    if bad is not None:
        return f"contains {_describe(bad)}, which could hide the real target"
    if url.lower().startswith("mailto:"):
        return None if "@" in url else "must be mailto:name@host"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if "@" in parts.netloc:
        return "has user:password@ before the host, which hides the real host"
    if not host:
        return "has no host"
    if _ascii_host(host) is None:
        return f"has a host that cannot be shown as it is ({host!r})"
    return None


def _describe(char: str) -> str:
    if _invisible(char):
        name = unicodedata.name(char, "unnamed")
        return f"the invisible or control character U+{ord(char):04X} ({name})"
    return "a space" if char == " " else f"the character {char!r}"


def _ascii_host(host: str) -> str | None:
    """The host as it really resolves, in ASCII (IDNA), or None if it is not a plain host."""
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    return ascii_host.lower() if _HOST.match(ascii_host.lower()) else None


def target(url: str) -> str:
    """What a link really opens, for the reader: the host (ASCII), or the mail address."""
    if url.lower().startswith("mailto:"):
        return url[len("mailto:") :].split("?", 1)[0]
    host = urlsplit(url).hostname or ""
    return _ascii_host(host) or host


def link(url: str, label: str | None) -> str:
    """A link that shows where it goes: ``<url|label> (host)``; inert if it cannot."""
    if link_problem(url) is not None:
        return inert(f"<{url}|{label}>" if label is not None else f"<{url}>")
    if label is None:
        return f"<{url}>"
    shown = inert(label)
    real = target(url)
    said = _SCHEME.sub("", label.strip()).rstrip("/").lower()
    if said in (real.lower(), _SCHEME.sub("", url).rstrip("/").lower()):
        return f"<{url}|{shown}>"  # the label is the target itself
    return f"<{url}|{shown}> ({real})"


# --- author mrkdwn (approval.text) ---------------------------------------------------------------


def _broadcast(body: str) -> str | None:
    """The broadcast an entity body names (``!here``, ``!subteam^S1|@ops`` …), or None."""
    if not body.startswith("!"):
        return None
    name = re.split(r"[|^]", body[1:], maxsplit=1)[0].lower()
    return name if name in BROADCASTS else None


def _entity(body: str) -> str:
    """One ``<…>`` of author mrkdwn, rendered by the rule."""
    if match := _USER.match(body):
        return f"<@{match.group(1)}>"
    if match := _CHANNEL.match(body):
        return f"<#{match.group(1)}>"
    if match := _DATE.match(body):
        epoch, fmt, fallback = match.groups()
        return f"<!date^{epoch}^{fmt}|{inert(fallback)}>"
    if match := _URL.match(body):
        return link(match.group("url"), match.group("label"))
    return inert(f"<{body}>")


def _authority(url: str) -> str:
    """The part of a bare ``http(s)://`` URL before its path, as a browser would cut it."""
    return re.split(r"[/?#]", _SCHEME.sub("", url), maxsplit=1)[0]


def _text_outside(text: str) -> str:
    """Author text between entities: defused; a bare URL with ``user@`` shows its real host."""

    def disclose(match: re.Match[str]) -> str:
        url = match.group(0)
        authority = _authority(url)
        if "@" not in authority or "\\" in authority:
            return url
        return f"{url} ({authority.rsplit('@', 1)[1].split(':', 1)[0].lower()})"

    return _BARE_URL.sub(disclose, defuse(text))


def author_mrkdwn(text: str) -> str:
    """``approval.text`` as Slack gets it: formatting kept, broadcasts and disguises not."""
    text = strip_bidi(text)
    out: list[str] = []
    position = 0
    for match in _ENTITY.finditer(text):
        out.append(_text_outside(text[position : match.start()]))
        out.append(_entity(match.group(1)))
        position = match.end()
    out.append(_text_outside(text[position:]))
    return "".join(out)


def text_problem(text: str) -> str | None:
    """Why ``approval.text`` is refused when parsed (a broadcast, a link that hides where it
    goes), or None. Anything else the rule neutralises when rendering."""
    for match in _ENTITY.finditer(text):
        body = match.group(1)
        name = _broadcast(body)
        if name is not None:
            return (
                f"notifies a whole channel or group ({inert(match.group(0))}): mention people "
                "with <@U…> instead"
            )
        url = _URL.match(body)
        if url is not None:
            problem = link_problem(url.group("url"))
            if problem is not None:
                return f"has a link that {problem}"
    for match in _BARE_URL.finditer(text):
        authority = _authority(match.group(0))
        if "@" in authority or "\\" in authority:
            shown = inert(match.group(0)[:80])
            return f"has a link ({shown}) whose real host is hidden by a user@ or a backslash"
    return None


# --- the bot's own mrkdwn ------------------------------------------------------------------------

_OWN_ENTITY: Final = re.compile(
    r"<(?:@[UW][A-Z0-9]{2,}|#[CG][A-Z0-9]{2,}|!subteam\^S[A-Z0-9]{2,}"
    r"|!date\^\d{1,12}\^[^<>|^]+\|[^<>|]+)>"
)


def own_mrkdwn(text: str) -> str:
    """Text the bot wrote (a refusal reason) shown again: its mentions and dates stay mentions
    and dates, and anything else is escaped (stored reasons may quote author input)."""
    out: list[str] = []
    position = 0
    for match in _OWN_ENTITY.finditer(text):
        out.append(plain(text[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(plain(text[position:]))
    return "".join(out)
