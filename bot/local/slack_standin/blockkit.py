"""Block Kit validation of messages, ephemerals, modals and Home views, as Slack rejects them.

Every block and every object in it is parsed into slack_sdk's models (``slack_sdk.models``:
`Block`, `BlockElement`, text objects, `View`) and held to their validators, which carry Slack's
documented limits (section text 3000, 10 fields of 2000, header 150, button text 75 and value
2000, action_id and block_id 255, modal title 24, private_metadata 3000, 100 blocks in a view,
...). A block or element type slack_sdk does not know is refused. On top of them, Slack's rules
the models do not check: at most 50 blocks in a message, no empty text, plain text where Slack
takes nothing else (headers, buttons, input labels, modal title/submit/close), block_id and
action_id unique, a modal with inputs has a submit button, a view is a modal or a Home tab.

Errors read like Slack's, ``"<what> [json-pointer:/blocks/0/text/text]"``: slack_sdk's messages
are re-worded where Slack's own wording is known (``must be less than 3001 characters``,
``no more than 50 items allowed``, ``missing required field: text``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.local.slack_standin.args import JsonDict, SlackError, invalid_arguments, json_arg

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BYTES: Final = 250_000
MAX_EXTERNAL_ID: Final = 255
VIEW_TYPES: Final = ("modal", "home")
# (parent type, key) whose text object must be plain_text
PLAIN_TEXT_ONLY: Final = frozenset(
    {
        ("header", "text"),
        ("button", "text"),
        ("input", "label"),
        ("modal", "title"),
        ("modal", "submit"),
        ("modal", "close"),
    }
)
TEXT_TYPES: Final = ("plain_text", "mrkdwn")
# (parent type, key) → the longest text Slack takes there, where slack_sdk does not check it
TEXT_LIMITS: Final = {("section", "fields"): 2000}

_SDK_MESSAGE: Final = re.compile(r"^(?P<attr>\w+)(?: attribute)? (?P<rest>(?:cannot|must) .+)$")
_EXCEEDS: Final = re.compile(r"^(?:cannot exceed|must be between 1 and) (?P<n>\d+) (?P<unit>\w+)$")
_VIEW_BLOCKS: Final = re.compile(r"^views must contain between 1 and (?P<n>\d+) blocks$")

# slack_sdk logs each unknown type or key it skips; the stand-in reports them instead.
logging.getLogger("slack_sdk.models").setLevel(logging.ERROR)


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.block_ids: set[str] = set()
        self.action_ids: set[str] = set()

    def add(self, pointer: str, message: str) -> None:
        self.items.append(f"{message} [json-pointer:{pointer}]")


def _slack_wording(message: str, raw: Mapping[str, Any], pointer: str) -> tuple[str, str] | None:
    """(pointer, message) for a slack_sdk validator message about the object at ``pointer``
    (None when it only repeats what `_check_text` reports: an empty text)."""
    view_blocks = _VIEW_BLOCKS.match(message)
    if view_blocks:
        n = int(view_blocks["n"])
        blocks = raw.get("blocks")
        too_many = isinstance(blocks, list) and len(blocks) > n
        return f"{pointer}/blocks", (
            f"no more than {n} items allowed" if too_many else "must provide at least 1 item"
        )
    match = _SDK_MESSAGE.match(message)
    if match is None:
        return pointer, message
    attr, rest = match["attr"], match["rest"]
    if rest == "must be specified" and attr not in raw:
        return pointer, f"missing required field: {attr}"
    if attr not in raw:
        return pointer, message
    at = f"{pointer}/{attr}"
    exceeds = _EXCEEDS.match(rest)
    if exceeds is None:
        return at, rest
    n = int(exceeds["n"])
    if exceeds["unit"] != "characters":
        return at, f"no more than {n} items allowed"
    value = raw[attr]
    if isinstance(value, dict):  # a text object: its text is what is too long
        at += "/text"
        value = value.get("text")
    if isinstance(value, str) and len(value) <= n:
        return None
    return at, f"must be less than {n + 1} characters"


def _validate(model: JsonObject, raw: Mapping[str, Any], pointer: str, errors: _Errors) -> None:
    """The model's own validators (not its children's: `_walk` visits those)."""
    try:
        model.validate_json()
    except SlackObjectFormationError as error:
        worded = _slack_wording(str(error), raw, pointer)
        if worded is not None:
            errors.add(*worded)


def _children(model: JsonObject, raw: Mapping[str, Any], pointer: str) -> Iterator[Any]:
    """(raw child, model child, pointer, key) for every object-valued key of ``raw``."""
    for key, value in raw.items():
        parsed = getattr(model, key, None)
        if isinstance(value, dict):
            yield value, parsed, f"{pointer}/{key}", key
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            items = parsed if isinstance(parsed, list) and len(parsed) == len(value) else []
            for index, item in enumerate(value):
                model_item = items[index] if items else None
                yield item, model_item, f"{pointer}/{key}/{index}", key


def _walk(raw: Any, model: Any, pointer: str, parent: str, key: str, *, errors: _Errors) -> None:
    if not isinstance(raw, dict):
        return
    kind = raw.get("type")
    if kind in TEXT_TYPES:
        _check_text(
            raw,
            pointer,
            plain_only=(parent, key) in PLAIN_TEXT_ONLY,
            max_len=TEXT_LIMITS.get((parent, key)),
            errors=errors,
        )
    if not isinstance(model, JsonObject):
        if isinstance(kind, str) and kind not in TEXT_TYPES:
            errors.add(f"{pointer}/type", f"unsupported type '{kind}'")
        return
    _check_ids(raw, pointer, errors)
    _validate(model, raw, pointer, errors)
    for child, parsed, at, child_key in _children(model, raw, pointer):
        _walk(child, parsed, at, str(kind or parent), child_key, errors=errors)


def _check_text(
    raw: Mapping[str, Any],
    pointer: str,
    *,
    plain_only: bool,
    errors: _Errors,
    max_len: int | None = None,
) -> None:
    if plain_only and raw.get("type") != "plain_text":
        errors.add(f"{pointer}/type", "must be one of plain_text")
    text = raw.get("text")
    if not isinstance(text, str):
        errors.add(f"{pointer}/text", "must be a string")
    elif not text:
        errors.add(f"{pointer}/text", "must be more than 0 characters")
    elif max_len is not None and len(text) > max_len:
        errors.add(f"{pointer}/text", f"must be less than {max_len + 1} characters")


def _check_ids(raw: Mapping[str, Any], pointer: str, errors: _Errors) -> None:
    for key, seen in (("block_id", errors.block_ids), ("action_id", errors.action_ids)):
        value = raw.get(key)
        if isinstance(value, str) and value:
            if value in seen:
                errors.add(f"{pointer}/{key}", f"duplicate {key} '{value}'")
            seen.add(value)


def _blocks(raw: Any, pointer: str, errors: _Errors) -> None:
    if not isinstance(raw, list):
        errors.add(pointer, "must be an array")
        return
    for index, block in enumerate(raw):
        at = f"{pointer}/{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.add(at, "must be an object with a string 'type'")
            continue
        errors.action_ids.clear()  # action_id is unique within a block
        try:
            model = Block.parse(block)
        except Exception:  # slack_sdk could not even build it
            errors.add(at, "is not a valid block")
            continue
        _walk(block, model, at, "", "", errors=errors)


def message_block_errors(blocks: Any) -> list[str]:
    """Slack-style errors for a message's ``blocks`` (chat.postMessage/update/postEphemeral)."""
    errors = _Errors()
    if isinstance(blocks, list) and len(blocks) > MAX_MESSAGE_BLOCKS:
        errors.add("/blocks", f"no more than {MAX_MESSAGE_BLOCKS} items allowed")
    _blocks(blocks, "/blocks", errors)
    return errors.items


