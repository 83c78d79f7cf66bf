"""Cold start: a fresh Python process imports a handler and answers ONE event, vs the import floor.

    python -m benchmarks.cold_start              # 9 runs of each kind (interleaved)
    python -m benchmarks.cold_start --runs 15
    python -m benchmarks.cold_start --importtime # also: where the handlers' import time goes
    python -m benchmarks.cold_start --baseline /tmp/old  # before/after, interleaved in one run

``--baseline DIR`` runs every kind also from another tree (e.g. ``git archive <commit> | tar -x
-C DIR``), interleaved run by run with this one, against the same moto, stand-in and events:
each tree's table and ratios, then this tree's medians against the baseline's.

Every run is a new interpreter (``sys.executable -c ...``), like a new Lambda execution
environment. Each child reads its event before its clock starts and reports:

* ``floor`` — ``import boto3, slack_bolt``, Bolt's Lambda adapter, Powertools ``Logger`` and
  ``BatchProcessor``: what any function built on these libraries pays; nothing else.
* ``interactions`` — ``import bot.handlers.interactions`` and one signed Approve click on a real
  PENDING approval through ``handler(event, context)`` until the ack comes back. That includes
  what Bolt does before answering on Lambda: verify the signature, authorize, ack, and start the
  lazy listener with ``lambda:Invoke`` (boto3's Lambda client, against moto here).
* ``notifier`` — ``import bot.handlers.notifier`` and one SQS record through ``handler``: the
  DynamoDB writes and ``chat.postMessage``.

and, for information (not in the ratios):

* ``interactions, secrets in SSM`` — the deployed configuration: ``SLACK_*_PARAM`` instead of
  the secrets themselves (SecureString parameters on moto, read through Powertools Parameters);
* ``floor + X-Ray SDK`` — what importing the X-Ray SDK costs when tracing is on (deployed);
* ``floor, GC paused`` — the floor's imports with the cyclic GC paused and then frozen, as the
  handlers import (``bot.handlers.startup``): the handlers' ratios to it are printed too, as
  the like-for-like comparison (the pause saves the floor's imports as much as the handlers');
* ``..., no .pyc`` — every module of the package compiled from source at import (the standard
  library's bytecode is there), as happens on Lambda with a package that has no bytecode
  (``make package`` builds it with ``--no-compile``, and /var/task is read-only).

The parent starts moto (``ThreadedMotoServer`` on 127.0.0.1, with the approvals table) and the
Slack stand-in once, and creates the PENDING approval through the notifier. The interpreter's
own start (the same for every child) is not in the numbers. Bytecode is cached in a private
directory filled by a discarded first run of each kind. Ratios use medians (and best/best).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ANA,
    BOT_TOKEN,
    CHANNEL,
    ROOT,
    SIGNING_SECRET,
    fresh_import,
    lambda_context,
    local_stack,
    machine,
    median,
    ms,
    quiet_stdout,
    request_body,
)

MARK = "@@cold-start "
NO_BYTECODE_RUNS = 3
STDLIB_ONLY = "stdlib-only"  # the bytecode cache of the "no .pyc" variants
# Children start from a small shell that forks them (``; exit``: no exec): on Linux a process
# started straight from this one would report this process's peak RSS (moto's included) as
# its own ``ru_maxrss`` (benchmarks.footprint reads it).
SPAWN = ("/bin/sh", "-c", '"$0" "$@"; exit $?') if Path("/bin/sh").exists() else ()
SSM_PARAMS = {
    "SLACK_BOT_TOKEN": "/sfn-approvals/bench/slack-bot-token",
    "SLACK_SIGNING_SECRET": "/sfn-approvals/bench/slack-signing-secret",
}

# Runs in the child before its clock starts: read the event, build the Lambda context object
# (the runtime's, not the function's work). Only modules every interpreter has loaded anyway.
PREAMBLE = """\
import json, os, sys, time, types
event = json.loads(open(sys.argv[1], encoding="utf-8").read()) if len(sys.argv) > 1 else None
context = types.SimpleNamespace(
    function_name=os.environ.get("BENCH_FUNCTION", "floor"),
    function_version="$LATEST",
    memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:"
    + os.environ.get("BENCH_FUNCTION", "floor"),
    aws_request_id="00000000-0000-4000-8000-000000000001",
    log_group_name="/aws/lambda/bench",
    log_stream_name="bench",
    get_remaining_time_in_millis=lambda: 25000,
)
t0 = time.perf_counter()
"""

EPILOGUE = """\
t2 = time.perf_counter()
import resource
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
hwm_kb = None
try:
    with open("/proc/self/status", encoding="ascii") as status:
        hwm_kb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
