"""The offline sandbox: the whole approval loop on 127.0.0.1, with a Slack-like page.

One process runs:

* **moto** (``ThreadedMotoServer``) with Step Functions execution enabled: the table, the queue +
  DLQ and the seed's state machine, created from the files ``serverless deploy`` uses. moto's
  Docker-free Lambda backend runs the seed's two example Lambdas from ``infra/lambdas`` in process.
* the **Slack stand-in** (Web API) with a small workspace: #approvals, ana (approver),
  bo (requester), cy (in the @oncall group), eve (outsider).
* the **real handlers**: an SQS poller feeds the notifier SQS-event batches, like Lambda's event
  source mapping; an HTTP endpoint turns requests into API Gateway v2 events for the
  interactions handler (Bolt's ``SlackRequestHandler``); lazy listeners re-invoke it on a
  thread; an execution watcher sends "Execution Status Change" events to the expirations
  handler (what the EventBridge rule does), and a timer sends it the scheduled sweep.
* the **page** (``bot/local/static/index.html``) and its JSON API: the channel as Slack would
  show it to the person you pick, beside the app's own tabs as that person sees them (Home: the
  view the bot published for them, ``app_home_opened`` sent when they open it; Messages: their
  direct message with the bot), your clicks turned into signed interaction payloads.

Nothing in ``bot/`` outside ``bot/local/`` knows it runs here: it is all configuration
(``AWS_ENDPOINT_URL``, ``SLACK_API_URL``, tokens, table name).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import parse_qs, urlsplit

from bot.local.events import LocalContext
from bot.local.lambda_client import LocalLambdaClient, attach
from bot.local.sfn_witness import FAILURE, SfnWitness
from bot.local.slack_driver import ButtonNotFound, Response, SlackDriver
from bot.local.slack_requests import (
    FORM_CONTENT_TYPE,
    api_gateway_v2_event,
    block_actions_body,
    home_block_actions_body,
    post_signed,
    post_signed_as,
    signed_form_headers,
)
from bot.local.slack_standin import SlackStandIn
from bot.local.sqs_poller import deliver_once

log = logging.getLogger("sandbox")

STATIC: Final = Path(__file__).parent / "static"
RESPOND_PATH: Final = "/respond/"  # a click's response_url on the interactions endpoint
CHANNEL: Final = "C0APPROVALS"
BOT_TOKEN: Final = "xoxb-sandbox"  # noqa: S105 - a local stand-in's token
SIGNING_SECRET: Final = "sandbox-signing-secret"  # noqa: S105
TABLE: Final = "sfn-approvals-sandbox"
REGION: Final = "us-east-1"
SWEEP_SECONDS: Final = 10.0
MAX_START_COUNT: Final = 50  # "start N" of the page: executions started by one request
WATCH_SECONDS: Final = 0.5
WAITING_RESOURCE: Final = "sendMessage.waitForTaskToken"  # the approval task, in history events


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    real_name: str
    role: str


PEOPLE: Final = (
    Person("U0ANA", "ana", "Ana Approver", "approver (DEFAULT_APPROVERS)"),
    Person("U0BO", "bo", "Bo Requester", "requester of the example requests"),
    Person("U0CY", "cy", "Cy Oncall", "member of @oncall (an approver group)"),
    Person("U0EVE", "eve", "Eve Outsider", "in the channel, not an approver"),
    Person("U0DAN", "dan", "Dan No2FA", "no Slack 2FA: high-risk requests refuse him"),
)
ONCALL: Final = ("S0ONCALL", "oncall", ("U0CY",))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxError(Exception):
    """The sandbox cannot start; the message is one line that says why and what to do."""


class PortInUse(SandboxError):
    def __init__(self, host: str, port: int) -> None:
        other = _free_port_from(host, 8811 if port == 8800 else port + 1)
        super().__init__(
            f"port {port} on {host} is already in use (another sandbox?): "
            f"run `make sandbox PORT={other}` (or `python -m bot.local --port {other}`)"
        )
        self.port = port


def _free_port_from(host: str, start: int, tries: int = 50) -> int:
    """The first port from ``start`` that ``host`` can listen on now (a suggestion)."""
    for port in range(start, min(start + tries, 65536)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    return 0


def start_moto() -> tuple[Any, str]:
    """A moto server on 127.0.0.1 that runs state machines and the example Lambdas."""
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    from bot.local.infra import MOTO_CONFIG, prepare_moto

    for service, settings in MOTO_CONFIG.items():
        default_user_config.setdefault(service, {}).update(settings)  # type: ignore[misc]
    prepare_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    os.environ["MOTO_PORT"] = str(port)  # moto's own calls (Step Functions → Lambda) go here
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its backends per process: start from nothing even if a sandbox ran before.
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(reset, timeout=10) as answer:  # noqa: S310 - 127.0.0.1
        answer.read()
    return server, endpoint


@dataclass
class _Loop:
    """A background loop that stops when asked; errors are logged, never fatal."""

    name: str
    every: float
    step: Callable[[], Any]
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> _Loop:
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("%s failed", self.name)
            self.stop.wait(self.every)

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)


class Sandbox:
    """Everything above, started and stopped as one."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8800,
        socket_mode: bool = False,
        background: bool = True,
        visibility_timeout: int | None = None,
        short_wait_seconds: int = 60,
    ) -> None:
        """``background=False`` leaves queue polling, the execution watcher and the sweep to the
        caller (the soak drives them itself); the other two shorten waits for tests."""
        self.host = host
        self.port = port
        self.socket_mode = socket_mode
        self.background = background
        self.visibility_timeout = visibility_timeout
        self.short_wait_seconds = short_wait_seconds
        self.moto: Any = None
        self.slack: SlackStandIn | None = None
        self.witness: SfnWitness | None = None
        self._loops: list[_Loop] = []
        self._servers: list[ThreadingHTTPServer] = []
        self._serving: list[ThreadingHTTPServer] = []
        self._seen_status: dict[str, str] = {}
        self._histories: dict[str, dict[str, Any]] = {}
        self._responders: dict[str, tuple[str, str]] = {}
        self._replaced: set[str] = set()
        self._lock = threading.Lock()
        self.version = 0
        self._version_lock = threading.Lock()
        self._env_before: dict[str, str | None] = {}  # what stop() puts back

    # --- the process environment: the sandbox configures the handlers through it ---------------

    def _remember_env(self, *names: str) -> None:
        """Keep the value (or absence) ``names`` have before the sandbox first changes them."""
        for name in names:
            if name not in self._env_before:
                self._env_before[name] = os.environ.get(name)

    def _set_env(self, values: dict[str, str]) -> None:
        self._remember_env(*values)
        os.environ.update(values)

    def _restore_env(self) -> None:
        """Put back every variable the sandbox set or removed, as it was before ``start``."""
        for name, value in self._env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._env_before.clear()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Start everything. The page's port is taken first: if it is busy, :class:`PortInUse`
        is raised before anything else starts."""
        self.ui = self._bind(_UiHandler, self.port, host=self.host)
        self.port = self.ui.server_port
        try:
            self._start_aws()
            if self.socket_mode:
                self._start_socket_mode()
            else:
                self._start_standin()
            self._run(self.ui)
            if self.background:
                self._loops = [
                    _Loop("sqs-poller", 0.0, self.poll_queue).start(),
                    _Loop("execution-watcher", WATCH_SECONDS, self.watch_executions).start(),
                    _Loop("sweep", SWEEP_SECONDS, self.sweep).start(),
                ]
        except BaseException:
            self.stop()
            raise
        return self

    def _start_aws(self) -> None:
        """moto with the deployed definitions — or, in Socket Mode with ``APPROVALS_TABLE`` and
        ``VERIFICATION_QUEUE_URL`` set (and no ``AWS_ENDPOINT_URL``), the AWS account itself."""
        import boto3

        from bot.local.infra import ExampleStack, Queues, create_table, deploy_example

        real_queue = os.environ.get("VERIFICATION_QUEUE_URL")
        if self.socket_mode and real_queue and os.environ.get("APPROVALS_TABLE"):
            self.moto = None
            self.sqs = boto3.client("sqs")
            self.sfn = boto3.client("stepfunctions")
            arn = self.sqs.get_queue_attributes(QueueUrl=real_queue, AttributeNames=["QueueArn"])
            queues = Queues(real_queue, arn["Attributes"]["QueueArn"], "", "", 0)
            machine = os.environ.get("STATE_MACHINE_ARN", "")
            self.stack = ExampleStack(queues, machine, {})
            self.short_stack = self.stack
            return
        self._remember_env("MOTO_PORT")  # start_moto points moto's own calls at its port
        self.moto, endpoint = start_moto()
        # What reaches moto's Step Functions, independently of the bot's clients: the page shows
        # the error and cause the bot sent (moto keeps no SendTaskFailure cause).
        self.witness = SfnWitness().install()
        self._set_env(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "sandbox",
                "AWS_SECRET_ACCESS_KEY": "sandbox",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "APPROVALS_TABLE": TABLE,
                "POWERTOOLS_TRACE_DISABLED": "1",
                "POWERTOOLS_METRICS_DISABLED": "1",
            }
        )
        self._remember_env("AWS_PROFILE")
        os.environ.pop("AWS_PROFILE", None)
        self.sqs = boto3.client("sqs")
        self.sfn = boto3.client("stepfunctions")
        create_table(boto3.client("dynamodb"), TABLE)
        self.stack = deploy_example(
            iam=boto3.client("iam"),
            lambda_=boto3.client("lambda"),
            sqs=self.sqs,
            sfn=self.sfn,
            visibility_timeout=self.visibility_timeout,
        )
        self.short_stack = deploy_example(
            iam=boto3.client("iam"),
            lambda_=boto3.client("lambda"),
            sqs=self.sqs,
            sfn=self.sfn,
            state_machine_name=f"approval-flow-{self.short_wait_seconds}s-wait",
            approval_timeout_seconds=self.short_wait_seconds,
            queues=self.stack.queues,
        )

    def _start_standin(self) -> None:
        self.slack = SlackStandIn(bot_token=BOT_TOKEN).start()
        self.slack.add_channel(CHANNEL, "approvals", members=[p.id for p in PEOPLE])
        for person in PEOPLE:
            self.slack.add_user(
                person.id,
                person.name,
                real_name=person.real_name,
                email=f"{person.name}@example.com",
                has_2fa=person.id != "U0DAN",
            )
        self.slack.add_usergroup(ONCALL[0], ONCALL[1], ONCALL[2])
        self.slack.subscribe(lambda *_: self.bump())
        self._set_env(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": self.slack.url,
                "DEFAULT_CHANNEL": CHANNEL,
                "DEFAULT_APPROVERS": f"U0ANA,{ONCALL[0]}",
            }
        )
        self.notifier, self.interactions, self.expirations = _import_handlers()
        self.lazy = LocalLambdaClient(self.interactions.handler)
        attach(self.interactions.slack_handler, self.lazy)
        self.endpoint = self._run(self._bind(_EndpointHandler, 0))
        self.interactions_url = f"http://127.0.0.1:{self.endpoint.server_port}/slack/events"
        self.driver = SlackDriver(
            self.slack, signing_secret=SIGNING_SECRET, send=self.post_to_endpoint
        )

    def _start_socket_mode(self) -> None:
        """The same Bolt app, connected to a real workspace over Socket Mode (no public URL)."""
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        from bot.config import load_settings
        from bot.slack_app import build_app
        from bot.wiring import build_service, slack_client

        if not os.environ.get("DEFAULT_CHANNEL"):
            raise SystemExit(
                "Socket Mode needs DEFAULT_CHANNEL (the id of a channel the bot is in)"
            )
        self._remember_env("SLACK_SIGNING_SECRET")
        os.environ.setdefault("SLACK_SIGNING_SECRET", "unused-in-socket-mode")
        self.notifier, self.expirations = _import_handlers(socket_mode=True)
        settings = load_settings()
        web_client = slack_client(settings)
        app = build_app(
            build_service(settings, web_client=web_client),
            signing_secret=settings.signing_secret(),
            client=web_client,
            bot_token=web_client.token,
        )
        self.socket = SocketModeHandler(app, os.environ["SLACK_APP_TOKEN"])
        self.socket.connect()  # type: ignore[no-untyped-call]

    def stop(self) -> None:
        """Stop what was started (also after a start that failed half way)."""
        for loop in self._loops:
            loop.stop.set()
        for loop in self._loops:
            loop.close()
        for server in self._serving:
            server.shutdown()
        for server in self._servers:
            server.server_close()
        self._serving.clear()
        self._servers.clear()
        if self.socket_mode:
            with contextlib.suppress(Exception):
                self.socket.close()  # type: ignore[no-untyped-call]
        else:
            with contextlib.suppress(Exception):
                self.lazy.wait(timeout=5)
            if self.slack is not None:
                self.slack.stop()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self.witness is not None:
            self.witness.uninstall()
        self._restore_env()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def standin(self) -> SlackStandIn:
        if self.slack is None:
            raise RuntimeError("no Slack stand-in in Socket Mode: Slack is the real workspace")
        return self.slack

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def bump(self) -> None:
        with self._version_lock:
            self.version += 1

    def _bind(
        self, handler: type[BaseHTTPRequestHandler], port: int, host: str = "127.0.0.1"
    ) -> ThreadingHTTPServer:
        try:
            server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(host, port) from None
            raise SandboxError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        server.sandbox = self  # type: ignore[attr-defined]
        server.daemon_threads = True
        self._servers.append(server)
        return server

    def _run(self, server: ThreadingHTTPServer) -> ThreadingHTTPServer:
        name = server.RequestHandlerClass.__name__
        threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
        self._serving.append(server)
        return server

    # --- what AWS would do ----------------------------------------------------------------------

    def poll_queue(self) -> None:
        """Lambda's SQS event source mapping: long-poll, invoke with a batch, delete successes."""
        delivery = deliver_once(
            self.sqs,
            queue_url=self.stack.queues.url,
            queue_arn=self.stack.queues.arn,
            handler=self.notifier.handler,
        )
        if delivery.received:
            self.bump()

    def executions(self) -> list[dict[str, Any]]:
        found = []
        machines = {self.stack.state_machine_arn, self.short_stack.state_machine_arn} - {""}
        for machine in sorted(machines):
            pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
            for item in (e for page in pages for e in page["executions"]):
                described = self.sfn.describe_execution(executionArn=item["executionArn"])
                found.append(
                    {
                        "name": described["name"],
                        "arn": described["executionArn"],
                        "state_machine": machine.rsplit(":", 1)[-1],
                        "status": described["status"],
                        "started": described["startDate"].isoformat(),
                        "stopped": described["stopDate"].isoformat()
                        if described.get("stopDate")
                        else None,
                        "input": _maybe_json(described.get("input")),
                        "output": _maybe_json(described.get("output")),
                        "error": described.get("error"),
                        "cause": described.get("cause"),
                    }
                )
        found.sort(key=lambda e: e["started"], reverse=True)
        return found

    def watch_executions(self) -> None:
        """The EventBridge rule: stopped executions → "Execution Status Change" events."""
        for execution in self.executions():
            arn, status = execution["arn"], execution["status"]
            if self._seen_status.get(arn) == status:
                continue
            self._seen_status[arn] = status
            self.bump()
            if status in ("FAILED", "TIMED_OUT", "ABORTED"):
                self.expirations.handler(
                    status_change_event(arn, status), LocalContext(function_name="expirations")
                )

    def outcome(self, execution: dict[str, Any]) -> dict[str, Any]:
        """What ended a stopped execution's wait, for the page.

        ``decision``: what the approval task returned (the example flow's last state drops
        most of it); ``task_error``: the waiting task's own failure (``States.Timeout`` when its
        ``TimeoutSeconds`` passed) — both from the execution's history; ``sent``: the failure
        the bot sent with SendTaskFailure, from the witness (moto keeps no cause).
        """
        arn = str(execution["arn"])
        found = dict(self._history_of(arn))
        found["sent"] = None
        call = self.witness.last_decision(arn) if self.witness is not None else None
        if call is not None and call.action == FAILURE:
            found["sent"] = {"action": call.action, "error": call.error, "cause": call.cause}
        return found

    def _history_of(self, execution_arn: str) -> dict[str, Any]:
        """Read once per stopped execution: its history no longer changes."""
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock:
            cached = self._histories.get(execution_arn)
        if cached is not None:
            return cached
        try:
            events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
        except (BotoCoreError, ClientError) as exc:  # e.g. no permission, in Socket Mode
            log.debug("no history of %s: %s", execution_arn, exc)
            return {"decision": None, "task_error": None}
        found: dict[str, Any] = {"decision": None, "task_error": None}
        for event in events["events"]:
            kind = event["type"]
            key = f"{kind[0].lower()}{kind[1:]}EventDetails"  # taskTimedOutEventDetails, …
            details = cast("dict[str, Any]", event.get(key) or {})
            if details.get("resource") != WAITING_RESOURCE:
                continue
            if kind == "TaskSucceeded":
                found["decision"] = _maybe_json(details.get("output"))
            elif kind == "TaskTimedOut":
                found["task_error"] = {"error": details.get("error"), "cause": details.get("cause")}
        with self._lock:
            self._histories[execution_arn] = found
        return found

    def sweep(self) -> dict[str, Any]:
        """The scheduled sweep (EventBridge Scheduler in AWS); its report."""
        report: dict[str, Any] = self.expirations.handler(
            scheduled_event(), LocalContext(function_name="expirations")
        )
        return report

    # --- what Slack would do --------------------------------------------------------------------

    def post_to_endpoint(self, body: str, headers: dict[str, str]) -> Response:
        """Slack POSTs the signed interaction (form-encoded) or event (JSON, e.g.
        ``app_home_opened``) to the app's Request URL (here, over HTTP), with its content type."""
        lowered = {name.lower(): value for name, value in headers.items()}
        timestamp = int(lowered["x-slack-request-timestamp"])
        content_type = lowered.get("content-type", FORM_CONTENT_TYPE)
        if content_type.startswith(FORM_CONTENT_TYPE):
            status, response_headers, text = post_signed(
                self.interactions_url, body, SIGNING_SECRET, timestamp=timestamp, timeout=10
            )
        else:
            status, response_headers, text = post_signed_as(
                self.interactions_url,
                body,
                SIGNING_SECRET,
                content_type=content_type,
                timestamp=timestamp,
                timeout=10,
            )
        return Response(status, text, response_headers)

    def start_execution(self, input_: dict[str, Any], *, short_wait: bool = False) -> str:
        stack = self.short_stack if short_wait else self.stack
        name = f"run-{datetime.now(UTC):%H%M%S}-{uuid.uuid4().hex[:4]}"
        arn = self.sfn.start_execution(
            stateMachineArn=stack.state_machine_arn, name=name, input=json.dumps(input_)
        )["executionArn"]
        self.bump()
        return str(arn)

    def command(self, user: str, text: str) -> Response:
        """Run ``/approvals``; Slack shows the acknowledgement's body as an ephemeral message."""
        response = self.driver.command(user, CHANNEL, text)
        body: dict[str, Any] = (
            response.json() if response.body.startswith("{") else {"text": response.body}
        )
        if response.status == 200 and (body.get("text") or body.get("blocks")):
            self.standin.show_ephemeral(
                channel=CHANNEL,
                user=user,
                text=str(body.get("text", "")),
                blocks=list(body.get("blocks") or []),
            )
        return response

    def state(self, user: str) -> dict[str, Any]:
        """What the page shows to ``user``."""
        modals = [] if self.socket_mode else self.driver.open_views(user_id=user)
        return {
            "version": self.version,
            "workspace": {
                "channel": {"id": CHANNEL, "name": "approvals"},
                "people": [p.__dict__ for p in PEOPLE],
                "usergroups": [{"id": ONCALL[0], "handle": ONCALL[1], "users": list(ONCALL[2])}],
                "interactions_url": None if self.socket_mode else self.interactions_url,
                "short_wait_seconds": self.short_wait_seconds,
            },
            "socket_mode": self.socket_mode,
            "messages": [] if self.socket_mode else self.standin.messages(CHANNEL),
            "ephemerals": [] if self.socket_mode else self.ephemerals(user),
            "dm": self.direct_messages(user),
            "home": self.home(user),
            "modal": modals[-1] if modals else None,
            "executions": [
                {**e, **self.outcome(e)} if e["status"] != "RUNNING" else e
                for e in self.executions()
            ],
        }

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        """``user``'s ephemeral messages as Slack shows them: without those the app replaced or
        deleted through the ``response_url`` of a click on them."""
        with self._lock:
            replaced = set(self._replaced)
        return [e for e in self.standin.ephemerals(user=user) if e["message_ts"] not in replaced]

    # --- the app's own tabs, per person: Messages (the DM with the bot) and Home -----------------

    def direct_messages(self, user: str) -> dict[str, Any]:
        """``user``'s direct message with the bot: its D… id (None until the bot opened it) and
        its messages as they are now, oldest first (the shape of ``messages``)."""
        if self.socket_mode:
            return {"channel": None, "messages": []}
        return {"channel": self.standin.im_channel(user), "messages": self.standin.dms(user)}

    @property
    def home_available(self) -> bool:
        """Whether the page can open a Home tab: Slack's ``app_home_opened`` goes through
        ``SlackDriver.open_home`` (absent from drivers that predate the Home tab)."""
        return not self.socket_mode and hasattr(self.driver, "open_home")

    def home(self, user: str) -> dict[str, Any]:
        """``user``'s Home tab: the view the bot last published for them (None: nothing yet)."""
        if self.socket_mode:
            return {"available": False, "view": None}
        return {"available": self.home_available, "view": self.standin.home_view(user)}

    def open_home(self, user: str) -> dict[str, Any]:
        """``user`` opens the app's Home tab: Slack sends ``app_home_opened`` (every time);
        the page then shows what the bot published."""
        if not self.home_available:
            return {"available": False, "status": None, "body": None}
        response = self.driver.open_home(user)
        self.lazy.wait(timeout=15)
        self.bump()
        status = getattr(response, "status", None)
        return {"available": True, "status": status, "body": getattr(response, "body", None)}

    def click_dm(
        self, user: str, channel: str, ts: str, action_id: str, value: str | None
    ) -> Response:
        """A click on a button of a message in ``user``'s direct message with the bot: the same
        signed ``block_actions`` as in the channel, on the D… conversation. Only ``user`` sees
        that conversation, so another person's (or an unknown) D… id is refused."""
        if channel != self.standin.im_channel(user):
            raise BadRequest(f"{channel!r} is not {user}'s direct message with the app")
        return self.click_message(user, channel, ts, action_id, value)

    def click_message(
        self, user: str, channel: str, ts: str, action_id: str, value: str | None
    ) -> Response:
        """A click on a button of a message: ``SlackDriver.click``, which finds buttons in
        actions blocks; a button that is a section's accessory (e.g. one per item of a list)
        is clicked the same way here, with its section's block id, as Slack sends it."""
        try:
            return self.driver.click(user, channel, ts, action_id, value=value)
        except ButtonNotFound:
            message = self.standin.message(channel, ts)
            button = _view_button(message.get("blocks") or [], action_id, value, None)
        try:
            name = self.standin.user_name(user)
        except KeyError:
            name = user.lower()
        body = block_actions_body(
            user_id=user,
            user_name=name,
            team_id=self.standin.team_id,
            channel_id=channel,
            message_ts=ts,
            action_id=action_id,
            value=str(button.get("value", "")),
            block_id=str(button["block_id"]),
            trigger_id=self.driver._trigger(user),
            response_url=self.standin.response_url(channel=channel, user=user),
            message=message,
        )
        return self.post_to_endpoint(body, signed_form_headers(SIGNING_SECRET, body))

    def click_home(
        self, user: str, action_id: str, value: str | None, block_id: str | None = None
    ) -> Response:
        """A click on a button of ``user``'s Home tab: ``block_actions`` from the view (no
        channel, no ``response_url``); a modal it opens shows to ``user``."""
        view = self.standin.home_view(user)
        if view is None:
            raise LookupError(f"{user} has no Home tab published")
        button = _view_button(view.get("blocks") or [], action_id, value, block_id)
        try:
            name = self.standin.user_name(user)
        except KeyError:
            name = user.lower()
        body = home_block_actions_body(
            user_id=user,
            user_name=name,
            team_id=self.standin.team_id,
            view=view,
            action_id=action_id,
            value=str(button.get("value", "")),
            block_id=str(button["block_id"]),
            # a trigger id the driver knows, so the modal the click opens is shown to ``user``
            trigger_id=self.driver._trigger(user),
        )
        return self.post_to_endpoint(body, signed_form_headers(SIGNING_SECRET, body))

    def click_ephemeral(
        self, user: str, message_ts: str, action_id: str, value: str | None
    ) -> Response:
        """A click on an ephemeral message. Its ``response_url`` is bound to that message, as in
        Slack: ``replace_original`` / ``delete_original`` sent to it replace / delete the
        message clicked (e.g. "Show more" replaces the page it was on). The sandbox relays the
        URL to the stand-in's own and applies the replacement (ephemerals live in the client)."""
        found = [e for e in self.ephemerals(user) if e["message_ts"] == message_ts]
        if not found:
            raise LookupError(
                f"{user} has no ephemeral message {message_ts} (dismissed or replaced)"
            )
        ephemeral = found[0]
        key = secrets.token_urlsafe(12)
        relay = self.standin.response_url(channel=ephemeral["channel"], user=user)
        with self._lock:
            self._responders[key] = (relay, message_ts)
        url = f"http://127.0.0.1:{self.endpoint.server_port}{RESPOND_PATH}{key}"
        return self.driver.click_ephemeral(
            user, ephemeral, action_id, value=value, response_url=url
        )

    def respond(self, key: str, body: bytes) -> tuple[int, str]:
        """The app POSTs to a click's ``response_url``: relay it to the stand-in, then replace
        or delete the clicked message if asked to."""
        with self._lock:
            target = self._responders.get(key)
        if target is None:
            return 404, "no_such_response_url"
        relay, message_ts = target
        request = urllib.request.Request(  # noqa: S310 - the stand-in on 127.0.0.1
            relay, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        params = _maybe_json(body.decode("utf-8", errors="replace"))
        replaces = isinstance(params, dict) and bool(
            params.get("replace_original") or params.get("delete_original")
        )
        if status == 200 and replaces:
            with self._lock:
                self._replaced.add(message_ts)
        self.bump()
        return status, text


def _maybe_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _view_button(
    blocks: list[dict[str, Any]], action_id: str, value: str | None, block_id: str | None
) -> dict[str, Any]:
    """The first button with ``action_id`` (and ``value``, ``block_id`` when given) in an
    actions block or as a section's accessory, with its block id."""
    for block in blocks:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if (
                element.get("type") == "button"
                and element.get("action_id") == action_id
                and value in (None, element.get("value"))
            ):
                return {**element, "block_id": block.get("block_id", "")}
    raise ButtonNotFound(f"no button {action_id!r} (value {value!r})")


def _import_handlers(*, socket_mode: bool = False) -> Any:
    """The Lambda handler modules, imported anew after the environment is set, as on a cold
    start: a handler this process imported before (a test, another sandbox) holds clients built
    for that environment, not this one."""
    import importlib
    import sys

    names = (
        ["notifier", "expirations"] if socket_mode else ["notifier", "interactions", "expirations"]
    )
    for name in names:
        sys.modules.pop(f"bot.handlers.{name}", None)
    return tuple(importlib.import_module(f"bot.handlers.{name}") for name in names)


def status_change_event(execution_arn: str, status: str) -> dict[str, Any]:
    """The EventBridge event Step Functions emits when an execution stops."""
    now = datetime.now(UTC)
    machine = execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": execution_arn.split(":")[4],
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": execution_arn.split(":")[3],
        "resources": [execution_arn],
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": machine,
            "name": execution_arn.rsplit(":", 1)[-1],
            "status": status,
            "startDate": int((now - timedelta(minutes=1)).timestamp() * 1000),
            "stopDate": int(now.timestamp() * 1000),
        },
    }