def view_errors(view: JsonDict, *, allow_home: bool) -> list[str]:
    """Slack-style errors for a view (views.open/push: modals; views.update: modals or Home)."""
    errors = _Errors()
    allowed = VIEW_TYPES if allow_home else VIEW_TYPES[:1]
    view_type = view.get("type")
    if view_type not in allowed:
        errors.add("/view/type", f"must be one of {', '.join(allowed)}")
    try:
        model = View(**view)
    except Exception:
        errors.add("/view", "is not a valid view")
        return errors.items
    _validate(model, view, "/view", errors)
    for key in ("title", "submit", "close"):
        if isinstance(view.get(key), dict):
            _check_text(view[key], f"/view/{key}", plain_only=True, errors=errors)
    external_id = view.get("external_id")
    if isinstance(external_id, str) and len(external_id) > MAX_EXTERNAL_ID:
        errors.add("/view/external_id", f"must be less than {MAX_EXTERNAL_ID + 1} characters")
    blocks = view.get("blocks")
    _blocks(blocks, "/view/blocks", errors)
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if view_type == "modal" and has_input and view.get("submit") is None:
        errors.add("/view", "must provide a submit property when using input blocks")
    return errors.items


def parsed_blocks(params: Mapping[str, Any]) -> list[JsonDict] | None:
    """The ``blocks`` argument, validated as message blocks; None when not given."""
    if params.get("blocks") is None:
        return None
    try:
        blocks = json_arg(params, "blocks")
    except ValueError:
        raise SlackError("invalid_blocks_format") from None
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    errors = message_block_errors(blocks)
    if errors:
        raise SlackError("invalid_blocks", messages=errors, errors=True)
    return blocks


def parsed_metadata(params: Mapping[str, Any]) -> JsonDict | None:
    """The ``metadata`` argument ({event_type, event_payload}); None when not given.

    An empty object is returned as ``{}`` (chat.update: "remove the metadata").
    """
    if params.get("metadata") is None:
        return None
    try:
        metadata = json_arg(params, "metadata")
    except ValueError:
        raise SlackError("invalid_metadata_format") from None
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise SlackError("invalid_metadata_format")
    if not metadata:
        return {}
    event_type, payload = metadata.get("event_type"), metadata.get("event_payload")
    if not isinstance(event_type, str) or not event_type or not isinstance(payload, dict):
        raise SlackError("invalid_metadata_schema")
    return {"event_type": event_type, "event_payload": payload}


def parsed_view(params: Mapping[str, Any], *, allow_home: bool = False) -> JsonDict:
    if params.get("view") is None:
        raise invalid_arguments("missing required field: view")
    try:
        view = json_arg(params, "view")
    except ValueError:
        raise invalid_arguments("failed to parse view as JSON [json-pointer:/view]") from None
    if not isinstance(view, dict):
        raise invalid_arguments("must be an object [json-pointer:/view]")
    if len(json.dumps(view)) > MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    errors = view_errors(view, allow_home=allow_home)
    if errors:
        raise invalid_arguments(*errors)
    return view