sys.stdout.flush()
report = {
    "import": t1 - t0, "total": t2 - t0, "result": result, "rss_kb": rss_kb, "hwm_kb": hwm_kb
}
print("@@cold-start " + json.dumps(report))
"""

BODIES = {
    "floor": """\
import boto3, slack_bolt
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor
t1 = time.perf_counter()
result = None
""",
    "interactions": """\
import bot.handlers.interactions as h
t1 = time.perf_counter()
response = h.handler(event, context)
result = {"statusCode": response["statusCode"], "body": response.get("body")}
""",
    "notifier": """\
import bot.handlers.notifier as h
t1 = time.perf_counter()
result = h.handler(event, context)
""",
    "expirations": """\
import bot.handlers.expirations as h
t1 = time.perf_counter()
result = h.handler(event, context)
""",
    # Informational: the floor's imports with the cyclic GC paused and the result frozen, as the
    # handlers import (bot.handlers.startup): the like-for-like floor for the handlers' ratios.
    "floor+gcpause": """\
import gc
gc.disable()
import boto3, slack_bolt
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor
gc.freeze()
gc.enable()
t1 = time.perf_counter()
result = None
""",
    # Informational: what the X-Ray SDK adds when tracing is on (deployed: tracing.lambda true).
    "floor+xray": """\
import boto3, slack_bolt
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor
import aws_xray_sdk.core
t1 = time.perf_counter()
result = None
""",
}


@dataclass(frozen=True)
class Variant:
    """One kind of child: its code, and how its environment differs."""

    body: str
    bytecode: bool = True  # False: compile every module from source, as the package deploys
    ssm: bool = False  # True: Slack secrets from SSM parameters (the deployed configuration)

    @property
    def function(self) -> str:
        return self.body.split("+", maxsplit=1)[0]


VARIANTS: dict[str, Variant] = {
    "floor": Variant("floor"),
    "interactions": Variant("interactions"),
    "notifier": Variant("notifier"),
    "interactions, secrets in SSM": Variant("interactions", ssm=True),
    "floor + X-Ray SDK": Variant("floor+xray"),
    "floor, GC paused": Variant("floor+gcpause"),
    "floor, no .pyc": Variant("floor", bytecode=False),
    "interactions, no .pyc": Variant("interactions", bytecode=False),
}
MAIN = ("floor", "interactions", "notifier")


def script(body: str) -> str:
    return PREAMBLE + BODIES[body] + EPILOGUE


def child_env(variant: Variant, pyc: Path) -> dict[str, str]:
    """The parent's environment (moto, stand-in, settings), bytecode handled explicitly.

    Bytecode goes to a private cache (``PYTHONPYCACHEPREFIX``) filled by the discarded first
    run, so every child of every kind imports the same way whatever this shell's
    ``PYTHONDONTWRITEBYTECODE`` says; ``bytecode=False`` points at a cache holding only the
    standard library's bytecode, never written: every other module is compiled from source at
    every start, as from a zip without .pyc files on a read-only file system.
    """
    env = dict(os.environ)
    env["BENCH_FUNCTION"] = variant.function
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if variant.bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(pyc / "cache")
    else:
        env["PYTHONPYCACHEPREFIX"] = str(pyc / STDLIB_ONLY)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if variant.ssm:
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
            env.pop(name, None)
            env[f"{name}_PARAM"] = SSM_PARAMS[name]
    return env


def run_child(
    variant: Variant,
    event: dict[str, Any] | None,
    tmp: Path,
    *,
    flags: tuple[str, ...] = (),
    tree: Path = ROOT,
) -> tuple[dict[str, Any], str]:
    """One fresh interpreter importing from ``tree``; returns its report and its stderr."""
    args = [*SPAWN, sys.executable, *flags, "-c", script(variant.body)]
    if event is not None:
        path = tmp / f"{variant.function}-event.json"
        path.write_text(json.dumps(event), encoding="utf-8")
        args.append(str(path))
    done = subprocess.run(
        args,
        cwd=tree,
        env=child_env(variant, tmp),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{variant} child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(MARK) :]), done.stderr


def put_secrets() -> None:
    """The Slack secrets as SecureString parameters, as ``docs/deploy.md`` stores them."""
    import boto3

    ssm = boto3.client("ssm")
    values = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    for name, param in SSM_PARAMS.items():
        ssm.put_parameter(Name=param, Value=values[name], Type="SecureString", Overwrite=True)


class Fixture:
    """A PENDING approval (posted by the real notifier) and fresh events for the children."""

    def __init__(self, slack: Any, queue_arn: str) -> None:
        from bot.models import approval_id_for

        self.slack = slack
        self.queue_arn = queue_arn
        body = request_body()
        self.approval_id = approval_id_for(json.loads(body)["TaskToken"])
        notifier = fresh_import("bot.handlers.notifier")
        with quiet_stdout():
            result = notifier.handler(self.sqs_event(body), lambda_context("notifier"))
        if result != {"batchItemFailures": []}:
            raise RuntimeError(f"could not post the approval request: {result}")
        self.ts = next(
            m["ts"]
            for m in slack.messages(CHANNEL)
            if (m.get("metadata") or {}).get("event_payload", {}).get("approval_id")
            == self.approval_id
        )

    def sqs_event(self, body: str) -> dict[str, Any]:
        from bot.local.events import sqs_event

        return sqs_event([{"Body": body}], queue_arn=self.queue_arn)

    def click_event(self) -> dict[str, Any]:
        """A freshly signed Approve click on the pending approval's message."""
        from bot.ids import Action
        from bot.local.slack_driver import Response, SlackDriver
        from bot.local.slack_requests import api_gateway_v2_event

        sent: list[dict[str, Any]] = []

        def capture(body: str, headers: dict[str, str]) -> Response:
            sent.append(api_gateway_v2_event(body, headers))
            return Response(200, "", {})

        driver = SlackDriver(self.slack, signing_secret=SIGNING_SECRET, send=capture)
        driver.click(ANA, CHANNEL, self.ts, Action.APPROVE.value)
        return sent[0]

    def event(self, variant: Variant) -> dict[str, Any] | None:
        if variant.function == "interactions":
            return self.click_event()
        if variant.function == "notifier":
            return self.sqs_event(request_body())  # a new task token: a real first post
        if variant.function == "expirations":
            from bot.local.sandbox import scheduled_event

            return scheduled_event()  # the sweep: expired requests, stale claims
        return None


