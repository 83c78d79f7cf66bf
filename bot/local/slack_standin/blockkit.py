"""Block Kit validation: the limits an app runs into, reported as Slack reports them.

Errors are Slack-style strings, ``"<what> [json-pointer:/blocks/0/text/text]"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from bot.local.slack_standin.args import JsonDict, SlackError, invalid_arguments, json_arg

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_VIEW_BYTES: Final = 250_000
_BLOCK_TYPES: Final = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)


class BlockChecker:
    """Collects Slack-style error strings ("<what> [json-pointer:/path]") for blocks and views."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, pointer: str, message: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    # text objects and strings ------------------------------------------------------------

    def string(self, value: Any, pointer: str, *, max_len: int, required: bool = True) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str):
            self.fail(pointer, "must be a string")
        elif len(value) > max_len:
            self.fail(pointer, f"must be less than {max_len + 1} characters")

    def text(
        self,
        obj: Any,
        pointer: str,
        *,
        max_len: int,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        if obj is None and not required:
            return
        if not isinstance(obj, dict):
            self.fail(pointer, "must be a text object")
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.fail(f"{pointer}/type", f"must be one of {', '.join(allowed)}")
        text = obj.get("text")
        if not isinstance(text, str):
            self.fail(f"{pointer}/text", "must be a string")
        elif not text:
            self.fail(f"{pointer}/text", "must be more than 0 characters")
        elif len(text) > max_len:
            self.fail(f"{pointer}/text", f"must be less than {max_len + 1} characters")

    # elements ----------------------------------------------------------------------------

    def element(self, element: Any, pointer: str, action_ids: set[str]) -> None:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.fail(pointer, "must be an object with a string 'type'")
            return
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not action_id or len(action_id) > 255:
                self.fail(f"{pointer}/action_id", "must be a string of 1 to 255 characters")
            elif action_id in action_ids:
                self.fail(f"{pointer}/action_id", f"duplicate action_id '{action_id}'")
            else:
                action_ids.add(action_id)
        if element["type"] == "button":
            self.text(element.get("text"), f"{pointer}/text", max_len=75, plain_only=True)
            self.string(element.get("value"), f"{pointer}/value", max_len=2000, required=False)
            self.string(element.get("url"), f"{pointer}/url", max_len=3000, required=False)
            style = element.get("style")
            if style is not None and style not in ("primary", "danger"):
                self.fail(f"{pointer}/style", "must be one of primary, danger")

    def elements(self, elements: Any, pointer: str, *, max_items: int) -> None:
        if not isinstance(elements, list) or not elements:
            self.fail(pointer, "must be a non-empty array")
            return
        if len(elements) > max_items:
            self.fail(pointer, f"no more than {max_items} items allowed")
        action_ids: set[str] = set()
        for index, element in enumerate(elements):
            self.element(element, f"{pointer}/{index}", action_ids)

    # blocks ------------------------------------------------------------------------------

    def blocks(self, blocks: Any, pointer: str, *, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.fail(pointer, "must be an array")
            return
        if len(blocks) > max_blocks:
            self.fail(pointer, f"no more than {max_blocks} items allowed")
        block_ids: set[str] = set()
        for index, block in enumerate(blocks):
            self.block(block, f"{pointer}/{index}", block_ids)

    def block(self, block: Any, pointer: str, block_ids: set[str]) -> None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            self.fail(pointer, "must be an object with a string 'type'")
            return
        block_type = block["type"]
        if block_type not in _BLOCK_TYPES:
            self.fail(f"{pointer}/type", f"unsupported type '{block_type}'")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                self.fail(f"{pointer}/block_id", "must be a string of 1 to 255 characters")
            elif block_id in block_ids:
                self.fail(f"{pointer}/block_id", f"duplicate block_id '{block_id}'")
            else:
                block_ids.add(block_id)
        checks: dict[str, Callable[[JsonDict, str], None]] = {
            "section": self._section,
            "header": self._header,
            "actions": self._actions,
            "context": self._context,
            "input": self._input,
            "image": self._image,
        }
        check = checks.get(block_type)
        if check is not None:
            check(block, pointer)

    def _section(self, block: JsonDict, pointer: str) -> None:
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            self.fail(pointer, "must provide either text or fields")
        self.text(text, f"{pointer}/text", max_len=3000, required=False)
        if fields is not None:
            if not isinstance(fields, list) or not fields:
                self.fail(f"{pointer}/fields", "must be a non-empty array")
            else:
                if len(fields) > 10:
                    self.fail(f"{pointer}/fields", "no more than 10 items allowed")
                for index, item in enumerate(fields):
                    self.text(item, f"{pointer}/fields/{index}", max_len=2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory", set())

    def _header(self, block: JsonDict, pointer: str) -> None:
        self.text(block.get("text"), f"{pointer}/text", max_len=150, plain_only=True)

    def _actions(self, block: JsonDict, pointer: str) -> None:
        self.elements(block.get("elements"), f"{pointer}/elements", max_items=25)

    def _context(self, block: JsonDict, pointer: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{pointer}/elements", "must be a non-empty array")
            return
        if len(elements) > 10:
            self.fail(f"{pointer}/elements", "no more than 10 items allowed")
        for index, element in enumerate(elements):
            item = f"{pointer}/elements/{index}"
            if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                self.text(element, item, max_len=3000)
            elif not isinstance(element, dict) or element.get("type") != "image":
                self.fail(item, "must be a text object or an image element")

    def _input(self, block: JsonDict, pointer: str) -> None:
        self.text(block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True)
        self.text(block.get("hint"), f"{pointer}/hint", max_len=2000, required=False)
        if block.get("element") is None:
            self.fail(f"{pointer}/element", "missing required field: element")
        else:
            self.element(block["element"], f"{pointer}/element", set())

    def _image(self, block: JsonDict, pointer: str) -> None:
        self.string(block.get("alt_text"), f"{pointer}/alt_text", max_len=2000)
        if block.get("image_url") is None and block.get("slack_file") is None:
            self.fail(pointer, "must provide either image_url or slack_file")
        self.string(block.get("image_url"), f"{pointer}/image_url", max_len=3000, required=False)
        self.text(block.get("title"), f"{pointer}/title", max_len=2000, required=False)

    # views -------------------------------------------------------------------------------

    def view(self, view: JsonDict, pointer: str, *, allow_home: bool) -> None:
        view_type = view.get("type")
        allowed = ("modal", "home") if allow_home else ("modal",)
        if view_type not in allowed:
            self.fail(f"{pointer}/type", f"must be one of {', '.join(allowed)}")
        if view_type == "modal":
            self.text(view.get("title"), f"{pointer}/title", max_len=24, plain_only=True)
            for key in ("submit", "close"):
                self.text(
                    view.get(key), f"{pointer}/{key}", max_len=24, plain_only=True, required=False
                )
        blocks = view.get("blocks")
        self.blocks(blocks, f"{pointer}/blocks", max_blocks=MAX_VIEW_BLOCKS)
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if view_type == "modal" and has_input and view.get("submit") is None:
            self.fail(pointer, "must provide a submit property when using input blocks")
        self.string(
            view.get("private_metadata"),
            f"{pointer}/private_metadata",
            max_len=3000,
            required=False,
        )
        for key in ("callback_id", "external_id"):
            self.string(view.get(key), f"{pointer}/{key}", max_len=255, required=False)


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
    checker = BlockChecker()
    checker.blocks(blocks, "/blocks", max_blocks=MAX_MESSAGE_BLOCKS)
    if checker.errors:
        raise SlackError("invalid_blocks", messages=checker.errors, errors=True)
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
    checker = BlockChecker()
    checker.view(view, "/view", allow_home=allow_home)
    if checker.errors:
        raise invalid_arguments(*checker.errors)
    return view
