"""The argument contract of each served Web API method: Slack's, not ours.

* **Accepted** arguments are exactly the parameters of the same method on
  ``slack_sdk.WebClient`` (``users.lookupByEmail`` → ``WebClient.users_lookupByEmail``),
  introspected at import so that a slack_sdk upgrade moves them, plus ``token`` and the
  arguments a ``WebClient`` adds to every call it makes (``default_params``: ``team_id`` when
  built with one, as Bolt builds its per-request client).
* **Required** arguments are those Slack's OpenAPI spec marks required
  (``slack_web_api_spec_excerpt.json``: an excerpt of slackapi/slack-api-specs, MIT, October
  2020) together with those slack_sdk's signature requires (it follows Slack's current method
  docs, e.g. ``channel`` of conversations.history, ``user`` of users.info, ``view`` of
  views.update). Where Slack's docs accept either of two arguments, the pair is one
  requirement (`ONE_OF`): views.open/views.push take ``trigger_id`` or
  ``interactivity_pointer``; views.update takes ``view_id`` or ``external_id``.

What a call that breaks the contract is answered:

* an **absent** required argument: ``invalid_arguments`` with
  ``response_metadata.messages: ["[ERROR] missing required field: <name>"]``, Slack's shape for
  a missing field (e.g. views.open without ``view`` answers ``"[ERROR] missing required field:
  title [json-pointer:/view]"``). One that is present but empty or names nothing is left to the
  method, which answers the resolution error (``channel_not_found``, ``user_not_found``...), as
  Slack does.
* an **unknown** argument: ``invalid_arg_name`` (Slack's common error: "The method was passed an
  argument whose name falls outside the bounds of accepted or expected values"), with a
  ``response_metadata`` message naming it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from slack_sdk import WebClient

from bot.local.slack_standin.args import SlackError

SPEC_EXCERPT: Final = Path(__file__).with_name("slack_web_api_spec_excerpt.json")

# What slack_sdk sends with every call of a client built with all its per-call defaults.
CLIENT_DEFAULT_ARGUMENTS: Final = frozenset(WebClient(team_id="T0").default_params)

# Pairs of which Slack's method docs require one (slack_sdk checks the same before sending).
ONE_OF: Final[dict[str, tuple[frozenset[str], ...]]] = {
    "views.open": (frozenset({"trigger_id", "interactivity_pointer"}),),
    "views.push": (frozenset({"trigger_id", "interactivity_pointer"}),),
    "views.update": (frozenset({"view_id", "external_id"}),),
}


def sdk_method_name(method: str) -> str:
    """``users.lookupByEmail`` → ``users_lookupByEmail`` (WebClient keeps Slack's camelCase)."""
    return method.replace(".", "_")


@dataclass(frozen=True)
class MethodContract:
    method: str
    accepted: frozenset[str]  # slack_sdk's parameters + token
    required: frozenset[str]  # each of these must be present
    one_of: tuple[frozenset[str], ...]  # of each group, at least one must be present

    def check(self, params: Mapping[str, Any]) -> None:
        """Raise the `SlackError` Slack answers when ``params`` break the contract."""
        unknown = sorted(name for name in params if name not in self.accepted)
        if unknown:
            raise SlackError(
                "invalid_arg_name", messages=[f"unknown argument: {name}" for name in unknown]
            )
        missing = sorted(name for name in self.required if _absent(params, name))
        missing += [
            " or ".join(sorted(group))
            for group in self.one_of
            if all(_absent(params, name) for name in group)
        ]
        if missing:
            raise SlackError(
                "invalid_arguments", messages=[f"missing required field: {m}" for m in missing]
            )


def _absent(params: Mapping[str, Any], name: str) -> bool:
    return params.get(name) is None


def sdk_parameters(method: str) -> tuple[frozenset[str], frozenset[str]]:
    """(all, required) named parameters of ``WebClient.<method>`` (``**kwargs`` left out)."""
    signature = inspect.signature(getattr(WebClient, sdk_method_name(method)))
    named = [
        p
        for p in signature.parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    return (
        frozenset(p.name for p in named),
        frozenset(p.name for p in named if p.default is inspect.Parameter.empty),
    )


@cache
def spec_required() -> dict[str, frozenset[str]]:
    """Required arguments by method, from the excerpt of Slack's OpenAPI spec."""
    methods = json.loads(SPEC_EXCERPT.read_text(encoding="utf-8"))["methods"]
    return {name: frozenset(entry["required"]) for name, entry in methods.items()}


def contract_for(method: str) -> MethodContract:
    accepted, sdk_required = sdk_parameters(method)
    one_of = ONE_OF.get(method, ())
    in_groups = frozenset().union(*one_of)
    required = (spec_required().get(method, frozenset()) | sdk_required) - in_groups
    return MethodContract(method, accepted | {"token"} | CLIENT_DEFAULT_ARGUMENTS, required, one_of)


def contracts(methods: Iterable[str]) -> dict[str, MethodContract]:
    return {method: contract_for(method) for method in methods}
