"""Soak under injected faults: 0 lost, 0 duplicated, 0 double-decided, 0 stuck, 0 unauthorized.

    python -m benchmarks.soak            # CI size (about half a minute)
    python -m benchmarks.soak --n 1000   # the full run

Runs N executions of the seed's state machine on moto through the real notifier (SQS batches,
every message delivered at least twice, poison messages mixed in) and the real interactions
handler (signed requests over HTTP: concurrent approvers, double clicks, outsiders, the
requester, replays, stale signatures), while Slack answers 429 / 500 / too slowly and
Step Functions fails transiently after claims, and some executions time out while waiting.
Then it drives every request to an end state and checks the invariants. Exit status 1 if an
invariant is violated or a fault type never happened (Slack faults count when a call met them;
a run that injected nothing cannot pass). The Slack stand-in enforces Slack's rate limits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import EndpointConnectionError

from bot.ids import Action, Input, Modal
from bot.local.events import LocalContext, sqs_event
from bot.local.sandbox import CHANNEL, PEOPLE, SIGNING_SECRET, Sandbox
from bot.local.slack_driver import Response, SlackDriver
from bot.local.slack_standin import Fault
from bot.models import Status, approval_id_for
from bot.store import ApprovalNotFound, ApprovalStore

ANA, BO, CY, EVE = "U0ANA", "U0BO", "U0CY", "U0EVE"
APPROVERS = {ANA, CY}  # DEFAULT_APPROVERS of the sandbox: ana and @oncall (cy)
VOTERS = [ANA, CY, EVE]  # the approvers of the 2-of-3 ("approve2") requests
SHORT_WAIT = 4  # seconds the "timeout" executions wait before Step Functions gives up
# Slack takes about one message a second per channel (the stand-in enforces it): requests are
# spread over channels, at most this many each, as a busy workspace's would be.
REQUESTS_PER_CHANNEL = 10
FIRED_KIND = {"429": "429", "500": "5xx", "timeout": "delay_timeout"}  # soak name: stand-in kind


class LambdaCrashed(BaseException):
    """The notifier died between chat.postMessage and saving the ts."""


@dataclass
class Plan:
    index: int
    outcome: str  # approve | reject | timeout
    execution_arn: str = ""
    approval_id: str = ""
    token: str = ""
    ts: str = ""
    channel: str = CHANNEL


@dataclass
class Faults:
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.counts[kind] += n


class LogScan(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.lines_lock = threading.Lock()  # not ``lock``: logging.Handler holds that in emit()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            line = str(record.msg)
        with self.lines_lock:
            self.lines.append(line)


class Soak:
    def __init__(self, n: int, seed: int, fault_rate: float) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.faults = Faults()
        self.plans: list[Plan] = []
        self.poison: list[str] = []
        self.task_calls: Counter[str] = Counter()  # approval id -> successful SendTask* calls
        self.crash_ids: set[str] = set()
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.logs = LogScan()
        self.stuck_kinds: Counter[str] = Counter()

    # --- set-up ---------------------------------------------------------------------------------

    def start(self) -> None:
        os.environ["POST_LEASE_SECONDS"] = "4"  # > the slowest fault (2.5 s) and the timeout
        os.environ["SLACK_TIMEOUT_SECONDS"] = "2"
        self.sandbox = Sandbox(
            # As deployed (lease 120 s < visibility 180 s): a redelivery never meets a live
            # posting lease, so retries do not use up the queue's maxReceiveCount.
            port=0,
            background=False,
            visibility_timeout=5,
            short_wait_seconds=SHORT_WAIT,
        ).start()
        self.store = ApprovalStore(boto3.client("dynamodb"), os.environ["APPROVALS_TABLE"])
        self.driver = SlackDriver(
            self.sandbox.standin, signing_secret=SIGNING_SECRET, send=self._send
        )
        for name in ("sfn-approvals", "bot", "slack_bolt", "sandbox"):
            logging.getLogger(name).addHandler(self.logs)
        logging.getLogger().addHandler(self.logs)
        count = max(1, -(-self.n // REQUESTS_PER_CHANNEL))
        self.channels = [CHANNEL] + [f"C0SOAK{k:03d}" for k in range(1, count)]
        for k, channel in enumerate(self.channels[1:], start=1):
            self.sandbox.standin.add_channel(channel, f"soak-{k}", members=[p.id for p in PEOPLE])
        self._hook_step_functions()
        self._hook_crashes()

    def _send(self, body: str, headers: dict[str, str]) -> Response:
        self.sent.append((body, headers))
        return self.sandbox.post_to_endpoint(body, headers)

    def _hook_step_functions(self) -> None:
        client = self.sandbox.interactions.service._workflow._sfn
        expirations = self.sandbox.expirations.service._workflow._sfn

        def flaky(model: Any, **_: Any) -> None:
            if model.name in ("SendTaskSuccess", "SendTaskFailure"):
                first = not self.faults.counts["sfn_transient_error"]
                if first or self.rng.random() < self.fault_rate:
                    self.faults.add("sfn_transient_error")
                    raise EndpointConnectionError(endpoint_url="https://states.local")

        def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["soak_approval_id"] = approval_id_for(params["taskToken"])

        def count(model: Any, http_response: Any, context: dict[str, Any], **_: Any) -> None:
            if http_response.status_code == 200 and "soak_approval_id" in context:
                with self.faults.lock:
                    self.task_calls[context["soak_approval_id"]] += 1

        client.meta.events.register("before-call.sfn.*", flaky)
        for sfn in (client, expirations):
            for op in ("SendTaskSuccess", "SendTaskFailure"):
                sfn.meta.events.register(f"before-parameter-build.sfn.{op}", remember)
                sfn.meta.events.register(f"after-call.sfn.{op}", count)

    def _hook_crashes(self) -> None:
        store = self.sandbox.notifier.service._store
        original = store.mark_posted

        def mark_posted(approval_id: str, **kwargs: Any) -> Any:
            if approval_id in self.crash_ids:
                self.crash_ids.discard(approval_id)
                self.faults.add("crash_after_post")
                raise LambdaCrashed(approval_id)
            return original(approval_id, **kwargs)

        store.mark_posted = mark_posted

    # --- the run --------------------------------------------------------------------------------

    def run(self) -> None:
        outcomes = ["approve", "reject", "timeout", "approve2"]
        weights = [0.35, 0.25, 0.15, 0.25]
        for i in range(self.n):
            outcome = self.rng.choices(outcomes, weights)[0] if i >= 4 else outcomes[i]
            plan = Plan(i, outcome, channel=self.channels[i % len(self.channels)])
            request: dict[str, Any] = {
                "service": f"svc-{i}",
                "version": "1.0",
                "requester": BO,
                "channel": plan.channel,
            }
            if outcome == "approve2":  # N-of-M: 2 of ana, cy, eve
                request.update(approvers=VOTERS, required_approvals=2)
            plan.execution_arn = self.sandbox.start_execution(
                request, short_wait=outcome == "timeout"
            )
            self.plans.append(plan)
        for i in range(max(2, self.n // 10)):
            body = self.rng.choice(
                ["not json", "[]", '{"Payload": {}}', "{" * 50, '{"TaskToken": 5}']
            )
            body += " " * i  # distinct bodies
            self.poison.append(body)
            self.sandbox.sqs.send_message(QueueUrl=self.sandbox.stack.queues.url, MessageBody=body)
        self.deliver_all()
        self.map_posts()
        self.click_all()
        self.drive_to_end()

    def _maybe_slack_fault(self, methods: tuple[str, ...]) -> None:
        """A Slack fault with probability ``fault_rate`` (each kind until one has fired)."""
        kinds = ("429", "500", "timeout")
        standin = self.sandbox.standin
        met = {f.kind for f in standin.fired_faults()} | {
            f.kind for _, f, _ in standin.pending_faults()
        }
        missing = [k for k in kinds if FIRED_KIND[k] not in met]
        if not missing and self.rng.random() >= self.fault_rate:
            return
        kind = missing[0] if missing else self.rng.choice(kinds)
        fault = {
            "429": Fault(status=429, retry_after=1),
            "500": Fault(status=500),
            "timeout": Fault(delay=2.5),  # the soak's Slack client gives up after 2 s
        }[kind]
        standin.inject(self.rng.choice(methods), fault)

    def count_fired_slack_faults(self) -> None:
        """Slack faults count when a call met them (a queued one nobody met does not)."""
        fired = Counter(f.kind for f in self.sandbox.standin.fired_faults())
        for kind, fired_kind in FIRED_KIND.items():
            self.faults.counts[f"slack_{kind}"] = fired[fired_kind]

    def deliver_all(self) -> None:
        """Lambda's event source mapping, adversarially: every batch delivered twice."""
        rounds = 80 + self.n // 2  # ~n/10 batches of 10, plus retries and poison receives
        queue = self.sandbox.stack.queues
        sqs = self.sandbox.sqs
        crash_budget = max(1, self.n // 8)
        idle = 0
        for _ in range(rounds):
            messages = sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                idle += 1
                if idle >= 2 and self._queue_depth() == 0 and len(self._all_posted()) >= self.n:
                    return
                continue
            idle = 0
            for message in messages:
                token = _token(message["Body"])
                if token and crash_budget and self.rng.random() < 0.3:
                    self.crash_ids.add(approval_id_for(token))
                    crash_budget -= 1
            self._maybe_slack_fault(("chat.postMessage", "conversations.history"))
            failed: set[str] = set()
            for attempt in range(2):
                batch = list(messages)
                self.rng.shuffle(batch)
                if attempt:
                    self.faults.add("duplicate_delivery", len(batch))
                try:
                    response = self.sandbox.notifier.handler(
                        sqs_event(batch, queue_arn=queue.arn),
                        LocalContext(function_name="notifier"),
                    )
                except LambdaCrashed:
                    failed = {m["MessageId"] for m in messages}  # the whole invocation died
                    break
                failed |= {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            done = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)
                if m["MessageId"] not in failed
            ]
            if done:
                sqs.delete_message_batch(QueueUrl=queue.url, Entries=done)
        raise RuntimeError("the queue did not drain")

    def _queue_depth(self) -> int:
        attrs = self.sandbox.sqs.get_queue_attributes(
            QueueUrl=self.sandbox.stack.queues.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def _all_posted(self) -> dict[str, list[str]]:
        by_id: dict[str, list[str]] = {}
        messages = [m for c in self.channels for m in self.sandbox.standin.messages(c)]
        for message in messages:
            approval_id = ((message.get("metadata") or {}).get("event_payload") or {}).get(
                "approval_id"
            )
            if approval_id:
                by_id.setdefault(approval_id, []).append(message["ts"])
        return by_id

    def map_posts(self) -> None:
        sfn = self.sandbox.sfn
        posted = self._all_posted()
        for plan in self.plans:
            history = sfn.get_execution_history(executionArn=plan.execution_arn)["events"]
            for event in history:
                details = event.get("taskScheduledEventDetails") or {}
                if details.get("resource") == "sendMessage.waitForTaskToken":
                    plan.token = json.loads(details["parameters"])["MessageBody"]["TaskToken"]
            plan.approval_id = approval_id_for(plan.token) if plan.token else ""
            plan.ts = (posted.get(plan.approval_id) or [""])[0]

    # --- clicks ---------------------------------------------------------------------------------

    def _reject(self, user: str, plan: Plan) -> None:
        self.driver.click(user, plan.channel, plan.ts, Action.REJECT)
        for view in self.driver.open_views(Modal.REJECT, user_id=user):
            meta = json.loads(view.get("private_metadata") or "{}")
            if meta.get("approval_id") == plan.approval_id:
                self.driver.submit(
                    user, view, {Input.REASON_BLOCK: {Input.REASON_INPUT: f"no ({user})"}}
                )

    def click_all(self) -> None:
        jobs: list[Callable[[], Any]] = []
        for plan in self.plans:
            if plan.outcome == "timeout" or not plan.ts:
                continue
            if plan.outcome == "approve":
                jobs += [
                    lambda p=plan: self.driver.click(ANA, p.channel, p.ts, Action.APPROVE),
                    lambda p=plan: self.driver.click(CY, p.channel, p.ts, Action.APPROVE),
                    lambda p=plan: self.driver.click(ANA, p.channel, p.ts, Action.APPROVE),
                ]
                self.faults.add("concurrent_approvers", 3)
                self.faults.add("double_click")
            elif plan.outcome == "approve2":  # three voters (one twice) race for two places
                jobs += [
                    lambda p=plan, u=user: self.driver.click(u, p.channel, p.ts, Action.APPROVE)
                    for user in (*VOTERS, CY)
                ]
                self.faults.add("concurrent_n_of_m_votes", 4)
                self.faults.add("double_click")
            else:
                jobs += [lambda p=plan: self._reject(ANA, p), lambda p=plan: self._reject(CY, p)]
                self.faults.add("concurrent_approvers", 2)
            if plan.outcome != "approve2":  # eve is one of its voters
                jobs.append(lambda p=plan: self.driver.click(EVE, p.channel, p.ts, Action.APPROVE))
                self.faults.add("unauthorized_click")
            jobs.append(lambda p=plan: self.driver.click(BO, p.channel, p.ts, Action.APPROVE))
            self.faults.add("requester_click")
        self.rng.shuffle(jobs)
        with ThreadPoolExecutor(max_workers=6) as pool:
            for job in jobs:
                if self.rng.random() < self.fault_rate:
                    self._maybe_slack_fault(("chat.update", "users.info", "response_url"))
                pool.submit(job)
        self.sandbox.lazy.wait(timeout=60)
        # Replays of signed requests (within Slack's 5-minute window) and stale signatures.
        for body, headers in self.rng.sample(self.sent, min(len(self.sent), max(3, self.n // 4))):
            self.sandbox.post_to_endpoint(body, headers)
            self.faults.add("replayed_request")
            response = self.driver._post(body, timestamp=int(time.time()) - 400)
            if response.status != 401:
                self.faults.add("stale_accepted_VIOLATION")
            self.faults.add("stale_signature")
        self.sandbox.lazy.wait(timeout=60)

    def drive_to_end(self, rounds: int = 6) -> None:
        """Keep deciding what transient faults left open; let timed-out executions expire."""
        self.sandbox.standin.clear_faults()
        for _ in range(rounds):
            open_plans = [
                p
                for p in self.plans
                if p.approval_id and self._status(p).is_open and p.ts and p.outcome != "timeout"
            ]
            if not open_plans:
                break
            for plan in open_plans:
                if plan.outcome == "approve":
                    self.driver.click(ANA, plan.channel, plan.ts, Action.APPROVE)
                elif plan.outcome == "approve2":
                    for user in VOTERS:  # whoever has not voted yet
                        self.driver.click(user, plan.channel, plan.ts, Action.APPROVE)
                else:
                    self._reject(CY, plan)
            self.sandbox.lazy.wait(timeout=60)
        deadline = time.monotonic() + SHORT_WAIT + 20
        while time.monotonic() < deadline:
            statuses = [
                self.sandbox.sfn.describe_execution(executionArn=p.execution_arn)["status"]
                for p in self.plans
            ]
            if "RUNNING" not in statuses:
                break
            time.sleep(0.5)
        self.sandbox.watch_executions()  # the EventBridge rule
        self.sandbox.sweep()

    def _status(self, plan: Plan) -> Status:
        try:
            return self.store.get(plan.approval_id).status
        except ApprovalNotFound:
            return Status.POSTING  # never stored: counted as lost by the invariants

    # --- the verdict ----------------------------------------------------------------------------

    def invariants(self) -> list[tuple[str, int, int]]:
        """(name, count, allowed) rows."""
        posted = self._all_posted()
        expected_status = {
            "approve": ("SUCCEEDED", None, Status.APPROVED),
            "approve2": ("SUCCEEDED", None, Status.APPROVED),
            "reject": ("FAILED", "Rejected", Status.REJECTED),
            "timeout": ("FAILED", "ApprovalExpired", Status.EXPIRED),
        }
        rows: list[tuple[str, int, int]] = []
        started = len(self.plans)
        posted_once = sum(1 for p in self.plans if len(posted.get(p.approval_id, [])) == 1)
        duplicates = sum(max(0, len(v) - 1) for v in posted.values())
        deciding = [p for p in self.plans if p.outcome != "timeout"]
        decided_once = sum(1 for p in deciding if self.task_calls[p.approval_id] == 1)
        timed_out_decided = sum(
            1 for p in self.plans if p.outcome == "timeout" and self.task_calls[p.approval_id]
        )
        double = sum(1 for c in self.task_calls.values() if c > 1)
        as_expected = stuck = lost = unauthorized = wrong_n = 0
        for plan in self.plans:
            described = self.sandbox.sfn.describe_execution(executionArn=plan.execution_arn)
            want_status, want_error, want_final = expected_status[plan.outcome]
            try:
                approval = self.store.get(plan.approval_id)
            except ApprovalNotFound:
                lost += 1
                continue
            if approval.status.is_open:
                stuck += 1
                self.stuck_kinds[f"{plan.outcome}:{approval.status}"] += 1
            ok = described["status"] == want_status and described.get("error") == want_error
            if ok and approval.status is want_final:
                as_expected += 1
            allowed = set(VOTERS) if plan.outcome == "approve2" else APPROVERS
            voters = [v.actor.id for v in approval.votes]
            if any(v not in allowed or v == BO for v in voters):
                unauthorized += 1
            if plan.outcome == "approve2" and approval.status is Status.APPROVED:
                approvers = [v.actor.id for v in approval.votes_for("approved")]
                wrong_n += len(approvers) != 2 or len(set(approvers)) != 2
        dlq = self._drain_dlq()
        poison_kept = sum(1 for body in self.poison if body in dlq)
        lost += len(self.poison) - poison_kept
        leaks = self._token_leaks()
        rows += [
            ("requests started", started, -1),
            ("posted exactly once", posted_once, -1),
            ("duplicate posts", duplicates, 0),
            ("decided exactly once (approve/reject plans)", decided_once, -1),
            ("double decisions", double, 0),
            ("executions ended as expected", as_expected, -1),
            ("executions not as expected", started - as_expected, 0),
            ("requests not posted exactly once", started - posted_once, 0),
            ("approve/reject plans not decided exactly once", len(deciding) - decided_once, 0),
            ("timed-out requests decided anyway", timed_out_decided, 0),
            ("stuck PENDING / CLAIMED / POSTING", stuck, 0),
            ("poison messages kept by the DLQ", poison_kept, -1),
            ("lost (no final state, not in the DLQ)", lost, 0),
            ("unauthorized votes or decisions accepted", unauthorized, 0),
            ("N-of-M approvals without exactly N distinct approvers", wrong_n, 0),
            ("stale signatures accepted", self.faults.counts["stale_accepted_VIOLATION"], 0),
            ("token leaks in logs or Slack calls", leaks, 0),
        ]
        return rows

    def _drain_dlq(self) -> set[str]:
        bodies: set[str] = set()
        empty = 0
        for _ in range(20 + len(self.poison)):  # bounded; ends after two empty receives
            batch = self.sandbox.sqs.receive_message(
                QueueUrl=self.sandbox.stack.queues.dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=600,
            ).get("Messages", [])
            empty = 0 if batch else empty + 1
            if empty >= 2:
                break
            bodies |= {m["Body"] for m in batch}
        return bodies

    def _token_leaks(self) -> int:
        tokens = [p.token for p in self.plans if p.token]
        calls = json.dumps([c.params for c in self.sandbox.standin.calls()], default=str)
        with self.logs.lines_lock:
            logs = "\n".join(self.logs.lines)
        return sum(1 for t in tokens if t in calls or t in logs)


def _token(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    token = data.get("TaskToken") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="executions (default 24; 1000 = full)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
    soak = Soak(args.n, args.seed, args.fault_rate)
    started = time.perf_counter()
    soak.start()
    try:
        soak.run()
        soak.count_fired_slack_faults()
        rows = soak.invariants()
    finally:
        soak.sandbox.stop()
    elapsed = time.perf_counter() - started

    rate = f"{args.fault_rate:.0%}"
    print(f"\nsoak: {args.n} executions, seed {args.seed}, fault rate {rate}, {elapsed:.1f} s")
    print(f"\n{'fault injected':<40} {'count':>7}")
    wanted = [
        "slack_429",
        "slack_500",
        "slack_timeout",
        "crash_after_post",
        "duplicate_delivery",
        "sfn_transient_error",
        "concurrent_approvers",
        "concurrent_n_of_m_votes",
        "double_click",
        "unauthorized_click",
        "requester_click",
        "replayed_request",
        "stale_signature",
    ]
    nothing = []
    for kind in wanted:
        count = soak.faults.counts[kind]
        print(f"{kind:<40} {count:>7}")
        if count == 0:
            nothing.append(kind)
    print(f"{'poison messages':<40} {len(soak.poison):>7}")
    limited = len(soak.sandbox.standin.rate_limit_hits())
    print(f"{'429s from Slack rate limits (not injected)':<40} {limited:>7}")
    timeouts = sum(p.outcome == "timeout" for p in soak.plans)
    print(f"{'timeouts (executions left to expire)':<40} {timeouts:>7}")
    print(f"\n{'invariant':<48} {'count':>7}  verdict")
    violated = []
    for name, count, allowed in rows:
        verdict = "" if allowed < 0 else ("ok" if count <= allowed else "VIOLATED")
        if verdict == "VIOLATED":
            violated.append(name)
        print(f"{name:<48} {count:>7}  {verdict}")
    if soak.stuck_kinds:
        print(f"stuck, by plan and status: {dict(soak.stuck_kinds)}")
    if nothing:
        print(f"\nFAIL: no faults of type {', '.join(nothing)} happened (raise --n or the rate)")
    if violated:
        print(f"\nFAIL: {', '.join(violated)}")
    if not nothing and not violated:
        print("\nall invariants hold")
    return 1 if (violated or nothing) else 0


if __name__ == "__main__":
    sys.exit(main())