def scheduled_event() -> dict[str, Any]:
    """The EventBridge Scheduler / rule "Scheduled Event" that triggers the sweep."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sfn-approvals-sweep"],
        "detail": {},
    }


# --- HTTP: the interactions endpoint (what API Gateway does) -----------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-length", "content-type"):
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, default=str).encode(), "application/json")


class _EndpointHandler(_Handler):
    """POST /slack/events → API Gateway v2 event → the real interactions handler."""

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(RESPOND_PATH):
            status, text = self.sandbox.respond(path[len(RESPOND_PATH) :], self._body())
            self._send(status, text.encode(), "text/plain; charset=utf-8")
            return
        if path != "/slack/events":
            self._json(404, {"message": "Not Found"})
            return
        body = self._body().decode("utf-8", errors="replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        event = api_gateway_v2_event(body, headers)
        result = self.sandbox.interactions.handler(
            event, LocalContext(function_name="interactions")
        )
        self.sandbox.bump()
        content_type = (result.get("headers") or {}).get("content-type", "text/plain")
        self._send(
            int(result["statusCode"]),
            (result.get("body") or "").encode(),
            content_type,
            result.get("headers") or {},
        )


# --- HTTP: the page and its JSON API -----------------------------------------------------------


class BadRequest(ValueError):
    """Something the page's API does not take: answered 400 with this message."""


