"""What the soak injects, and which of it reached the bot.

Slack faults are queued in the stand-in per Web API method and fire when a call meets them
(the stand-in's ``fired_faults()``); a queued fault nobody met is dropped at the end of its
phase and never counts. Each phase *arms* the fault types of the methods it calls that have not
fired yet (so a small soak still meets every type), then adds random ones at the fault rate.
Step Functions fails transiently in the bot's own client (before the call leaves it), counted
when a call met it. :data:`EXPECTED` is every type the soak injects: each must fire at least
once, or the soak fails naming the type.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any, Final

from botocore.exceptions import EndpointConnectionError

from bot.local.slack_standin import Fault, SlackStandIn

KINDS: Final = ("429", "5xx", "delay_timeout")  # the stand-in's FaultKind names
TIMEOUT_DELAY: Final = 1.5  # the soak's Slack client gives up after 1 s (SLACK_TIMEOUT)
SLACK_TIMEOUT: Final = 1

# Phase -> methods whose faults it injects.
DELIVERY: Final = ("chat.postMessage", "conversations.history", "users.lookupByEmail")
CLICKS: Final = ("chat.update", "response_url", "users.info")
DIRECTORY: Final = ("users.info", "usergroups.users.list", "users.conversations")
SLACK_METHODS: Final = tuple(dict.fromkeys(DELIVERY + CLICKS + DIRECTORY))
SFN_OPS: Final = ("SendTaskSuccess", "SendTaskFailure")

EXPECTED: Final = tuple(f"slack {m} {k}" for m in SLACK_METHODS for k in KINDS) + tuple(
    f"sfn {op} transient" for op in SFN_OPS
)


def fault(kind: str, *, retry_after: int = 1) -> Fault:
    return {
        "429": Fault(status=429, retry_after=retry_after),
        "5xx": Fault(status=500),
        "delay_timeout": Fault(delay=TIMEOUT_DELAY),
    }[kind]


class Injector:
    def __init__(self, standin: SlackStandIn, rng: random.Random, rate: float) -> None:
        self.standin = standin
        self.rng = rng
        self.rate = rate
        self.sfn_fired: Counter[str] = Counter()
        self._lock = threading.Lock()

    # --- Slack ----------------------------------------------------------------------------------

    def fired(self) -> set[tuple[str, str]]:
        return {(f.method, f.kind) for f in self.standin.fired_faults()}

    def arm(self, methods: tuple[str, ...]) -> None:
        """Queue each fault type of ``methods`` that has not fired yet (and is not queued)."""
        fired = self.fired()
        queued = {(m, f.kind) for m, f, _ in self.standin.pending_faults()}
        for method in methods:
            for kind in KINDS:
                if (method, kind) not in fired | queued:
                    self.standin.inject(method, fault(kind))

    def maybe(self, methods: tuple[str, ...]) -> None:
        """A random fault on one of ``methods`` with probability ``rate``."""
        if self.rng.random() < self.rate:
            self.standin.inject(self.rng.choice(methods), fault(self.rng.choice(KINDS)))

    def disarm(self) -> None:
        """End of a phase: faults nobody met are dropped (they never count)."""
        self.standin.clear_faults()

    # --- Step Functions -------------------------------------------------------------------------

    def hook_step_functions(self, client: Any) -> None:
        """SendTaskSuccess / SendTaskFailure fail before leaving the bot's client: the first of
        each, then at the fault rate (the bot must retry or recover, never decide twice)."""

        def flaky(model: Any, **_: Any) -> None:
            if model.name in SFN_OPS:
                with self._lock:
                    first = not self.sfn_fired[model.name]
                    if first or self.rng.random() < self.rate:
                        self.sfn_fired[model.name] += 1
                        raise EndpointConnectionError(endpoint_url="https://states.local")

        client.meta.events.register("before-call.sfn.*", flaky)

    # --- the table ------------------------------------------------------------------------------

    def table(self) -> Counter[str]:
        """Fired count per type of :data:`EXPECTED` (and any other type that fired)."""
        counts: Counter[str] = Counter(dict.fromkeys(EXPECTED, 0))
        for fired in self.standin.fired_faults():
            counts[f"slack {fired.method} {fired.kind}"] += 1
        for op in SFN_OPS:
            counts[f"sfn {op} transient"] = self.sfn_fired[op]
        return counts
