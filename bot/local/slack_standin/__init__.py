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
``Retry-After``, 5xx, Slack error codes, slow answers, "done but the answer was lost"), and the
workspace state (messages, ephemeral messages, modal views) can be observed and subscribed to.

Answered methods: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``conversations.history``, ``conversations.members``, ``views.open``, ``views.push``,
``views.update``, ``users.info``, ``users.lookupByEmail``, ``users.conversations``,
``usergroups.users.list``. Any other method answers
``{"ok": false, "error": "unknown_method"}``.

Validation follows Slack's documented limits where they matter to an app: at most 50 blocks in a
message (100 in a modal), section text up to 3000 characters, section fields up to 10 x 2000,
header text up to 150, button text up to 75 and button value up to 2000 characters, block_id and
action_id up to 255, message text up to 40000 characters, modal title/submit/close up to 24,
private_metadata up to 3000. Block errors are reported like Slack does, e.g.
``{"ok": false, "error": "invalid_blocks", "errors": ["must be less than 3001 characters
[json-pointer:/blocks/0/text/text]"], "response_metadata": {"messages": ["[ERROR] ..."]}}``.


The package, one job a module: ``server`` (HTTP surface), ``state`` (workspace state),
``methods`` (the Web API methods), ``blockkit`` (Block Kit validation), ``args`` (reading
arguments, Slack errors), ``faults`` (fault injection), ``standin`` (`SlackStandIn`).
"""

from bot.local.slack_standin.faults import Fault, FiredFault
from bot.local.slack_standin.standin import RecordedCall, SlackStandIn

__all__ = ["Fault", "FiredFault", "RecordedCall", "SlackStandIn"]
