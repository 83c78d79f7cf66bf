"""The soak's workload: set-up, requests, adversarial delivery, clicks, driving to an end.

Runs N executions of the seed's state machine on moto through the real notifier (SQS batches,
every message delivered at least twice, some batches by two invocations at the same instant,
poison messages mixed in) and the real interactions handler (signed requests over HTTP:
concurrent approvers, double clicks, outsiders, requesters who are also approvers, replays,
stale signatures), while Slack answers 429 / 5xx / too slowly and Step Functions fails
transiently, and some executions time out while waiting.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3

from benchmarks.soak import faults
from benchmarks.soak.logscan import LogScan
from bot.group_store import group_id_for
from bot.ids import GROUP_ITEM_SEPARATOR, Action, Input, Modal
from bot.local.events import LocalContext, sqs_event
from bot.local.sandbox import CHANNEL, ONCALL, PEOPLE, SIGNING_SECRET, Sandbox
from bot.local.slack_driver import ButtonNotFound, Response, SlackDriver
from bot.models import Status, approval_id_for
from bot.store import ApprovalNotFound, ApprovalStore

ANA, BO, CY, EVE, DAN = "U0ANA", "U0BO", "U0CY", "U0EVE", "U0DAN"
APPROVERS = {ANA, CY}  # DEFAULT_APPROVERS of the sandbox: ana and @oncall (cy)
VOTERS = [ANA, CY, EVE]  # the approvers of the 2-of-3 ("approve2") requests
ANA_EMAIL = "ana@example.com"  # Slack hides it (email_visible=False) in the soak
OUTSIDERS = (EVE, DAN)  # members of the public channels only
PRIVATE_MEMBERS = (ANA, BO, CY)
SHORT_WAIT = 4  # seconds the "timeout" executions wait before Step Functions gives up
SETTLE_SWEEPS = 10  # sweeps at the end while messages Slack did not take wait to be drawn again
# Slack takes about one message a second per channel (the stand-in enforces it): requests are
# spread over channels, at most this many each, as a busy workspace's would be.
REQUESTS_PER_CHANNEL = 6
PRIVATE_EVERY = 3  # every third request goes to a private channel
# approval.notify by request index (i % 5): 3 -> "both", 4 -> "dm", else the channel only.
NOTIFY_BY_INDEX = {3: "both", 4: "dm"}
# Grouped requests (approval.group): a few groups per run, each in a channel of its own.
GROUP_EVERY = 12  # max(2, n // GROUP_EVERY) groups of GROUP_SIZE requests, beyond the n
# Approvers by user group: @oncall (cy). Approve all asks Slack for each group anew per click,
# and usergroups.users.list allows 20 a minute: group items name people by id, but for the
# default approvers (ana and @oncall) of the first item.
MEMBERS = {ONCALL[0]: set(ONCALL[2])}
FORM_INPUT = "ticket"  # the required input of the group items that need the approve form
APPROVAL_ID_CHARS = 26  # bot.models.approval_id_for (a group id has 27: bot.group_store)


class LambdaCrashed(BaseException):
    """The notifier died between chat.postMessage and saving the ts."""


@dataclass
class Plan:
    index: int
    outcome: str  # approve | reject | timeout | approve2
    requester: str  # a user id, or ANA_EMAIL
    requester_id: str  # who that is
    channel: str = CHANNEL
    private: bool = False
    execution_arn: str = ""
    approval_id: str = ""
    token: str = ""
    ts: str = ""
    notify: str = "channel"  # approval.notify: channel | dm | both
    approvers: tuple[str, ...] = ()  # approval.approvers (user / user-group ids); () = default
    group: str = ""  # approval.group (outcome "group": approved or rejected, by the race)
    form: bool = False  # approval.inputs (a required field); risk high as well if ``risky``
    risky: bool = False

    @property
    def group_id(self) -> str:
        return group_id_for(self.channel, self.group) if self.group else ""

    @property
    def allowed(self) -> set[str]:
        """Who may decide it: its deciders but the requester (self-approval is off)."""
        return self.deciders - {self.requester_id}

    @property
    def dm_recipients(self) -> set[str]:
        """Who must get a direct-message copy: its approvers but the requester."""
        if self.notify == "channel":
            return set()
        return self.deciders - {self.requester_id}

    @property
    def service(self) -> str:
        return f"svc-{self.index:04d}"  # no service name is a prefix of another

    @property
    def deciders(self) -> set[str]:
        if self.approvers:
            return set().union(*(MEMBERS.get(a, {a}) for a in self.approvers))
        return set(VOTERS) if self.outcome == "approve2" else set(APPROVERS)

    @property
    def decider(self) -> str:
        """Who decides it in the end: an approver who is not its requester."""
        if self.group:
            return sorted(self.allowed)[0]
        return CY if self.requester_id == ANA else ANA


@dataclass
class Counts:
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.counts[kind] += n


class Soak:
    def __init__(self, n: int, seed: int, fault_rate: float) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.events = Counts()  # scenarios exercised (not Slack/SFN faults: see Injector)
        self.plans: list[Plan] = []
        self.poison: list[str] = []
        self.crash_ids: set[str] = set()
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.logs = LogScan()
        self.stuck_kinds: Counter[str] = Counter()
        self.phases: dict[str, float] = {}
        # Filled by the scenarios: what outsiders were shown, decisions nobody could verify.
        self.shown: dict[str, list[str]] = {}  # outsider -> texts shown to them
        self.unverified_decisions: list[str] = []
        # Filled by the verdict: decisions by someone not allowed, stale group items.
        self.not_allowed: list[str] = []
        self.stale_group_items: list[str] = []
        self.stale_after_clicks: list[str] = []  # the same, right after the clicks
        # ... and those the bot had listed for the sweep's redraw (Slack refused the update)
        self.stale_after_clicks_listed: list[str] = []
        self.stale_copies: list[str] = []  # requests with a copy showing another state
        self.late_decisions: list[str] = []

    # --- set-up ---------------------------------------------------------------------------------

    def start(self) -> None:
        os.environ["POST_LEASE_SECONDS"] = "2"  # > the slowest fault (1.5 s) and the timeout
        os.environ["SLACK_TIMEOUT_SECONDS"] = str(faults.SLACK_TIMEOUT)
        os.environ["ALLOW_SELF_APPROVAL"] = "false"
        self.logs.attach()
        self.sandbox = Sandbox(
            # As deployed (lease 120 s < visibility 180 s): a redelivery never meets a live
            # posting lease, so retries do not use up the queue's maxReceiveCount.
            port=0,
            background=False,
            visibility_timeout=3,
            short_wait_seconds=SHORT_WAIT,
        ).start()
        self.logs.attach_new()  # the handlers' loggers, created by their import
        assert self.sandbox.witness is not None  # moto runs in this process
        self.witness = self.sandbox.witness
        self.store = ApprovalStore(boto3.client("dynamodb"), os.environ["APPROVALS_TABLE"])
        self.driver = SlackDriver(
            self.sandbox.standin, signing_secret=SIGNING_SECRET, send=self._send
        )
        standin = self.sandbox.standin
        self.inject = faults.Injector(standin, self.rng, self.fault_rate)
        # Slack hides ana's e-mail (no users:read.email): users.info has none for her.
        standin.add_user(ANA, "ana", real_name="Ana Approver", email=ANA_EMAIL, email_visible=False)
        count = max(1, -(-self.n // REQUESTS_PER_CHANNEL))
        self.public = [CHANNEL] + [f"C0SOAK{k:03d}" for k in range(1, count)]
        everyone = [p.id for p in PEOPLE]
        for k, channel in enumerate(self.public[1:], start=1):
            standin.add_channel(channel, f"soak-{k}", members=everyone)
        # Private channels, a G… one and a private C… one; the outsiders are in neither.
        self.private = ["G0SOAKP01", "C0SOAKP02"]
        for k, channel in enumerate(self.private, start=1):
            standin.add_channel(channel, f"private-{k}", members=PRIVATE_MEMBERS, private=True)
        # A channel per group (its message is the channel's only one).
        self.group_channels = [f"C0SOAKG{k:02d}" for k in range(max(2, self.n // GROUP_EVERY))]
        for k, channel in enumerate(self.group_channels):
            standin.add_channel(channel, f"soak-group-{k}", members=everyone)
        self.inject.hook_step_functions(self.sandbox.interactions.service._workflow._sfn)
        self._hook_crashes()

    def _send(self, body: str, headers: dict[str, str]) -> Response:
        self.sent.append((body, headers))
        return self.sandbox.post_to_endpoint(body, headers)

    def _hook_crashes(self) -> None:
        store = self.sandbox.notifier.service._store
        original = store.mark_posted

        def mark_posted(approval_id: str, **kwargs: Any) -> Any:
            if approval_id in self.crash_ids:
                self.crash_ids.discard(approval_id)
                self.events.add("crash_after_post")
                raise LambdaCrashed(approval_id)
            return original(approval_id, **kwargs)

        store.mark_posted = mark_posted

    def phase(self, name: str, run: Callable[[], None]) -> None:
        started = time.perf_counter()
        run()
        self.phases[name] = time.perf_counter() - started

    # --- requests -------------------------------------------------------------------------------

    def start_requests(self) -> None:
        outcomes = ["approve", "reject", "timeout", "approve2"]
        weights = [0.35, 0.25, 0.15, 0.25]
        # Requester: bo; ana by id (an approver: her own clicks must be refused); ana by an
        # e-mail Slack hides from users.info.
        requesters = [BO, ANA, ANA_EMAIL]
        private_k = 0
        for i in range(self.n):
            outcome = self.rng.choices(outcomes, weights)[0] if i >= 4 else outcomes[i]
            requester = requesters[i % 3] if i < 6 else self.rng.choice(requesters)
            private = i % PRIVATE_EVERY == 1 and outcome != "approve2"
            if private:
                channel = self.private[private_k % len(self.private)]
                private_k += 1
            else:
                channel = self.public[i % len(self.public)]
            plan = Plan(
                i,
                outcome,
                requester,
                ANA if requester == ANA_EMAIL else requester,
                channel=channel,
                private=private,
                notify=NOTIFY_BY_INDEX.get(i % 5, "channel"),
            )
            request: dict[str, Any] = {
                "service": plan.service,
                "version": "1.0",
                "requester": requester,
                "channel": channel,
            }
            if plan.notify != "channel":
                request["notify"] = plan.notify
                self.events.add(f"notify_{plan.notify}")
            if outcome == "approve2":  # N-of-M: 2 of ana, cy, eve
                request.update(approvers=VOTERS, required_approvals=2)
            plan.execution_arn = self.sandbox.start_execution(
                request, short_wait=outcome == "timeout"
            )
            self.plans.append(plan)
            if plan.requester_id in plan.deciders:
                self.events.add("requester_is_approver")
            if requester == ANA_EMAIL:
                self.events.add("hidden_email_requester")
            if private:
                self.events.add("private_request")
        self._start_groups()
        for i in range(max(2, self.n // 10)):
            body = self.rng.choice(
                ["not json", "[]", '{"Payload": {}}', "{" * 50, '{"TaskToken": 5}']
            )
            body += " " * i  # distinct bodies
            self.poison.append(body)
            self.sandbox.sqs.send_message(QueueUrl=self.sandbox.stack.queues.url, MessageBody=body)

    # Each group: (approvers, requester, notify, form) per item, so that every clicker may
    # decide only part of it (ana: items 0, 1, 3; cy: 0, 2, 4; eve: 3, 4; bo and dan: none);
    # ana requests items 2 and 4 (she may not decide them anyway) and item 0 of odd groups.
    GROUP_ITEMS: tuple[tuple[tuple[str, ...], str, str, bool], ...] = (
        ((), BO, "channel", False),  # the default approvers: ana and @oncall (cy)
        ((ANA,), BO, "both", False),  # her DM copy stays per item
        ((CY,), ANA, "channel", False),
        ((ANA, EVE), BO, "channel", True),  # needs the approve form: Approve all skips it
        ((EVE, CY), ANA, "both", False),
    )

    def _start_groups(self) -> None:
        """Grouped requests, beyond the n: one message per group (approval.group). The first
        group's last item times out while waiting (Approve all meets an expired task)."""
        for g, channel in enumerate(self.group_channels):
            key = f"batch-{g}"
            for k, (approvers, usual_requester, notify, form) in enumerate(self.GROUP_ITEMS):
                requester = ANA if k == 0 and g % 2 else usual_requester
                timeout = g == 0 and k == len(self.GROUP_ITEMS) - 1
                plan = Plan(
                    len(self.plans),
                    "timeout" if timeout else "group",
                    requester,
                    requester,
                    channel=channel,
                    notify=notify,
                    approvers=approvers,
                    group=key,
                    form=form,
                    risky=form and g % 2 == 0,
                )
                request: dict[str, Any] = {
                    "service": plan.service,
                    "version": "1.0",
                    "requester": requester,
                    "channel": channel,
                    "group": key,
                }
                if approvers:
                    request["approvers"] = list(approvers)
                if notify != "channel":
                    request["notify"] = notify
                    self.events.add(f"group_notify_{notify}")
                if form:
                    request["inputs"] = [{"name": FORM_INPUT, "label": "Ticket", "required": True}]
                    self.events.add("group_form_item")
                if plan.risky:
                    request["risk"] = "high"
                plan.execution_arn = self.sandbox.start_execution(request, short_wait=timeout)
                self.plans.append(plan)
                self.events.add("grouped_request")

    # --- delivery -------------------------------------------------------------------------------

    def _invoke(self, batch: list[dict[str, Any]]) -> set[str] | None:
        """One notifier invocation; the ids it failed, or None when it crashed."""
        queue = self.sandbox.stack.queues
        try:
            response = self.sandbox.notifier.handler(
                sqs_event(batch, queue_arn=queue.arn), LocalContext(function_name="notifier")
            )
        except LambdaCrashed:
            return None
        return {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}

    def _invoke_twice_at_once(self, messages: list[dict[str, Any]]) -> list[set[str] | None]:
        """Two invocations of the same messages released by a barrier at the same instant."""
        barrier = threading.Barrier(2)
        results: list[set[str] | None] = [set(), set()]

        def run(k: int) -> None:
            batch = list(messages)
            self.rng.shuffle(batch)
            barrier.wait(timeout=10)
            results[k] = self._invoke(batch)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return results

    def deliver_all(self) -> None:
        """Lambda's event source mapping, adversarially: every batch delivered twice, in turn
        or by two invocations at the same instant."""
        rounds = 80 + self.n // 2  # ~n/10 batches of 10, plus retries and poison receives
        queue = self.sandbox.stack.queues
        sqs = self.sandbox.sqs
        crash_budget = max(1, self.n // 8)
        idle = batches = 0
        self.inject.arm(faults.DELIVERY)
        for _ in range(rounds):
            messages = sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                idle += 1
                if idle >= 2 and self._queue_depth() == 0 and self._reached() >= len(self.plans):
                    self.inject.disarm()
                    return
                continue
            idle = 0
            batches += 1
            for message in messages:
                token = _token(message["Body"])
                if token and crash_budget and self.rng.random() < 0.3:
                    self.crash_ids.add(approval_id_for(token))
                    crash_budget -= 1
            self.inject.maybe(faults.DELIVERY)
            if batches % 2 == 1:  # the same messages, two invocations, one instant
                results = self._invoke_twice_at_once(messages)
                self.events.add("concurrent_duplicate_delivery", len(messages))
            else:
                results = []
                for attempt in range(2):
                    if attempt:
                        self.events.add("duplicate_delivery", len(messages))
                    results.append(self._invoke(messages))
                    if results[-1] is None:
                        break  # the whole invocation died
            failed: set[str] = set()
            for result in results:
                failed |= {m["MessageId"] for m in messages} if result is None else result
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

    @property
    def channels(self) -> list[str]:
        return self.public + self.private + self.group_channels

    def _reached(self) -> int:
        """Requests shown in Slack: a message of their own, a DM copy, or an item of a group
        message (its buttons carry the approval id)."""
        own = {i for i in self._all_posted() if len(i) == APPROVAL_ID_CHARS}  # not group ids
        reached = own | set(self.dm_copies())
        for channel in self.group_channels:
            for message in self.sandbox.standin.messages(channel):
                for block in message.get("blocks") or []:
                    for element in block.get("elements") or []:
                        if str(element.get("action_id", "")).startswith(Action.APPROVE.value):
                            reached.add(str(element.get("value")))
        return len(reached)

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

    def dm_copies(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """approval id -> person -> the bot's DMs to them of that approval (the stand-in's IMs)."""
        found: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for person in PEOPLE:
            for message in self.sandbox.standin.dms(person.id):
                metadata = (message.get("metadata") or {}).get("event_payload") or {}
                approval_id = metadata.get("approval_id")
                if approval_id:
                    found.setdefault(approval_id, {}).setdefault(person.id, []).append(message)
        return found

    def every_copy(self, plan: Plan) -> list[dict[str, Any]]:
        """The channel message and every DM copy of ``plan``'s request, as Slack holds them."""
        copies = [
            m
            for m in self.sandbox.standin.messages(plan.channel)
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("approval_id")
            == plan.approval_id
        ]
        for messages in self.dm_copies().get(plan.approval_id, {}).values():
            copies += messages
        return copies

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
            plan.ts = (posted.get(plan.group_id or plan.approval_id) or [""])[0]
        self.events.add("group_message", len(self.groups()))

    # --- clicks ---------------------------------------------------------------------------------

    def reject(self, user: str, plan: Plan) -> None:
        if not self._click(user, plan, Action.REJECT):
            return
        for view in self.driver.open_views(Modal.REJECT, user_id=user):
            meta = json.loads(view.get("private_metadata") or "{}")
            if meta.get("approval_id") == plan.approval_id:
                self.driver.submit(
                    user, view, {Input.REASON_BLOCK: {Input.REASON_INPUT: f"no ({user})"}}
                )

    def approve(self, user: str, plan: Plan) -> None:
        self._click(user, plan, Action.APPROVE)

    def _click(self, user: str, plan: Plan, action: Action) -> bool:
        """False when the message has no such button any more (decided): nobody can click.
        With notify dm/both, an approver clicks in their own DM copy when they have one; in a
        group message, on the item's own button."""
        channel, ts, action_id = plan.channel, plan.ts, action.value
        in_dm = False
        if plan.notify != "channel":
            mine = self.dm_copies().get(plan.approval_id, {}).get(user)
            im = self.sandbox.standin.im_channel(user)
            if mine and im and (plan.notify == "dm" or user == CY):  # "both": cy uses her DM
                channel, ts, in_dm = im, mine[0]["ts"], True
                self.events.add("click_in_dm")
        if not ts:
            return False
        try:
            if plan.group and not in_dm:
                action_id = self._item_action(plan, action)
                self.events.add("group_item_click")
            self.driver.click(user, channel, ts, action_id, value=plan.approval_id)
        except ButtonNotFound:
            return False
        return True

    def _item_action(self, plan: Plan, action: Action) -> str:
        """The action id of ``plan``'s ``action`` button in its group message, as shown now."""
        message = self.sandbox.standin.message(plan.channel, plan.ts)
        prefix = f"{action.value}{GROUP_ITEM_SEPARATOR}"
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                action_id = str(element.get("action_id", ""))
                if action_id.startswith(prefix) and element.get("value") == plan.approval_id:
                    return action_id
        raise ButtonNotFound(f"no {action.value} button for item {plan.index}")

    def approve_form(self, user: str, plan: Plan) -> None:
        """Approve… (the item needs the form): fill the required input (and, high risk, type
        the request's code), submit."""
        if not self._click(user, plan, Action.APPROVE_FORM):
            return
        for view in self.driver.open_views(Modal.APPROVE, user_id=user):
            meta = json.loads(view.get("private_metadata") or "{}")
            if meta.get("approval_id") == plan.approval_id:
                values: dict[str, dict[str, str | dict[str, Any]]] = {
                    f"{Input.FIELD_PREFIX.value}{FORM_INPUT}": {Input.VALUE: f"T-{plan.index}"}
                }
                if plan.risky:
                    values[Input.CODE_BLOCK] = {Input.VALUE: plan.approval_id[:6].upper()}
                self.driver.submit(user, view, values)
                if user in plan.allowed:
                    self.events.add("group_form_approved")
                else:
                    self.events.add("group_form_submitted_not_allowed")

    def decide_all(self, user: str, plans: list[Plan], action: Action) -> None:
        """Approve all N / Reject all N of the group message of ``plans`` (one group), as the
        message shows it now; Reject all asks one reason in a modal."""
        first = plans[0]
        allowed = sum(user in p.allowed for p in plans)
        kind = "approve_all" if action is Action.APPROVE_ALL else "reject_all"
        try:
            self.driver.click(user, first.channel, first.ts, action, value=first.group_id)
        except ButtonNotFound:
            return
        self.events.add(f"{kind}_click")
        if allowed == 0:
            self.events.add(f"{kind}_by_someone_allowed_nothing")
        elif allowed < len(plans):
            self.events.add(f"{kind}_by_someone_allowed_part")
        if action is Action.REJECT_ALL:
            for view in self.driver.open_views(Modal.REJECT_ALL, user_id=user):
                meta = json.loads(view.get("private_metadata") or "{}")
                if meta.get("group_id") == first.group_id:
                    reason = {Input.REASON_BLOCK: {Input.REASON_INPUT: f"batch no ({user})"}}
                    self.driver.submit(user, view, reason)

    def groups(self) -> dict[str, list[Plan]]:
        """Group id -> its requests, posted (in the order they were started)."""
        by_group: dict[str, list[Plan]] = {}
        for plan in self.plans:
            if plan.group and plan.ts:
                by_group.setdefault(plan.group_id, []).append(plan)
        return by_group

    def _group_jobs(self) -> list[Callable[[], Any]]:
        """Per group: Approve all by ana, cy and dan (even groups) or eve (each may decide part
        of it, or none), one
        Reject all, and per item a click by someone allowed (but on a form item: it is
        approved with its form at the end, so it is pending while Approve all skips it) and one
        by someone not allowed, for half of the items; all shuffled in with the other clicks."""
        jobs: list[Callable[[], Any]] = []
        for g, plans in enumerate(self.groups().values()):
            # (Each Approve all asks Slack for every approver group anew: usergroups.users.list
            # allows 20 a minute, so three per group rather than one by everyone.)
            for user in (ANA, CY, DAN if g % 2 == 0 else EVE):
                jobs.append(lambda u=user, ps=plans: self.decide_all(u, ps, Action.APPROVE_ALL))
            # Reject all by cy (she may decide part of it, not the form item) or by dan (none).
            rejecter = self.rng.choice((CY, DAN))
            jobs.append(lambda u=rejecter, ps=plans: self.decide_all(u, ps, Action.REJECT_ALL))
            for plan in plans:
                if plan.outcome == "timeout":
                    continue
                user = self.rng.choice(sorted(plan.allowed))
                if plan.form:
                    pass
                elif self.rng.random() < 0.3:
                    jobs.append(lambda u=user, p=plan: self.reject(u, p))
                else:
                    jobs.append(lambda u=user, p=plan: self.approve(u, p))
                if self.rng.random() < 0.5:  # (each asks Slack about the item's user groups)
                    outsider = self.rng.choice(sorted({ANA, BO, CY, EVE, DAN} - plan.allowed))
                    click = self.approve_form if plan.form else self.approve
                    jobs.append(lambda u=outsider, p=plan, c=click: c(u, p))
                    self.events.add("group_item_click_not_allowed")
        return jobs

    def reachable(self, plan: Plan) -> bool:
        """Posted somewhere a person can click: the channel, or (notify dm) a DM copy."""
        return bool(plan.ts) or plan.approval_id in self.dm_copies()

    def click_all(self) -> None:
        jobs: list[Callable[[], Any]] = []
        for plan in self.plans:
            if plan.outcome == "timeout" or plan.group or not self.reachable(plan):
                continue
            if plan.outcome == "approve":
                jobs += [
                    lambda p=plan: self.approve(ANA, p),
                    lambda p=plan: self.approve(CY, p),
                    lambda p=plan: self.approve(ANA, p),
                ]
                self.events.add("concurrent_approvers", 3)
                self.events.add("double_click")
            elif plan.outcome == "approve2":  # three voters (one twice) race for two places
                jobs += [lambda p=plan, u=user: self.approve(u, p) for user in (*VOTERS, CY)]
                self.events.add("concurrent_n_of_m_votes", 4)
                self.events.add("double_click")
            else:
                jobs += [lambda p=plan: self.reject(ANA, p), lambda p=plan: self.reject(CY, p)]
                self.events.add("concurrent_approvers", 2)
            if plan.requester_id == ANA:
                self.events.add("self_approval_attempt", 2 if plan.outcome == "approve" else 1)
            if plan.outcome != "approve2" and not plan.private:  # eve votes in approve2
                jobs.append(lambda p=plan: self.approve(EVE, p))
                self.events.add("unauthorized_click")
            if plan.requester_id == BO:
                jobs.append(lambda p=plan: self.approve(BO, p))
                self.events.add("requester_click")
        jobs += self._group_jobs()
        self.rng.shuffle(jobs)
        # The EventBridge rule, as it runs seconds after a wait times out: timed-out items of a
        # group show as expired, and Approve all skips them. (moto, unlike AWS, accepts a
        # completion of a token whose wait has timed out: a click on one before the event
        # would decide it on moto, where AWS answers TaskTimedOut.)
        self.sandbox.watch_executions()
        self.inject.arm(faults.CLICKS)
        with ThreadPoolExecutor(max_workers=6) as pool:
            for job in jobs:
                self.inject.maybe(faults.CLICKS)
                pool.submit(job)
        self.sandbox.lazy.wait(timeout=60)
        self.inject.disarm()
        # Replays of signed requests (within Slack's 5-minute window) and stale signatures.
        for body, headers in self.rng.sample(self.sent, min(len(self.sent), max(3, self.n // 4))):
            self.sandbox.post_to_endpoint(body, headers)
            self.events.add("replayed_request")
            response = self.driver._post(body, timestamp=int(time.time()) - 400)
            if response.status != 401:
                self.events.add("stale_accepted_VIOLATION")
            self.events.add("stale_signature")
        self.sandbox.lazy.wait(timeout=60)

    def drive_to_end(self, rounds: int = 12) -> None:
        """Keep deciding what transient faults (and Slack's rate limits, which refuse a decision
        the bot cannot verify) left open; let timed-out executions expire."""
        self.inject.disarm()
        for round_ in range(rounds):
            open_plans = [
                p
                for p in self.plans
                if p.approval_id
                and self.status(p).is_open
                and self.reachable(p)
                and p.outcome != "timeout"
            ]
            if not open_plans:
                break
            if round_:
                time.sleep(3)  # let Slack's per-minute buckets refill a little
            for plan in open_plans:
                if plan.form:
                    self.approve_form(plan.decider, plan)
                elif plan.outcome in ("approve", "group"):
                    self.approve(plan.decider, plan)
                elif plan.outcome == "approve2":
                    for user in VOTERS:  # whoever has not voted yet
                        self.approve(user, plan)
                else:
                    self.reject(plan.decider, plan)
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
        self.settle_redraws()

    def settle_redraws(self, rounds: int = SETTLE_SWEEPS) -> None:
        """Messages Slack did not take when their request finished (rate limited past the
        retries) are drawn again by the sweep, every 5 minutes when deployed: sweep until
        none is left (bounded), pausing for Slack's per-minute limits to refill."""
        for _ in range(rounds):
            waiting = len(self.store.needs_redraw(limit=100))
            if not waiting:
                return
            self.events.add("redraw_by_sweep", waiting)
            time.sleep(3)
            self.sandbox.sweep()

    def status(self, plan: Plan) -> Status:
        try:
            return self.store.get(plan.approval_id).status
        except ApprovalNotFound:
            return Status.POSTING  # never stored: counted as lost by the invariants


def _token(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    token = data.get("TaskToken") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None
