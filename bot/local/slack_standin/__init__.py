"""A local stand-in for the Slack Web API.

`SlackStandIn` is a small HTTP server on 127.0.0.1 that answers the Web API methods this bot uses
with the response shapes and error codes of the real Slack API, so that an unmodified
``slack_sdk.WebClient(base_url=standin.url, token=...)`` can talk to it::

    with SlackStandIn(bot_token="xoxb-test") as slack:
        slack.add_channel("C0APPROVALS", "approvals")
        client = WebClient(base_url=slack.url, token="xoxb-test")
        client.chat_postMessage(channel="C0APPROVALS", text="hello")
        assert slack.messages("C0APPROVALS")[0]["text"] == "hello"

Requests may carry JSON bodies, form-encoded bodies or query strings (``slack_sdk`` uses all
three); the token is taken from ``Authorization: Bearer ...`` or, as Slack also allows, from a
``token`` argument.
Every call is recorded (`SlackStandIn.calls`), faults can be injected (`Fault`: HTTP 429 with
``Retry-After``, 5xx, Slack error codes, slow answers, "done but the answer was lost"; a fault
counts in `SlackStandIn.fired_faults` when a call meets it, response URLs included), and the
workspace state (messages, ephemeral messages, modal views) can be observed and subscribed to.

Answered methods: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``conversations.history``, ``conversations.members``, ``conversations.open``, ``views.open``,
``views.push``, ``views.update``, ``views.publish``, ``users.info``, ``users.lookupByEmail``,
``users.conversations``, ``usergroups.users.list``. Any other method answers
``{"ok": false, "error": "unknown_method"}``.

Direct messages: ``chat.postMessage`` to a user id posts in the bot's direct message with that
user (a ``D…`` conversation, opened on first use, as ``conversations.open`` opens it); the
history, updates and ephemerals work there as in a channel (`SlackStandIn.dms`,
`SlackStandIn.im_channel`). ``views.publish`` keeps each user's Home tab
(`SlackStandIn.home_view`).

Slack's rules, not ours:

* arguments (``contract``): exactly those of the same method on ``slack_sdk.WebClient``, the
  required ones from Slack's OpenAPI spec and slack_sdk (``invalid_arg_name``,
  ``invalid_arguments``);
* Block Kit (``blockkit``): parsed into ``slack_sdk.models`` and validated, plus Slack's limits
  the models lack; refused like Slack, e.g. ``{"ok": false, "error": "invalid_blocks",
  "errors": ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"],
  "response_metadata": {"messages": ["[ERROR] ..."]}}``; fallback text over 40,000 characters is
  ``msg_too_long``;
* rate limits (``ratelimits``), on by default (``rate_limits=False`` turns them off): Slack's
  tier per method and workspace, about one message a second per channel, HTTP 429 with
  ``Retry-After`` past them.

The package, one job a module: ``server`` (HTTP surface), ``state`` (workspace state),
``methods`` (the Web API methods), ``contract`` (arguments), ``blockkit`` (Block Kit),
``ratelimits`` (rate limits), ``faults`` (fault injection), ``args`` (reading arguments, Slack
errors), ``standin`` (`SlackStandIn`).
"""

from bot.local.slack_standin.faults import Fault, FiredFault
from bot.local.slack_standin.standin import RecordedCall, SlackStandIn

__all__ = ["Fault", "FiredFault", "RecordedCall", "SlackStandIn"]
