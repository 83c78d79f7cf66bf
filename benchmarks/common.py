"""Shared pieces of the performance benchmarks (``python -m benchmarks.<name>``).

* :func:`local_stack` — moto (``ThreadedMotoServer`` on 127.0.0.1, the way the sandbox starts
  it) with the approvals table, and the Slack stand-in with a small workspace; the environment
  the handlers read is set exactly as the sandbox sets it.
* :func:`fresh_import` — import a handler module anew, as a cold Lambda start does.
* :func:`quiet_stdout` — the handlers log JSON to stdout (as on Lambda, where the runtime reads
  it); while measuring in process that output goes to /dev/null instead of a terminal.
* small statistics and machine helpers.

Nothing here is imported by ``bot/``; the benchmarks never assert, they print.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import platform
import secrets
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BOT_TOKEN = "xoxb-benchmark"  # noqa: S105 - a local stand-in's token
SIGNING_SECRET = "benchmark-signing-secret"  # noqa: S105
TABLE = "sfn-approvals-benchmark"
REGION = "us-east-1"
CHANNEL = "C0APPROVALS"
ANA, BO = "U0ANA", "U0BO"
ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:interactions"
STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:approval-flow"


def base_env(slack_url: str | None = None) -> dict[str, str]:
    """What the sandbox puts in the environment (``bot/local/sandbox.py``), minus moto's URL."""
    env = {
        "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "APPROVALS_TABLE": TABLE,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DEFAULT_CHANNEL": CHANNEL,
        "DEFAULT_APPROVERS": ANA,
        # Never traced locally (there is no X-Ray daemon); Tracer disables itself outside
        # Lambda anyway, this makes it explicit.
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    if slack_url:
        env["SLACK_API_URL"] = slack_url
    return env


def set_env(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.pop("AWS_PROFILE", None)


@dataclass
class LocalStack:
    moto: Any  # ThreadedMotoServer, or None when moto runs in process (mock_aws)
    endpoint: str | None
    slack: Any  # SlackStandIn

    def stop(self) -> None:
        self.slack.stop()
        if self.moto is not None:
            self.moto.stop()


def start_standin(*, latency: float = 0.0, channels: Sequence[str] = (CHANNEL,)) -> Any:
    from bot.local.slack_standin import SlackStandIn

    slack = SlackStandIn(bot_token=BOT_TOKEN, latency=latency).start()
    for channel in channels:
        slack.add_channel(channel, channel.lower(), members=[ANA, BO])
    slack.add_user(ANA, "ana", real_name="Ana Approver", email="ana@example.com")
    slack.add_user(BO, "bo", real_name="Bo Requester", email="bo@example.com")
    return slack


@contextlib.contextmanager
def local_stack(
    *, latency: float = 0.0, channels: Sequence[str] = (CHANNEL,)
) -> Iterator[LocalStack]:
    """moto server + the approvals table + the Slack stand-in, with the environment set."""
    import boto3

    from bot.local.infra import create_table
    from bot.local.sandbox import start_moto

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    slack = start_standin(latency=latency, channels=channels)
    server, endpoint = start_moto()
    set_env({**base_env(slack.url), "AWS_ENDPOINT_URL": endpoint})
    stack = LocalStack(server, endpoint, slack)
    try:
        create_table(boto3.client("dynamodb"), TABLE)
        yield stack
    finally:
        stack.stop()


# A server in its own process: started by ``python -c``, says "READY <url>" on stdout, and
# stops when its stdin closes.
_STANDIN_SERVER = """
import sys
from benchmarks.common import start_standin
slack = start_standin(latency=float(sys.argv[1]), channels=sys.argv[2].split(","))
print("READY", slack.url, flush=True)
sys.stdin.read()
slack.stop()
"""
_MOTO_SERVER = """
import logging, sys
from bot.local.sandbox import start_moto
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server, endpoint = start_moto()
print("READY", endpoint, flush=True)
sys.stdin.read()
server.stop()
"""


@contextlib.contextmanager
def server_process(code: str, *args: str) -> Iterator[str]:
    """Run a local server in a child process; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError(f"server did not start: {line}")
        yield line[1]
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def separate_stack(
    *, latency: float = 0.0, channels: Sequence[str] = (CHANNEL,)
) -> Iterator[tuple[str, str]]:
    """moto and the Slack stand-in, each in its own process (so their request handling does
    not compete with the code under test for this interpreter); yields (moto URL, Slack URL)
    with the environment set and the approvals table created."""
    import boto3

    from bot.local.infra import create_table

    with (
        server_process(_MOTO_SERVER) as endpoint,
        server_process(_STANDIN_SERVER, str(latency), ",".join(channels)) as slack_url,
    ):
        set_env({**base_env(slack_url), "AWS_ENDPOINT_URL": endpoint})
        create_table(boto3.client("dynamodb"), TABLE)
        yield endpoint, slack_url


def channel_messages(slack_url: str, channel: str) -> list[dict[str, Any]]:
    """A channel's messages, read through the Web API (the stand-in may run elsewhere)."""
    from slack_sdk import WebClient

    client = WebClient(token=BOT_TOKEN, base_url=slack_url)
    messages: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.conversations_history(channel=channel, limit=1000, cursor=cursor)
        messages.extend(page.get("messages", []))
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return messages


def fresh_import(name: str) -> ModuleType:
    """Import a handler module anew (its clients are built at import, as on a cold start)."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def new_token() -> str:
    """A fresh, Step-Functions-shaped task token (opaque; only its hash becomes the id)."""
    return "AQB8AAAAKgAAAAMAAAAAAAAAA" + secrets.token_urlsafe(300)


def request_body(*, channel: str = CHANNEL, title: str = "Deploy api to prod") -> str:
    """The SQS body the seed's waitForTaskToken task sends, with an ``approval`` object."""
    execution = f"{STATE_MACHINE.replace(':stateMachine:', ':execution:')}:{secrets.token_hex(8)}"
    payload = {
        "task": {"id": secrets.token_hex(6), "kind": "deploy"},
        "approval": {
            "title": title,
            "text": "Release *v1.2.3* of `api` to production.",
            "fields": {"service": "api", "version": "v1.2.3", "environment": "prod"},
            "channel": channel,
            "approvers": [ANA],
            "requester": BO,
        },
    }
    return json.dumps({"Payload": payload, "TaskToken": new_token(), "Execution": execution})


def lambda_context(function_name: str, memory_mb: int = 512) -> Any:
    from bot.local.events import LocalContext

    return LocalContext(
        function_name=function_name,
        memory_limit_in_mb=memory_mb,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}",
    )


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (the handlers' JSON logs), restore it after."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 1000 samples = the 990th smallest)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def machine() -> str:
    """``nproc``, the CPU model and the Python version, on one line."""
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"nproc {len(os.sched_getaffinity(0))} ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
