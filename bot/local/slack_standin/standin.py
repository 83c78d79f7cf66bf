"""`SlackStandIn`: the server, its workspace fixtures and what tests observe of it."""

from __future__ import annotations

import copy
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from bot.local.slack_standin.args import JsonDict, SlackError, str_arg
from bot.local.slack_standin.contract import contracts
from bot.local.slack_standin.faults import Fault, FaultQueue, FiredFault
from bot.local.slack_standin.methods import MUTATING_METHODS, SERVED_METHODS, Methods
from bot.local.slack_standin.ratelimits import PER_CHANNEL_METHODS, Hit, RateLimiter
from bot.local.slack_standin.server import RESPONSE_PATH, Answer, Server
from bot.local.slack_standin.state import Channel, Identity, User, Workspace

logger = logging.getLogger("bot.local.slack_standin")

Subscriber = Callable[[str, JsonDict], None]

# What each served method accepts and requires (slack_sdk's signatures, Slack's spec): built once.
CONTRACTS: Final = contracts(SERVED_METHODS)


@dataclass(frozen=True)
class RecordedCall:
    """One Web API call as the stand-in saw and answered it.

    Attributes:
        method: the Web API method, e.g. ``"chat.postMessage"``.
        params: the arguments as sent (query string, form or JSON body merged; ``token`` removed).
            Form-encoded JSON arguments such as ``blocks`` stay strings, exactly as on the wire.
        status: the HTTP status of the answer.
        response: the JSON body of the answer.
        at: ``time.monotonic()`` when the request arrived.
    """

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float