_TEXT: Final = (str,)
_TEXT_OR_NULL: Final = (str, type(None))
# What each POST of the page's API takes: field → (JSON types, required).
API_FIELDS: Final[dict[str, dict[str, tuple[tuple[type, ...], bool]]]] = {
    "/api/executions": {
        "input": ((dict,), False),
        "short_wait": ((bool,), False),
        "count": ((int,), False),
    },
    "/api/click": {
        "user": (_TEXT, True),
        "ts": (_TEXT, True),
        "action_id": (_TEXT, True),
        "value": (_TEXT_OR_NULL, False),
        "channel": (_TEXT, False),
    },
    "/api/home_open": {"user": (_TEXT, True)},
    "/api/click_home": {
        "user": (_TEXT, True),
        "action_id": (_TEXT, True),
        "value": (_TEXT_OR_NULL, False),
        "block_id": (_TEXT_OR_NULL, False),
    },
    "/api/click_ephemeral": {
        "user": (_TEXT, True),
        "message_ts": (_TEXT, True),
        "action_id": (_TEXT, True),
        "value": (_TEXT_OR_NULL, False),
    },
    "/api/submit": {"user": (_TEXT, True), "view_id": (_TEXT, True), "values": ((dict,), True)},
    "/api/close": {"user": (_TEXT, False), "view_id": (_TEXT, True)},
    "/api/command": {"user": (_TEXT, True), "text": (_TEXT, False)},
    "/api/sweep": {},
}
_JSON_NAMES: Final[dict[type, str]] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "true or false",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _json_kind(value: Any) -> str:
    return next((name for kind, name in _JSON_NAMES.items() if type(value) is kind), "a value")