def import_profile(name: str, fixture: Fixture, tmp: Path, top: int) -> None:
    """``python -X importtime``: the modules with the largest self time, beyond the floor."""
    _, floor_err = run_child(VARIANTS["floor"], None, tmp, flags=("-X", "importtime"))
    floor_modules = set(re.findall(r"\|\s+(\S+)$", floor_err, re.MULTILINE))
    variant = VARIANTS[name]
    _, err = run_child(variant, fixture.event(variant), tmp, flags=("-X", "importtime"))
    rows: list[tuple[int, int, str]] = []
    for line in err.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$", line)
        if found and found.group(4) not in floor_modules:
            rows.append((int(found.group(1)), int(found.group(2)), found.group(4)))
    extra = sum(r[0] for r in rows) / 1e3
    print(f"\n{name}: {len(rows)} modules the floor does not import, self time {extra:.1f} ms")
    print(f"  {'self ms':>8} {'cumul ms':>9}  module")
    for self_us, cumulative_us, module in sorted(rows, reverse=True)[:top]:
        print(f"  {self_us / 1e3:8.1f} {cumulative_us / 1e3:9.1f}  {module}")


def keep_stdlib_bytecode(pyc: Path) -> None:
    """A bytecode cache with the standard library's only: on Lambda the runtime's own library
    is compiled, the package's modules are not."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    relative = stdlib.relative_to(stdlib.anchor)
    source = pyc / "cache" / relative
    if source.is_dir():
        shutil.copytree(source, pyc / STDLIB_ONLY / relative, dirs_exist_ok=True)


def measure(
    fixture: Fixture, tmp: Path, runs: int, trees: dict[str, Path]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Interleaved runs (drift hits every kind and tree alike), after one discarded run of each.

    Returns tree label -> kind -> reports."""
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {t: defaultdict(list) for t in trees}
    ordered = sorted(VARIANTS.values(), key=lambda v: not v.bytecode)
    for index, variant in enumerate(ordered):
        if not variant.bytecode and ordered[index - 1].bytecode:
            keep_stdlib_bytecode(tmp)
        for tree in trees.values():
            run_child(variant, fixture.event(variant), tmp, tree=tree)
    for round_ in range(runs):
        for name, variant in VARIANTS.items():
            if not variant.bytecode and round_ >= NO_BYTECODE_RUNS:
                continue  # about a second each, and only informational
            labels = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for label in labels:
                report, _ = run_child(variant, fixture.event(variant), tmp, tree=trees[label])
                samples[label][name].append(report)
    return samples