class SlackStandIn:
    """A local Slack Web API server for tests and the offline sandbox.

    All public methods are thread-safe; observations return deep copies.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-standin",  # noqa: S107 (a fake token for a local fake)
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        bot_user_id: str = "UBOT",
        team_id: str = "T0STANDIN",
        bot_id: str = "B0STANDIN",
        app_id: str = "A0STANDIN",
        bot_name: str = "approvals",
        team_name: str = "Stand-in Workspace",
        team_domain: str = "standin",
        rate_limits: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure the stand-in (nothing listens until `start`).

        Args:
            bot_token: the only token accepted (``invalid_auth`` otherwise).
            host, port: where to listen; port 0 picks a free ephemeral port.
            latency: extra seconds added to every call.
            bot_user_id, bot_id, app_id, bot_name: the bot's identity (auth.test, message authors).
                The bot user is registered so that ``users.info`` knows it.
            team_id, team_name, team_domain: the workspace's identity.
            rate_limits: enforce Slack's rate limits (`ratelimits`): HTTP 429 with
                ``Retry-After`` past a method's tier, or past 1 message a second in a channel.
                Turn off only where a test sends faster than Slack allows on purpose.
            clock: seconds, monotonic, for the rate limits (inject one to test them).
        """
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.bot_token = bot_token
        self.host = host
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self._requested_port = port
        self._latency = latency

        self._cond = threading.Condition()  # the one lock guarding all state below
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

        identity = Identity(bot_user_id, bot_id, app_id, bot_name, team_id, team_name, team_domain)
        self._ws = Workspace(identity)
        self._methods = Methods(self._ws)
        self._faults = FaultQueue()
        self._rate_limits = rate_limits
        self._limiter = RateLimiter(clock)
        self._calls: list[RecordedCall] = []
        self._subscribers: list[Subscriber] = []
        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True, has_2fa=False)

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        """Start listening (in a daemon thread) and return self."""
        with self._cond:
            if self._server is not None:
                raise RuntimeError("the Slack stand-in is already running")
            self._stopping.clear()
            server = Server((self.host, self._requested_port), self)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"slack-standin:{server.server_address[1]}",
                daemon=True,
            )
            self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop listening. Pending delays are cut short. Idempotent; state is kept."""
        with self._cond:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port actually listened on."""
        with self._cond:
            if self._server is None:
                raise RuntimeError("the Slack stand-in is not running")
            return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The Web API base URL for ``WebClient(base_url=...)``, e.g. ``http://127.0.0.1:5432/api/``."""
        return f"http://{self.host}:{self.port}/api/"

    @property
    def latency(self) -> float:
        """Extra seconds added to every call."""
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        if value < 0:
            raise ValueError("latency must not be negative")
        self._latency = value

    # workspace fixtures ------------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: Iterable[str] = (),
        private: bool | None = None,
        bot_member: bool = True,
    ) -> None:
        """Create (or replace the name and members of) a channel.

        ``members`` are listed by conversations.members and users.conversations. When a
        channel has members, chat.postEphemeral to a user outside them answers
        ``user_not_in_channel``. ``private`` defaults to True for ``G…`` ids; a private channel
        appears in users.conversations only if the bot is a member (``bot_member``), as Slack
        shows a bot token only the private channels it shares.
        """
        is_private = channel_id.startswith("G") if private is None else private
        with self._cond:
            self._ws.channels[channel_id] = Channel(
                channel_id, name.lstrip("#"), list(members), is_private, bot_member
            )
            self._ws.messages.setdefault(channel_id, [])

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        email: str | None = None,
        is_bot: bool = False,
        has_2fa: bool = True,
        tz: str = "UTC",
        deleted: bool = False,
        email_visible: bool = True,
    ) -> None:
        """Create or replace a user (for users.info, chat.postEphemeral, usergroups).

        ``email_visible=False``: users.info leaves the e-mail out, as Slack does without the
        ``users:read.email`` scope or where workspace settings hide it; users.lookupByEmail
        still finds the user.
        """
        with self._cond:
            self._ws.users[user_id] = User(
                user_id,
                name,
                real_name or name,
                email,
                is_bot,
                has_2fa,
                tz,
                deleted,
                email_visible,
            )

    def user_name(self, user_id: str) -> str:
        """The handle of a workspace user (``KeyError`` if unknown)."""
        with self._cond:
            return self._ws.users[user_id].name

    def add_usergroup(self, group_id: str, handle: str, users: Iterable[str]) -> None:
        """Create or replace a user group (``S...`` id) for usergroups.users.list."""
        with self._cond:
            self._ws.usergroups[group_id] = (handle, list(users))

    # faults ------------------------------------------------------------------------------

    def inject(self, method: str, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` calls of ``method`` (``"*"`` matches any method).

        Faults are consumed in the order they were injected.
        """
        with self._cond:
            self._faults.add(method, fault, times)

    def clear_faults(self) -> None:
        """Drop all pending faults (those that fired stay in `fired_faults`)."""
        with self._cond:
            self._faults.clear()

    def fired_faults(self, method: str | None = None) -> list[FiredFault]:
        """The injected faults that reached a caller, in the order they fired (optionally only
        those of one method). A fault counts when a call met it, not when it was injected."""
        with self._cond:
            fired = self._faults.fired()
        return [f for f in fired if method is None or f.method == method]

    def rate_limit_hits(self, method: str | None = None) -> list[Hit]:
        """Calls the rate limits answered with 429 (injected 429s are in `fired_faults`)."""
        with self._cond:
            hits = list(self._limiter.hits)
        return [h for h in hits if method is None or h.method == method]

    def pending_faults(self) -> list[tuple[str, Fault, int]]:
        """Faults injected but not (yet) met: (method, fault, calls left)."""
        with self._cond:
            return self._faults.pending()

    # observations ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Answered calls in arrival order, optionally only those of one method."""
        with self._cond:
            calls = sorted(self._calls, key=lambda call: call.at)
        return [c for c in calls if method is None or c.method == method]

    def wait_for_calls(
        self, method: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[RecordedCall]:
        """Wait until at least ``count`` calls (of ``method``) were answered; return them.

        Raises TimeoutError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [c for c in self._calls if method is None or c.method == method]
                if len(matching) >= count:
                    return sorted(matching, key=lambda call: call.at)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(matching)} of {count} {method or 'any'} call(s) after {timeout}s"
                    )
                self._cond.wait(remaining)

    def reset_calls(self) -> None:
        """Forget the recorded calls (workspace state is kept)."""
        with self._cond:
            self._calls.clear()

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The channel's messages as they are now (after updates), oldest first, thread replies
        included. Each has channel, ts, text, blocks, metadata, thread_ts, reply_broadcast,
        user, edited (None or {user, ts}). Raises KeyError for an unknown channel."""
        with self._cond:
            if channel not in self._ws.channels:
                raise KeyError(f"no channel {channel!r} in the stand-in")
            return [m.observed() for m in self._ws.messages[channel]]

    def im_channel(self, user_id: str) -> str | None:
        """The D… id of the bot's direct message with a user, once it was opened (by
        conversations.open or a chat.postMessage to the user id)."""
        with self._cond:
            return self._ws.ims.get(user_id)

    def dms(self, user_id: str) -> list[dict[str, Any]]:
        """The messages of the bot's direct message with a user (see `messages`); empty if it
        was never opened."""
        with self._cond:
            channel = self._ws.ims.get(user_id)
            return [] if channel is None else [m.observed() for m in self._ws.messages[channel]]

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The user's Home tab as last published (views.publish), or None."""
        with self._cond:
            view = self._ws.homes.get(user_id)
            return None if view is None else copy.deepcopy(view)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """One message (see `messages`). Raises KeyError when there is none."""
        with self._cond:
            found = self._ws.find_message(channel, ts)
            if found is None:
                raise KeyError(f"no message {ts!r} in channel {channel!r}")
            return found.observed()

    def ephemerals(self, *, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages posted (channel, user, message_ts, text, blocks, thread_ts)."""
        with self._cond:
            return [
                copy.deepcopy(e) for e in self._ws.ephemerals if user is None or e["user"] == user
            ]

    def response_url(self, *, channel: str, user: str) -> str:
        """Mint a ``response_url`` (as Slack puts in interaction payloads and slash commands).

        What the app POSTs to it (``respond()``) is recorded as a call of method
        ``"response_url"`` and shown as an ephemeral message to ``user`` in ``channel``;
        ``replace_original`` replaces the ephemeral this URL answered before.
        """
        with self._cond:
            key = secrets.token_urlsafe(12)
            self._ws.response_urls[key] = {"channel": channel, "user": user, "uses": 0}
        return f"http://{self.host}:{self.port}{RESPONSE_PATH}{key}"

    def show_ephemeral(
        self, *, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Show an ephemeral message that did not come through the Web API: what Slack does with
        the body of a slash command's acknowledgement (``response_type: ephemeral``)."""
        with self._cond:
            entry = {
                "channel": channel,
                "user": user,
                "message_ts": self._ws.next_ts(),
                "text": text,
                "blocks": blocks or [],
                "thread_ts": None,
            }
            self._ws.ephemerals.append(entry)
        self._notify("ack_response", dict(entry))
        return copy.deepcopy(entry)

    def views(self) -> list[dict[str, Any]]:
        """Every views.open / views.push / views.update in order, each as
        ``{"method", "trigger_id", "view_id", "view"}`` where ``view`` is the full view object
        as answered (id, hash, state, ... included)."""
        with self._cond:
            return copy.deepcopy(self._ws.view_log)

    def subscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``callback(method, params)`` after every mutating call that took effect
        (chat.postMessage, chat.update, chat.postEphemeral, views.open/push/update).

        Callbacks run on the server's request thread, outside the lock; exceptions are logged.
        """
        with self._cond:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Remove a callback added with `subscribe` (no error if absent)."""
        with self._cond:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    # request dispatch (called by the HTTP handler threads) --------------------------------

    def serve_api(
        self, method: str, params: JsonDict, token: str | None, parse_error: str | None
    ) -> Answer:
        arrived = time.monotonic()
        if self._latency > 0:
            self._stopping.wait(self._latency)
        with self._cond:
            fault = self._faults.take(method, arrived)
        recorded = {k: v for k, v in params.items() if k != "token"}
        return self._answer(
            method,
            recorded,
            fault,
            arrived,
            lambda: self._handle(method, params, token, parse_error),
        )

    def serve_response_url(self, key: str, raw: bytes) -> tuple[int, dict[str, str], str]:
        """A POST to a response URL (``respond()``). Injected faults for ``"response_url"`` apply
        as they do to Web API methods; an answer's body is ``ok`` or its error, as plain text."""
        arrived = time.monotonic()
        with self._cond:
            known = key in self._ws.response_urls
            fault = self._faults.take("response_url", arrived) if known else None
        if not known:
            return 404, {}, "no_such_response_url"
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            return 400, {}, "invalid_payload"
        if not isinstance(params, dict):
            return 400, {}, "invalid_payload"

        def handle() -> tuple[Answer, bool]:
            limited = self._admit("response_url", self._ws.response_urls[key])
            if limited is not None:
                return limited, False
            with self._cond:
                status, text = self._methods.respond(key, params)
            ok = status == 200
            return (status, {}, {"ok": True} if ok else {"ok": False, "error": text}), ok

        status, headers, body = self._answer("response_url", params, fault, arrived, handle)
        return status, headers, "ok" if body.get("ok") else str(body.get("error"))

    def _answer(
        self,
        method: str,
        params: JsonDict,
        fault: Fault | None,
        arrived: float,
        handle: Callable[[], tuple[Answer, bool]],
    ) -> Answer:
        """Handle a call as ``fault`` (if any) says, record it, tell subscribers if it took
        effect. ``handle`` answers the call normally and says whether it took effect."""
        if fault is not None and not fault.after:
            if fault.delay > 0:
                self._stopping.wait(fault.delay)
            if fault.replaces_answer:
                answer = fault.answer()
                self._record(method, params, answer, arrived)
                return answer

        answer, took_effect = handle()

        if fault is not None and fault.after:
            if fault.delay > 0:
                self._stopping.wait(fault.delay)
            if fault.replaces_answer:
                answer = fault.answer()
        self._record(method, params, answer, arrived)
        if took_effect:
            self._notify(method, params)
        return answer

    def _handle(
        self, method: str, params: JsonDict, token: str | None, parse_error: str | None
    ) -> tuple[Answer, bool]:
        """Answer one call normally; the bool says whether a mutating call took effect."""
        try:
            if parse_error is not None:
                raise SlackError(parse_error)
            self._authenticate(token or str_arg(params, "token"))
            handler = self._methods.handler(method)
            if handler is None:
                raise SlackError("unknown_method")
            limited = self._admit(method, params)
            if limited is not None:
                return limited, False
            CONTRACTS[method].check(params)
            with self._cond:
                body = handler(params)
        except SlackError as error:
            return (200, {}, error.body()), False
        except Exception:
            logger.exception("Slack stand-in failed on %s", method)
            return (500, {}, {"ok": False, "error": "internal_error"}), False
        return (200, {}, body), method in MUTATING_METHODS

    def _admit(self, method: str, params: JsonDict) -> Answer | None:
        """None if the call is within Slack's rate limits (its quota taken), else the 429."""
        if not self._rate_limits:
            return None
        with self._cond:
            channel = None
            if method in PER_CHANNEL_METHODS:
                try:
                    channel = self._ws.channel(params).id
                except SlackError:  # unknown: the method answers channel_not_found
                    channel = str_arg(params, "channel")
            retry_after = self._limiter.admit(method, channel)
        if retry_after is None:
            return None
        return 429, {"Retry-After": str(retry_after)}, {"ok": False, "error": "ratelimited"}

    def _authenticate(self, token: str | None) -> None:
        if token is None:
            raise SlackError("not_authed")
        if token != self.bot_token:
            raise SlackError("invalid_auth")

    def _record(self, method: str, params: JsonDict, answer: Answer, arrived: float) -> None:
        call = RecordedCall(
            method=method,
            params=copy.deepcopy(params),
            status=answer[0],
            response=copy.deepcopy(answer[2]),
            at=arrived,
        )
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _notify(self, method: str, params: JsonDict) -> None:
        with self._cond:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(method, copy.deepcopy(params))
            except Exception:
                logger.exception("Slack stand-in subscriber failed on %s", method)