def checked_request(path: str, data: Any) -> dict[str, Any]:
    """``data`` if it is what ``path`` takes; else :class:`BadRequest` saying what is wrong.
    An unknown path is a :class:`LookupError`."""
    fields = API_FIELDS.get(path)
    if fields is None:
        raise LookupError(f"no API POST {path}")
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, not {_json_kind(data)}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        takes = ", ".join(fields) or "no fields"
        raise BadRequest(f"unknown field {', '.join(map(repr, unknown))}: {path} takes {takes}")
    for name, (types, required) in fields.items():
        if name not in data:
            if required:
                raise BadRequest(f"missing field {name!r}")
            continue
        if not any(type(data[name]) is kind for kind in types):
            wanted = " or ".join(_JSON_NAMES[kind] for kind in types)
            raise BadRequest(f"{name!r} must be {wanted}, not {_json_kind(data[name])}")
    people = [p.id for p in PEOPLE]
    if "user" in data and data["user"] not in people:
        raise BadRequest(f"unknown user {data['user']!r}: one of {', '.join(people)}")
    return data


class _UiHandler(_Handler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(200, (STATIC / "index.html").read_bytes(), "text/html; charset=utf-8")
        elif url.path == "/api/state":
            user = (parse_qs(url.query).get("user") or [PEOPLE[0].id])[0]
            self._json(200, self.sandbox.state(user))
        elif url.path == "/api/version":
            self._json(200, {"version": self.sandbox.version})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        from botocore.exceptions import ClientError

        path = urlsplit(self.path).path
        try:
            data = json.loads(self._body() or b"{}")
        except ValueError:
            self._json(400, {"error": "the body is not valid JSON"})
            return
        try:
            self._json(200, self._route(path, checked_request(path, data)))
        except BadRequest as exc:
            self._json(400, {"error": str(exc)})
        except LookupError as exc:  # a button, modal or message that is gone
            self._json(404, {"error": str(exc.args[0]) if exc.args else type(exc).__name__})
        except (TypeError, ValueError) as exc:
            self._json(400, {"error": f"{type(exc).__name__}: {exc}"})
        except ClientError as exc:  # e.g. Step Functions refused the execution's input
            error = exc.response.get("Error", {})
            self._json(400, {"error": f"{error.get('Code')}: {error.get('Message')}"})
        except Exception as exc:  # a sandbox bug: logged with its traceback, answered 500
            log.exception("POST %s failed", path)
            self._json(500, {"error": f"{type(exc).__name__} (see the sandbox's log)"})

    def _route(self, path: str, data: dict[str, Any]) -> Any:
        sandbox, driver = self.sandbox, self.sandbox.driver
        if path == "/api/executions":
            count = data.get("count", 1)
            if not 1 <= count <= MAX_START_COUNT:
                raise BadRequest(f"'count' must be from 1 to {MAX_START_COUNT}, not {count}")
            arns = [
                sandbox.start_execution(
                    data.get("input") or {}, short_wait=bool(data.get("short_wait"))
                )
                for _ in range(count)
            ]
            return {"arn": arns[0], "arns": arns}
        if path == "/api/home_open":
            return sandbox.open_home(data["user"])
        if path == "/api/click" and data.get("channel", CHANNEL) != CHANNEL:
            response = sandbox.click_dm(
                data["user"], data["channel"], data["ts"], data["action_id"], data.get("value")
            )
        elif path == "/api/click":
            response = sandbox.click_message(
                data["user"], CHANNEL, data["ts"], data["action_id"], data.get("value")
            )
        elif path == "/api/click_home":
            response = sandbox.click_home(
                data["user"], data["action_id"], data.get("value"), data.get("block_id")
            )
        elif path == "/api/click_ephemeral":
            response = sandbox.click_ephemeral(
                data["user"], data["message_ts"], data["action_id"], data.get("value")
            )
        elif path == "/api/submit":
            view = next(
                (v for v in driver.open_views(user_id=data["user"]) if v["id"] == data["view_id"]),
                None,
            )
            if view is None:
                raise LookupError(f"{data['user']} has no open modal {data['view_id']}")
            response = self._submit(data["user"], view, data["values"])
        elif path == "/api/close":
            driver.close(str(data["view_id"]))
            sandbox.bump()
            return {"closed": data["view_id"]}
        elif path == "/api/command":
            response = sandbox.command(data["user"], str(data.get("text", "")))
        else:  # /api/sweep
            report = sandbox.sweep()  # what the schedule does every SWEEP_SECONDS, now
            sandbox.bump()
            return {"swept": True, "report": report}
        sandbox.lazy.wait(timeout=15)  # the page shows the outcome of the click at once
        sandbox.bump()
        return {"status": response.status, "body": response.body}

    # Where Slack's view.state.values keeps what an input holds, per element type.
    _STATE_KEYS: Final = {
        "plain_text_input": "value",
        "number_input": "value",
        "static_select": "selected_option",
    }

    def _submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> Response:
        """Submit a modal as Slack does. ``values`` maps block id → action id → the element's
        state as Slack sends it (``{"type": "number_input", "value": "25"}``, ``{"type":
        "static_select", "selected_option": {...}}``, ``None`` when empty) or a plain string
        (the typed text, or a select's option value)."""
        from bot.local.slack_requests import signed_form_headers, view_submission_body

        elements = {
            (block.get("block_id"), block["element"].get("action_id")): block["element"]
            for block in view.get("blocks") or []
            if block.get("type") == "input" and isinstance(block.get("element"), dict)
        }
        state: dict[str, dict[str, dict[str, Any]]] = {}
        for block_id, actions in values.items():
            for action_id, raw in dict(actions).items():
                element = elements.get((block_id, action_id))
                kind = (element or {}).get("type")
                key = self._STATE_KEYS.get(str(kind))
                if element is None or key is None:
                    raise ValueError(f"the modal has no supported input {block_id}/{action_id}")
                given = raw
                if not isinstance(raw, dict):  # the typed text, or the picked option's value
                    option = {"value": raw} if raw else None
                    given = {"type": kind, key: raw if key == "value" else option}
                if given.get("type") != kind:
                    raise ValueError(f"{block_id} is a {kind}, not a {given.get('type')}")
                held = given.get(key)
                if key == "selected_option" and held is not None:
                    wanted = held.get("value") if isinstance(held, dict) else None
                    options = [o for o in element.get("options") or [] if o.get("value") == wanted]
                    if not options:
                        raise ValueError(f"{block_id} has no option {wanted!r}")
                    held = options[0]  # the option object as the view defined it
                elif key == "value" and held is not None and not isinstance(held, str):
                    raise ValueError(f"{block_id}: the value must be a string or null")
                state.setdefault(block_id, {})[action_id] = {"type": kind, key: held}
        sandbox = self.sandbox
        try:
            name = sandbox.standin.user_name(user)
        except KeyError:
            name = user.lower()
        body = view_submission_body(
            user_id=user, user_name=name, team_id=sandbox.standin.team_id, view=view, values=state
        )
        response = sandbox.post_to_endpoint(body, signed_form_headers(SIGNING_SECRET, body))
        if response.status == 200 and "response_action" not in (response.body or ""):
            sandbox.driver.close(str(view.get("id")))  # Slack closes the modal
        return response


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[Sandbox]:
    sandbox = Sandbox(**kwargs).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def wait_forever(sandbox: Sandbox) -> None:  # pragma: no cover - interactive
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping…")
