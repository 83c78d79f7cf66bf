"""The Bolt app: translates Slack interactions into calls of :class:`~bot.service.ApprovalService`.

Every listener acknowledges at once; the work behind a decision runs in a *lazy* listener,
which on Lambda re-invokes the function asynchronously (``process_before_response=True``).
Lazy work is idempotent: ``ApprovalService.decide`` tolerates a retried invocation.

* **Approve** (confirm dialog in the message) → ack → lazy ``decide(approved)``.
* **Reject** → check the user may decide → ``views.open`` the reason modal (needs the
  ``trigger_id`` within 3 s, so this part is synchronous) → on submit, ack (the modal closes)
  → lazy ``decide(rejected, reason)``.
* ``/approvals [mine|help]`` → the first page in the ack; "Show more" → lazy ``respond``.
* A group message's item buttons work as the request's own; **Approve all** → ack → lazy
  ``decide_all``; **Reject all** → one reason modal → lazy ``decide_all(rejected)``.
* ``app_home_opened`` → ack → lazy ``views.publish`` of the person's Home tab; a click on the
  Home tab is answered on the Home tab (it has no channel).

The payloads are parsed at the boundary by :mod:`bot.slack_payloads`.

Private answers (refusals, "someone was faster") are ephemeral: ``respond`` for clicks,
``chat.postEphemeral`` in the request's channel for modal submissions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Final, Literal

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks import (
    HELP_TEXT,
    MAX_REASON_CHARS,
    approve_modal,
    history_list,
    not_understood,
    pending_list,
    reject_modal,
)
from bot.group_blocks import reject_all_modal
from bot.ids import Action, Command, Event, Input, Modal
from bot.service import (
    ApprovalService,
    ApproveForm,
    DecisionResult,
    Verdict,
)
from bot.service.groups import AllResult
from bot.slack_gateway import SlackRejected, SlackUnavailable
from bot.slack_payloads import (
    APPROVAL_ID_RE,
    GROUP_ID_RE,
    ApprovalsCommand,
    Click,
    GroupClick,
    MalformedPayload,
    as_dict,
    form_errors,
    form_values,
    from_home,
    item_action,
    metadata_of,
    reason_of,
    user_id_of,
)

log = logging.getLogger(__name__)

SLACK_DID_NOT_ANSWER: Final = "Slack did not answer in time, so nothing changed. Please try again."
INVALID_BUTTON: Final = (
    "This button is not valid any more. Use `/approvals` to see what is pending."
)


def _ack_only(ack: Ack) -> None:
    ack()


def _post_ephemeral(client: WebClient, channel: str, user: str, text: str) -> None:
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:  # the answer is lost; the decision is not
        log.warning("ephemeral answer failed: %s", exc.response.get("error"))


def _tell(respond: Respond, text: str) -> None:
    """A private answer to the clicking user, under the message they clicked."""
    respond(text=text, response_type="ephemeral", replace_original=False)


class Listeners:
    """The listeners, each a thin translation from a Slack payload to a service call."""

    def __init__(
        self,
        service: ApprovalService,
        on_decision: Callable[[DecisionResult], None] | None = None,
    ) -> None:
        self.service = service
        self._on_decision = on_decision

    def _decide(
        self,
        approval_id: str,
        user_id: str,
        outcome: Literal["approved", "rejected"],
        comment: str | None = None,
        *,
        form: ApproveForm | None = None,
    ) -> DecisionResult:
        """``service.decide``, its result told to ``on_decision`` (the handler's metrics)."""
        result = self.service.decide(approval_id, user_id, outcome, comment, form=form)
        if self._on_decision is not None:
            self._on_decision(result)
        return result

    def _answer(self, body: dict[str, Any], respond: Respond | None, text: str) -> None:
        """A private answer to a click: under the message, or on the Home tab it came from."""
        if respond is not None and not from_home(body):
            _tell(respond, text)
        else:
            self._tell_home(user_id_of(body), text)

    def _tell_home(self, user_id: str, text: str | None) -> None:
        """Republish ``user_id``'s Home tab with ``text`` on top (the answer to their click)."""
        try:
            self.service.publish_home(user_id, notice=text or None)
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("views.publish failed: %s", exc)

    def register(self, app: App) -> None:
        app.action(Action.APPROVE.value)(ack=_ack_only, lazy=[self.approve])
        app.action(Action.APPROVE_FORM.value)(self.open_approve_modal)
        app.view(Modal.APPROVE.value)(ack=self.validate_approve_form, lazy=[self.approve_with_form])
        app.action(Action.REJECT.value)(self.open_reject_modal)
        app.view(Modal.REJECT.value)(ack=self.validate_reason, lazy=[self.reject])
        app.command(Command.APPROVALS.value)(self.approvals_command)
        # Group messages: per-item buttons are "<action>:<n>", handled as a single request's.
        app.action(item_action(Action.APPROVE))(ack=_ack_only, lazy=[self.approve])
        app.action(item_action(Action.APPROVE_FORM))(self.open_approve_modal)
        app.action(item_action(Action.REJECT))(self.open_reject_modal)
        app.action(Action.APPROVE_ALL.value)(ack=_ack_only, lazy=[self.approve_all])
        app.action(Action.REJECT_ALL.value)(self.open_reject_all_modal)
        app.view(Modal.REJECT_ALL.value)(ack=self.validate_reason, lazy=[self.reject_all])
        app.action(Action.MORE_PENDING.value)(ack=_ack_only, lazy=[self.more])
        app.event(Event.APP_HOME_OPENED.value)(ack=_ack_only, lazy=[self.home_opened])
        app.error(self.on_error)

    # Approve ---------------------------------------------------------------------------------

    def approve(self, body: dict[str, Any], respond: Respond | None) -> None:
        click = Click.from_body(body)
        if click.approval_id is None:
            self._answer(body, respond, INVALID_BUTTON)
            return
        result = self._decide(click.approval_id, click.user_id, "approved")
        if from_home(body):
            self._tell_home(click.user_id, result.text)
        elif result.text and respond is not None:
            _tell(respond, result.text)

    # Approve with the form (inputs, comment, high-risk code) --------------------------------

    def _open_modal(
        self,
        ack: Ack,
        body: dict[str, Any],
        client: WebClient,
        respond: Respond | None,
        render: Callable[..., dict[str, Any]],
    ) -> None:
        """Check the user may decide, then open a modal (the trigger id lives 3 s: no lazy)."""
        ack()
        click = Click.from_body(body)
        if click.approval_id is None:
            self._answer(body, respond, INVALID_BUTTON)
            return
        result = self.service.check(click.approval_id, click.user_id)
        if result.verdict is not Verdict.ALLOWED or result.approval is None:
            self._answer(body, respond, result.text)
            return
        client.views_open(
            trigger_id=body["trigger_id"], view=render(result.approval, channel_id=click.channel_id)
        )

    def open_approve_modal(
        self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond | None
    ) -> None:
        self._open_modal(ack, body, client, respond, approve_modal)

    def validate_approve_form(self, ack: Ack, view: dict[str, Any]) -> None:
        approval_id = metadata_of(view).get("approval_id")
        if not isinstance(approval_id, str) or not APPROVAL_ID_RE.match(approval_id):
            ack()
            return  # forged metadata: the lazy listener ignores it too
        errors = self.service.approve_form(approval_id, form_values(view))[1]
        if errors:
            ack(response_action="errors", errors=form_errors(errors))
        else:
            ack()

    def approve_with_form(
        self, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        meta = metadata_of(view)
        approval_id = meta.get("approval_id")
        if not isinstance(approval_id, str) or not APPROVAL_ID_RE.match(approval_id):
            return
        user_id = user_id_of(body)
        form, _ = self.service.approve_form(approval_id, form_values(view))
        if form is None:
            return  # validate_approve_form kept the modal open with the errors
        result = self._decide(approval_id, user_id, "approved", form=form)
        if not meta.get("channel_id"):  # the modal was opened from the App Home tab
            self._tell_home(user_id, result.text)
            return
        channel = meta.get("channel_id") or (result.approval.channel if result.approval else None)
        if result.text and isinstance(channel, str):
            _post_ephemeral(client, channel, user_id, result.text)

    # Reject ----------------------------------------------------------------------------------

    def open_reject_modal(
        self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond | None
    ) -> None:
        self._open_modal(ack, body, client, respond, reject_modal)

    @staticmethod
    def validate_reason(ack: Ack, view: dict[str, Any]) -> None:
        reason = reason_of(view)
        if not reason:
            ack(response_action="errors", errors={Input.REASON_BLOCK: "Please give a reason."})
        elif len(reason) > MAX_REASON_CHARS:
            ack(
                response_action="errors",
                errors={Input.REASON_BLOCK: f"At most {MAX_REASON_CHARS} characters."},
            )
        else:
            ack()

    def reject(self, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        reason = reason_of(view)
        meta = metadata_of(view)
        approval_id = meta.get("approval_id")
        if not reason or not isinstance(approval_id, str) or not APPROVAL_ID_RE.match(approval_id):
            return  # refused by validate_reason, or forged metadata: nothing to decide
        user_id = user_id_of(body)
        result = self._decide(approval_id, user_id, "rejected", reason)
        if not meta.get("channel_id"):  # the modal was opened from the App Home tab
            self._tell_home(user_id, result.text)
            return
        channel = meta.get("channel_id") or (result.approval.channel if result.approval else None)
        if result.text and isinstance(channel, str):
            _post_ephemeral(client, channel, user_id, result.text)

    # Approve all / Reject all (grouped requests) ---------------------------------------------

    def _all_decided(self, result: AllResult) -> str:
        if self._on_decision is not None:
            for decided in result.results:
                self._on_decision(decided)
        return result.text

    def approve_all(self, body: dict[str, Any], respond: Respond) -> None:
        click = GroupClick.from_body(body)
        if click.group_id is None:
            _tell(respond, INVALID_BUTTON)
            return
        result = self.service.decide_all(click.group_id, click.user_id, "approved")
        _tell(respond, self._all_decided(result))

    def open_reject_all_modal(
        self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        """One reason for all: the modal names how many are pending (the trigger id lives 3 s)."""
        ack()
        click = GroupClick.from_body(body)
        view = self.service.group(click.group_id) if click.group_id else None
        if view is None:
            _tell(respond, INVALID_BUTTON)
            return
        if not view.rejectable:
            _tell(respond, "Nothing in this group is pending any more.")
            return
        client.views_open(
            trigger_id=body["trigger_id"],
            view=reject_all_modal(view.group, view.rejectable, channel_id=click.channel_id),
        )

    def reject_all(self, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        reason = reason_of(view)
        meta = metadata_of(view)
        group_id = meta.get("group_id")
        if not reason or not isinstance(group_id, str) or not GROUP_ID_RE.match(group_id):
            return  # refused by validate_reason, or forged metadata: nothing to decide
        user_id = user_id_of(body)
        result = self.service.decide_all(group_id, user_id, "rejected", reason)
        channel = meta.get("channel_id")
        if isinstance(channel, str):
            _post_ephemeral(client, channel, user_id, self._all_decided(result))

    # /approvals --------------------------------------------------------------------------------

    def approvals_command(self, ack: Ack, command: dict[str, Any]) -> None:
        user_id = user_id_of(command)
        text = command.get("text")
        parsed = ApprovalsCommand.parse(text)
        if parsed.view == "help":
            ack(text=HELP_TEXT, response_type="ephemeral")
            return
        if parsed.view == "not_understood":
            said = text if isinstance(text, str) else ""
            ack(text=not_understood(said, parsed.problem or ""), response_type="ephemeral")
            return
        if parsed.view == "history":
            message = history_list(self.service.history(user_id, parsed.count))
            ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
            return
        mine = parsed.view == "mine"
        try:
            page = self.service.pending(user_id, mine=mine)
        except (SlackUnavailable, SlackRejected):
            ack(text=SLACK_DID_NOT_ANSWER, response_type="ephemeral")
            return
        message = pending_list(page.approvals, cursor=page.cursor, mine=mine)
        ack(text=message.text, blocks=message.blocks, response_type="ephemeral")

    def more(self, body: dict[str, Any], respond: Respond) -> None:
        user_id = user_id_of(body)
        actions = body.get("actions")
        action = as_dict(actions[0]) if isinstance(actions, list) and actions else {}
        try:
            value = json.loads(action.get("value") or "{}")
            cursor, mine = str(value["cursor"]), bool(value.get("mine"))
            page = self.service.pending(user_id, mine=mine, cursor=cursor)
        except (ValueError, KeyError, TypeError):  # a forged button or cursor
            _tell(respond, INVALID_BUTTON)
            return
        except (SlackUnavailable, SlackRejected):
            _tell(respond, SLACK_DID_NOT_ANSWER)
            return
        message = pending_list(page.approvals, cursor=page.cursor, mine=mine, continued=True)
        respond(text=message.text, blocks=message.blocks, replace_original=True)

    # App Home ------------------------------------------------------------------------------

    def home_opened(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """``app_home_opened`` (lazy): publish the person's Home tab, once per event (Slack
        retries an event it thinks was lost; the retry finds its event id recorded)."""
        user_id = event.get("user")
        if event.get("tab") != "home" or not isinstance(user_id, str) or not user_id:
            return  # the Messages tab (direct messages) opened: nothing to publish
        event_id = body.get("event_id")
        if not self.service.home_opened(user_id, event_id if isinstance(event_id, str) else None):
            return
        try:
            self.service.publish_home(user_id)
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("views.publish failed: %s", exc)

    @staticmethod
    def on_error(error: Exception) -> BoltResponse | None:
        if isinstance(error, MalformedPayload):
            log.warning("malformed payload: %s", error)
            return BoltResponse(status=400, body=f"malformed payload: {error}")
        # Never log payloads wholesale: they carry response URLs and trigger ids.
        log.error("interaction failed: %s", type(error).__name__, exc_info=error)
        return None


class KnownBotToken(Authorize):
    """Bolt's ``authorize`` for this single-workspace app: the bot token is already known.

    Bolt's default for a token-only app (``SingleTeamAuthorization``) calls ``auth.test`` on
    the first request of every execution environment, before the listener may ack: a Slack
    round trip on every cold click, for the bot's own ids, which no listener uses. The request
    itself is authenticated by its signature (``RequestVerification``, which runs first).
    """

    def __init__(self, bot_token: str) -> None:
        self._bot_token = bot_token

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=self._bot_token,
        )


class _DeliberateTokenChoice(logging.Filter):
    """Bolt's two construction warnings about ``token`` (read from ``SLACK_BOT_TOKEN`` when not
    passed): unused because ``client`` is given, ignored because ``authorize`` is. Both are
    what :func:`build_app` chooses on purpose; only these two messages are dropped."""

    MESSAGES: Final = frozenset(
        {warning_client_prioritized_and_token_skipped(), warning_token_skipped()}
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.MESSAGES


def build_app(
    service: ApprovalService,
    *,
    signing_secret: str,
    client: WebClient,
    bot_token: str | None = None,
    # Not "sfn-approvals…": Bolt reconfigures the logger of that name, and Powertools keeps
    # records of loggers named like its own service off the root handler.
    name: str = "slack-bolt-app",
    on_decision: Callable[[DecisionResult], None] | None = None,
) -> App:
    """The Bolt app of the interactions function (and of the sandbox / Socket Mode).

    With ``bot_token`` the app authorizes every request with it (:class:`KnownBotToken`)
    instead of Bolt's default ``auth.test`` on each execution environment's first request.
    ``on_decision`` hears every decision's result (the interactions handler counts them).
    """
    bolt_logger = logging.getLogger("slack_bolt.App")  # Bolt's framework logger for App
    deliberate = _DeliberateTokenChoice()
    bolt_logger.addFilter(deliberate)
    try:
        app = App(
            name=name,
            client=client,
            signing_secret=signing_secret,
            authorize=KnownBotToken(bot_token) if bot_token else None,
            process_before_response=True,
            token_verification_enabled=False,
            request_verification_enabled=True,
            ignoring_self_events_enabled=False,
        )
    finally:
        bolt_logger.removeFilter(deliberate)
    Listeners(service, on_decision).register(app)
    return app
