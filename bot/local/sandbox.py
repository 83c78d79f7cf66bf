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
  show it to the person you pick, your clicks turned into signed interaction payloads.

Nothing in ``bot/`` outside ``bot/local/`` knows it runs here: it is all configuration
(``AWS_ENDPOINT_URL``, ``SLACK_API_URL``, tokens, table name).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from bot.local.events import LocalContext
from bot.local.lambda_client import LocalLambdaClient, attach
from bot.local.slack_driver import Response, SlackDriver
from bot.local.slack_requests import api_gateway_v2_event, post_signed
from bot.local.slack_standin import SlackStandIn
from bot.local.sqs_poller import deliver_once

log = logging.getLogger("sandbox")

STATIC: Final = Path(__file__).parent / "static"
CHANNEL: Final = "C0APPROVALS"
BOT_TOKEN: Final = "xoxb-sandbox"  # noqa: S105 - a local stand-in's token
SIGNING_SECRET: Final = "sandbox-signing-secret"  # noqa: S105
TABLE: Final = "sfn-approvals-sandbox"
REGION: Final = "us-east-1"
SWEEP_SECONDS: Final = 10.0
WATCH_SECONDS: Final = 0.5


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


def start_moto() -> tuple[Any, str]:
    """A moto server on 127.0.0.1 that runs state machines and the example Lambdas."""
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    from bot.local.infra import MOTO_CONFIG, prepare_moto

    for service, settings in MOTO_CONFIG.items():
        default_user_config.setdefault(service, {}).update(settings)  # type: ignore[misc]
    prepare_moto()
    port = free_port()
    os.environ["MOTO_PORT"] = str(port)  # moto's own calls (Step Functions → Lambda) go here
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
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
        self._loops: list[_Loop] = []
        self._servers: list[ThreadingHTTPServer] = []
        self._seen_status: dict[str, str] = {}
        self.version = 0
        self._version_lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        self._start_aws()
        if self.socket_mode:
            self._start_socket_mode()
        else:
            self._start_standin()
        self.ui = self._serve(_UiHandler, self.port, host=self.host)
        self.port = self.ui.server_port
        if self.background:
            self._loops = [
                _Loop("sqs-poller", 0.0, self.poll_queue).start(),
                _Loop("execution-watcher", WATCH_SECONDS, self.watch_executions).start(),
                _Loop("sweep", SWEEP_SECONDS, self.sweep).start(),
            ]
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
        self.moto, endpoint = start_moto()
        os.environ.update(
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
        os.environ.update(
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
        self.endpoint = self._serve(_EndpointHandler, free_port())
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
        for loop in self._loops:
            loop.stop.set()
        for loop in self._loops:
            loop.close()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        if self.socket_mode:
            with contextlib.suppress(Exception):
                self.socket.close()  # type: ignore[no-untyped-call]
        else:
            with contextlib.suppress(Exception):
                self.lazy.wait(timeout=5)
            self.standin.stop()
        if self.moto is not None:
            self.moto.stop()

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

    def _serve(
        self, handler: type[BaseHTTPRequestHandler], port: int, host: str = "127.0.0.1"
    ) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer((host, port), handler)
        server.sandbox = self  # type: ignore[attr-defined]
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name=handler.__name__, daemon=True).start()
        self._servers.append(server)
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

    def sweep(self) -> dict[str, Any]:
        """The scheduled sweep (EventBridge Scheduler in AWS); its report."""
        report: dict[str, Any] = self.expirations.handler(
            scheduled_event(), LocalContext(function_name="expirations")
        )
        return report

    # --- what Slack would do --------------------------------------------------------------------

    def post_to_endpoint(self, body: str, headers: dict[str, str]) -> Response:
        """Slack POSTs the signed interaction to the app's Request URL (here, over HTTP)."""
        timestamp = int(headers["x-slack-request-timestamp"])
        status, response_headers, text = post_signed(
            self.interactions_url, body, SIGNING_SECRET, timestamp=timestamp, timeout=10
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
            },
            "socket_mode": self.socket_mode,
            "messages": [] if self.socket_mode else self.standin.messages(CHANNEL),
            "ephemerals": [] if self.socket_mode else self.standin.ephemerals(user=user),
            "modal": modals[-1] if modals else None,
            "executions": self.executions(),
        }


