"""``make sandbox`` as a newcomer runs it, in a child process: what it prints.

* A busy port: one line that says so and how to pick another (``make sandbox PORT=…``).
* A normal run — start, approve, reject, expire, plus bad input to the page's API — prints no
  ERROR or WARNING line and no traceback (moto's expected-failure lines and Bolt's ``token``
  warnings are silenced precisely; see ``tests/functional/test_moto_setup.py`` for what stays).
* In process (``Sandbox`` as a library, e.g. in a test): stopping it puts the environment back.

``make`` runs with ``-o .venv/.installed`` and ``PY=`` this interpreter: the target's own
command is under test, not the virtualenv set-up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NOISE = re.compile(r"\b(ERROR|WARNING|CRITICAL)\b|Traceback")


def make_sandbox(port: int) -> list[str]:
    return [
        "make",
        "--no-print-directory",
        "-s",
        "-o",
        ".venv/.installed",
        "sandbox",
        f"PORT={port}",
        f"PY={sys.executable}",
    ]


def child_env() -> dict[str, str]:
    """The environment of a shell: none of the test process's AWS/Slack settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "POWER"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_a_busy_port_is_one_line_with_the_fix() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = subprocess.Popen(  # noqa: S603 - make, with this repository's Makefile
            make_sandbox(port),
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=30)
        finally:  # a sandbox that started anyway must not outlive the test
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert done.returncode != 0
    assert done.stdout == ""
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert len(ours) == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in ours[0]
    suggested = re.search(r"`make sandbox PORT=(\d+)`", ours[0])
    assert suggested, ours[0]
    assert int(suggested.group(1)) != port
    assert "Traceback" not in done.stderr


class Running:
    """The child's output, read on a thread so its pipe never fills."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def url(self) -> str:
        for _ in range(600):  # bounded: 60 s
            for line in list(self.lines):
                found = re.search(r"sandbox: (http://127\.0\.0\.1:\d+/)", line)
                if found:
                    return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("the sandbox did not start:\n" + "\n".join(self.lines))

    def stop(self) -> list[str]:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C, as in a terminal
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        return self.lines


@pytest.fixture
def running() -> Iterator[Running]:
    process = subprocess.Popen(  # noqa: S603 - make, with this repository's Makefile
        make_sandbox(0),
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    child = Running(process)
    try:
        yield child
    finally:
        child.stop()


class Page:
    """The page's JSON API, as the page calls it."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, path: str, body: Any = None, *, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
            self.url + path,
            data=data,
            headers={"Content-Type": "application/json"},
            method="GET" if data is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def start(self, service: str, **approval: Any) -> str:
        status, answer = self.call("/api/executions", {"input": {"service": service, **approval}})
        assert status == 200, answer
        return str(answer["arn"])

    def state(self) -> dict[str, Any]:
        status, answer = self.call("/api/state?user=U0ANA")
        assert status == 200
        return dict(answer)

    def message(self, service: str) -> dict[str, Any]:
        for _ in range(200):  # bounded: 20 s
            for message in self.state()["messages"]:
                if f"Deploy {service} " in json.dumps(message["blocks"]):
                    return dict(message)
            time.sleep(0.1)
        raise AssertionError(f"no message for {service}")

    def click(self, message: dict[str, Any], action_id: str) -> None:
        value = next(
            e["value"]
            for b in message["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        body = {"user": "U0ANA", "ts": message["ts"], "action_id": action_id, "value": value}
        status, answer = self.call("/api/click", body)
        assert (status, answer["status"]) == (200, 200), answer

    def finished(self, arn: str) -> dict[str, Any]:
        for _ in range(200):  # bounded: 20 s
            found = [e for e in self.state()["executions"] if e["arn"] == arn]
            if found and found[0]["status"] != "RUNNING":
                return dict(found[0])
            time.sleep(0.1)
        raise AssertionError(f"{arn} did not finish")


def test_a_normal_run_prints_no_error_or_warning(running: Running) -> None:
    page = Page(running.url())

    approved = page.start("cli-approve")
    page.click(page.message("cli-approve"), "approval.approve")

    rejected = page.start("cli-reject")
    page.click(page.message("cli-reject"), "approval.reject")
    modal = page.state()["modal"]
    reason = next(b for b in modal["blocks"] if b["type"] == "input")
    values = {reason["block_id"]: {reason["element"]["action_id"]: "not today"}}
    status, answer = page.call(
        "/api/submit", {"user": "U0ANA", "view_id": modal["id"], "values": values}
    )
    assert (status, answer["status"]) == (200, 200), answer

    deadline = datetime.now(UTC) + timedelta(seconds=2)
    expired = page.start("cli-expire", expires_at=deadline.isoformat())
    page.message("cli-expire")
    time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 0.2)
    assert page.call("/api/sweep", {})[0] == 200

    for raw in (b'{"nonsense": true}', b'{"input": [1]}', b"{not json", b"[]"):
        assert page.call("/api/executions", raw=raw)[0] == 400
    assert page.call("/api/click", {"user": "U0ANA"})[0] == 400

    outcomes = {arn: page.finished(arn) for arn in (approved, rejected, expired)}
    assert outcomes[approved]["status"] == "SUCCEEDED"
    assert (outcomes[rejected]["status"], outcomes[rejected]["error"]) == ("FAILED", "Rejected")
    assert outcomes[expired]["error"] == "ApprovalExpired"

    lines = running.stop()
    assert any(line.startswith("sfn-approvals sandbox: http://") for line in lines), lines
    noisy = [line for line in lines if NOISE.search(line)]
    assert noisy == [], "\n".join(noisy)


def test_stop_puts_the_environment_back() -> None:
    """The sandbox configures the handlers through the environment (AWS endpoint, tokens,
    table, MOTO_PORT): after ``stop`` every variable is as it was before ``start``."""
    from bot.local.sandbox import Sandbox
    from tests.e2e.conftest import restored_process_state

    with restored_process_state():  # the handlers it imported go; the env only on failure
        os.environ["SLACK_BOT_TOKEN"] = "xoxb-of-the-caller"
        os.environ.pop("MOTO_PORT", None)
        before = dict(os.environ)
        sandbox = Sandbox(port=0).start()
        try:
            assert os.environ["SLACK_BOT_TOKEN"] != "xoxb-of-the-caller"
            assert "MOTO_PORT" in os.environ
        finally:
            sandbox.stop()
        assert dict(os.environ) == before