def answered(name: str, reports: list[dict[str, Any]]) -> bool:
    function = VARIANTS[name].function
    if function == "interactions":
        return all(r["result"] == {"statusCode": 200, "body": ""} for r in reports)
    if function == "notifier":
        return all(r["result"] == {"batchItemFailures": []} for r in reports)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each kind (at least 5)")
    parser.add_argument("--importtime", action="store_true", help="show import-time hot spots")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument(
        "--baseline", type=Path, help="another tree to run interleaved with this one"
    )
    args = parser.parse_args(argv)
    runs = max(5, args.runs)
    trees = {"this tree": ROOT}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), "this tree": ROOT}

    print(f"machine: {machine()}; load average before: {load_average()}")
    started = time.perf_counter()
    with local_stack() as stack, tempfile.TemporaryDirectory() as tmpdir:
        import boto3

        from bot.local.infra import create_queues

        tmp = Path(tmpdir)
        put_secrets()
        queues = create_queues(boto3.client("sqs"), name="VerificationQueue")
        fixture = Fixture(stack.slack, queues.arn)
        stack.slack.reset_calls()
        samples = measure(fixture, tmp, runs, trees)
        auth_tests = len(stack.slack.calls("auth.test"))
        clicks = sum(
            len(r)
            for tree in samples.values()
            for n, r in tree.items()
            if VARIANTS[n].function == "interactions"
        )
        if args.importtime:
            for name in ("interactions", "notifier"):
                import_profile(name, fixture, tmp, args.top)

    medians: dict[str, dict[str, float]] = {}
    for label, tree_samples in samples.items():
        print(f"\n[{label}: {trees[label]}]")
        medians[label] = report(tree_samples, runs)
    if len(trees) > 1:
        print("\nthis tree against the baseline (medians, same run, interleaved):")
        for name in MAIN:
            before, after = medians["baseline"][name], medians["this tree"][name]
            print(f"  {name:<14} {ms(before):>9} -> {ms(after):>9}  ({after / before:.2f}x)")
    print(f"auth.test calls during {clicks} cold clicks (+ discarded runs): {auth_tests}")
    print(f"load average after: {load_average()}")
    print(f"took {time.perf_counter() - started:.0f} s")
    return (
        0
        if all(
            answered(name, reports) for tree in samples.values() for name, reports in tree.items()
        )
        else 1
    )


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def report(samples: dict[str, list[dict[str, Any]]], runs: int) -> dict[str, float]:
    """Print one tree's table and ratios; return its medians."""
    print(f"cold start: fresh processes, interpreter start excluded; {runs} runs each")
    print(f"  {'':<30} {'runs':>4} {'best':>9} {'median':>9} {'import':>9} {'1st event':>9}")
    best: dict[str, float] = {}
    mid: dict[str, float] = {}
    for name, reports in samples.items():
        total = [r["total"] for r in reports]
        best[name], mid[name] = min(total), median(total)
        imported = median([r["import"] for r in reports])
        first = median([r["total"] - r["import"] for r in reports])
        check = "" if answered(name, reports) else "   WRONG ANSWER"
        print(
            f"  {name:<30} {len(reports):>4} {ms(best[name]):>9} {ms(mid[name]):>9} "
            f"{ms(imported):>9} {ms(first):>9}{check}"
        )
    print("  (import and 1st event: medians)")
    for name in ("interactions", "notifier"):
        print(
            f"ratio {name}_cold/floor {mid[name] / mid['floor']:.2f}"
            f"   (best {best[name] / best['floor']:.2f}; target <= 1.2)"
        )
    paused = "floor, GC paused"
    for name in ("interactions", "notifier"):
        print(
            f"ratio {name}_cold/(floor, GC paused as the handlers) "
            f"{mid[name] / mid[paused]:.2f}   (best {best[name] / best[paused]:.2f}; "
            "like for like; target <= 1.2)"
        )
    ssm = mid["interactions, secrets in SSM"] - mid["interactions"]
    xray = mid["floor + X-Ray SDK"] - mid["floor"]
    nopyc = mid["interactions, no .pyc"] / mid["interactions"]
    print(f"secrets from SSM (deployed) add {ms(ssm)} to the interactions cold start")
    print(f"tracing on (deployed): importing the X-Ray SDK adds {ms(xray)}")
    print(
        f"without .pyc files (the package as `make package` builds it today): floor "
        f"{ms(mid['floor, no .pyc'])}, interactions {ms(mid['interactions, no .pyc'])} "
        f"({nopyc:.1f}x the same with bytecode)"
    )
    return mid


if __name__ == "__main__":
    sys.exit(main())