def _maybe_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _import_handlers(*, socket_mode: bool = False) -> Any:
    """The Lambda handler modules, imported after the environment is set (as on a cold start)."""
    import importlib

    names = (
        ["notifier", "expirations"] if socket_mode else ["notifier", "interactions", "expirations"]
    )
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
        if urlsplit(self.path).path != "/slack/events":
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


class _UiHandler(_Handler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(200, (STATIC / "index.html").read_bytes(), "text/html; charset=utf-8")
        elif url.path == "/api/state":
            user = (parse_qs(url.query).get("user") or [PEOPLE[0].id])[0]
            state = self.sandbox.state(user)
            for execution in state["executions"]:
                if execution["status"] != "RUNNING":
                    execution["decision"] = self._decision(execution["arn"])
            self._json(200, state)
        elif url.path == "/api/version":
            self._json(200, {"version": self.sandbox.version})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        try:
            data = json.loads(self._body() or b"{}")
        except ValueError:
            self._json(400, {"error": "invalid JSON"})
            return
        try:
            self._json(200, self._route(urlsplit(self.path).path, data))
        except (LookupError, StopIteration) as exc:  # a button, modal or message that is gone
            self._json(404, {"error": f"{type(exc).__name__}: {exc}"})
        except (TypeError, ValueError) as exc:
            self._json(400, {"error": f"{type(exc).__name__}: {exc}"})

    def _route(self, path: str, data: dict[str, Any]) -> Any:
        sandbox, driver = self.sandbox, self.sandbox.driver
        if path == "/api/executions":
            return {
                "arn": sandbox.start_execution(
                    data.get("input") or {}, short_wait=bool(data.get("short_wait"))
                )
            }
        if path == "/api/click":
            response = driver.click(
                data["user"], CHANNEL, data["ts"], data["action_id"], value=data.get("value")
            )
        elif path == "/api/click_ephemeral":
            ephemeral = next(
                e
                for e in sandbox.standin.ephemerals(user=data["user"])
                if e["message_ts"] == data["message_ts"]
            )
            response = driver.click_ephemeral(
                data["user"], ephemeral, data["action_id"], value=data.get("value")
            )
        elif path == "/api/submit":
            view = next(
                v for v in driver.open_views(user_id=data["user"]) if v["id"] == data["view_id"]
            )
            response = self._submit(data["user"], view, data["values"])
        elif path == "/api/close":
            driver.close(str(data["view_id"]))
            sandbox.bump()
            return {"closed": data["view_id"]}
        elif path == "/api/command":
            response = sandbox.command(data["user"], str(data.get("text", "")))
        elif path == "/api/sweep":
            report = sandbox.sweep()  # what the schedule does every SWEEP_SECONDS, now
            sandbox.bump()
            return {"swept": True, "report": report}
        else:
            raise KeyError(path)
        sandbox.lazy.wait(timeout=15)  # the page shows the outcome of the click at once
        sandbox.bump()
        return {"status": response.status, "body": response.body}

    # Execution ARN → the approval task's output (what the bot sent with SendTaskSuccess), or
    # None. Read once per stopped execution: its history no longer changes.
    _decisions: Final[dict[str, Any]] = {}

    def _decision(self, execution_arn: str) -> Any:
        """The example flow's last state drops most of the decision (inputs, comment, every
        approver): show what the approval task returned, from the execution's history."""
        from botocore.exceptions import BotoCoreError, ClientError

        if execution_arn not in self._decisions:
            try:
                events = self.sandbox.sfn.get_execution_history(
                    executionArn=execution_arn, maxResults=1000
                )["events"]
            except (BotoCoreError, ClientError) as exc:  # e.g. no permission, in Socket Mode
                log.debug("no history of %s: %s", execution_arn, exc)
                return None
            outputs = [
                e["taskSucceededEventDetails"].get("output")
                for e in events
                if e["type"] == "TaskSucceeded"
                and e["taskSucceededEventDetails"].get("resource") == "sendMessage.waitForTaskToken"
            ]
            self._decisions[execution_arn] = _maybe_json(outputs[-1]) if outputs else None
        return self._decisions[execution_arn]

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
