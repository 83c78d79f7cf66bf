"""Mutation testing of the safety-critical conditions: does the evidence fail when they break?

    python -m benchmarks.mutants                 # every mutation (see the last full result below)
    python -m benchmarks.mutants --fast          # the subset CI runs (about a minute and a half)
    python -m benchmarks.mutants --only vote-status,posting-lease --jobs 1
    python -m benchmarks.mutants --list          # the mutations, with what each breaks

Each mutation is one precise edit of one condition: a file, an exact snippet of it, and its
replacement. The snippet must occur exactly once in the file: a mutation whose snippet is gone
or ambiguous (the code moved on) is an *error*, never a pass. Each mutation is applied to its
own temporary copy of the repository (``bot/``, ``tests/``, ``benchmarks/``, ``infra/`` and the
top-level files the tests read), never to the working tree, so a run is safe beside other work
and under ^C. In that copy the mutation's targeted tests run (``pytest -x``); when the mutation
is about concurrency or faults, and the tests did not fail, a small soak runs too
(``python -m benchmarks.soak --n 12 --seed 3``). The mutant is *killed* when a test or the soak
fails (a run past its time limit counts as killed, and is named as such). First the targeted
tests of the selected mutations (and the soak, if any uses it) run on the unmutated copy: they
must pass there, or the run is an error.

Prints a table and ``killed K/N`` with every survivor named, and the duration. Exit status 0
only when every selected mutation is killed; 1 when one survives or a mutation is stale; 2 when
the unmutated baseline fails.

Mutations of DynamoDB condition expressions keep every placeholder in use: DynamoDB refuses
an unused one, and a mutant killed by that ValidationException would prove nothing. The
baseline runs each distinct test list in its own process (as its mutants will) and retries a
failing list twice: some existing tests time out on a crowded machine. A flaky test can also
"kill" a mutant; the table names the test, so a doubtful kill can be rerun with ``--only``.
``--fast`` skips the soak (which alone takes longer than CI affords).

Last full run: see ``RESULT``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
COPIED_DIRS: Final = ("bot", "tests", "benchmarks", "infra")
COPIED_FILES: Final = ("pyproject.toml", "README.md", "serverless.yml", "requirements.txt")
SOAK: Final = ("-m", "benchmarks.soak", "--n", "12", "--seed", "3")
PYTEST: Final = ("-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly")
TIME_LIMIT_SECONDS: Final = 600
BASELINE_RETRIES: Final = 2

RESULT: Final = (
    "2026-12-06, 2 cores shared with a soak run (load ~2-3), --jobs 2: killed 42/42 in 321 s; "
    "every mutant killed by its targeted tests (the soak ran only in the baseline)"
)


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    replacement: str
    description: str  # what the mutant lets happen
    tests: tuple[str, ...]  # pytest node ids or files, relative to the root
    soak: bool = False  # also run the small soak (concurrency, faults)
    fast: bool = False  # in the subset CI runs


def _m(  # noqa: PLR0917  (a table of mutations reads best positionally)
    name: str,
    file: str,
    original: str,
    replacement: str,
    description: str,
    tests: Iterable[str],
    *,
    soak: bool = False,
    fast: bool = False,
) -> Mutation:
    return Mutation(name, file, original, replacement, description, tuple(tests), soak, fast)


STORE = "bot/store.py"
AUTHZ = "bot/service/authorization.py"
VOTE_RACES = "tests/functional/test_vote_races.py"
NOTIFIER = "tests/functional/test_notifier.py"
UNIT_AUTHZ = "tests/unit/test_authorization.py"
FUNC_AUTHZ = "tests/functional/test_authorization.py"
GUARD_STORE = "tests/functional/test_guard_store.py"
GUARD_AUTHZ = "tests/unit/test_guard_authorization.py"
GUARD_DECISIONS = "tests/unit/test_guard_decisions.py"
GUARD_SECRECY = "tests/unit/test_guard_log_secrecy.py"

MUTATIONS: Final[tuple[Mutation, ...]] = (
    # --- the store's conditional writes -------------------------------------------------------
    # DynamoDB refuses an expression with an unused name or value placeholder: each mutation
    # here keeps every placeholder in use (``X OR attribute_exists(…)``), so a mutant is killed
    # by what it lets happen, never by a ValidationException.
    _m(
        "vote-status",
        STORE,
        'condition = "#status = :pending AND attribute_not_exists(votes.#uid)"',
        'condition = "(#status = :pending OR attribute_exists(#status)) '
        'AND attribute_not_exists(votes.#uid)"',
        "a vote lands on a request that is no longer PENDING (a vote after expiry)",
        [GUARD_STORE, VOTE_RACES],
        soak=True,
        fast=True,
    ),
    _m(
        "vote-once-per-person",
        STORE,
        'condition = "#status = :pending AND attribute_not_exists(votes.#uid)"',
        'condition = "#status = :pending AND (attribute_not_exists(votes.#uid) '
        'OR attribute_exists(votes.#uid))"',
        "one person's vote counts twice",
        [GUARD_STORE, VOTE_RACES],
        soak=True,
    ),
    _m(
        "vote-counts",
        STORE,
        'condition += " AND approve_count = :a AND reject_count = :r"',
        'condition += " AND (attribute_exists(approve_count) OR approve_count = :a '
        'OR reject_count = :r)"',
        "concurrent votes on stale counts pass required_approvals (N-of-M with more or fewer)",
        [GUARD_STORE, VOTE_RACES],
        soak=True,
        fast=True,
    ),
    _m(
        "release-condition",
        STORE,
        '"#status = :claimed AND decided_by_id = :uid"',
        '"(#status = :claimed OR attribute_exists(#status)) AND decided_by_id = :uid"',
        "a finished decision is taken back to PENDING (decided twice)",
        [GUARD_STORE],
        soak=True,
    ),
    _m(
        "finish-expected",
        STORE,
        "f\"#status IN ({', '.join(allowed)})\"",
        "f\"(attribute_exists(#status) OR #status IN ({', '.join(allowed)}))\"",
        "a final status is overwritten (an approved request expires, an expired one is decided)",
        [GUARD_STORE, VOTE_RACES],
        soak=True,
    ),
    _m(
        "create-once",
        STORE,
        'ConditionExpression="attribute_not_exists(pk)",\n',
        "",
        "a duplicate SQS delivery overwrites the approval and posts it again",
        [NOTIFIER],
        soak=True,
    ),
    _m(
        "posting-lease",
        STORE,
        '"#status = :posting AND lease_until < :now_epoch"',
        '"#status = :posting AND (lease_until < :now_epoch OR attribute_exists(pk))"',
        "a second delivery takes over a live posting lease and posts the request twice",
        [NOTIFIER],
        soak=True,
    ),
    _m(
        "posted-lease-owner",
        STORE,
        'update + " REMOVE lease_owner, lease_until",\n'
        '            "#status = :posting AND lease_owner = :owner",',
        'update + " REMOVE lease_owner, lease_until",\n'
        '            "#status = :posting AND (lease_owner = :owner OR attribute_exists(pk))",',
        "a delivery that lost its lease still records its post (two posts, one overwritten)",
        [GUARD_STORE, NOTIFIER],
        soak=True,
    ),
    # --- posting ------------------------------------------------------------------------------
    _m(
        "find-post-skipped",
        "bot/service/requests.py",
        "if resumed is not None and request.spec.in_channel:",
        "if False:",
        "after a crash between chat.postMessage and saving the ts, the request is posted again",
        [NOTIFIER],
        soak=True,
    ),
    _m(
        "find-post-any-approval",
        "bot/slack_gateway.py",
        '                and payload.get("approval_id") == approval_id\n',
        "",
        "the earlier-post lookup takes another request's message for this one's",
        [NOTIFIER],
        soak=True,
    ),
    # --- who may decide -----------------------------------------------------------------------
    _m(
        "self-approval-id",
        AUTHZ,
        "        if user.id in ids:\n            return True\n",
        "",
        "the requester (by user id) approves their own request",
        [UNIT_AUTHZ, FUNC_AUTHZ, "tests/unit/test_service_decision.py"],
        fast=True,
    ),
    _m(
        "self-approval-email-fallback",
        AUTHZ,
        "return None if found is None else found == user.id",
        "return False",
        "an e-mail requester of a record without a stored id approves their own request",
        [UNIT_AUTHZ, FUNC_AUTHZ],
    ),
    _m(
        "requester-not-told",
        AUTHZ,
        "if requested is None:\n                return NOT_TOLD_REQUESTER",
        "if False:\n                return NOT_TOLD_REQUESTER",
        "when Slack does not say who the requester is, the click is allowed (fail open)",
        [UNIT_AUTHZ, FUNC_AUTHZ],
    ),
    _m(
        "requester-unknown-email-posted",
        AUTHZ,
        "if found is None:\n            raise InvalidApprovalRequest(",
        "if False:\n            raise InvalidApprovalRequest(",
        "an e-mail requester that is nobody in the workspace is posted (no one can be refused)",
        [UNIT_AUTHZ, NOTIFIER],
    ),
    _m(
        "deactivated-decides",
        AUTHZ,
        "if user.deleted or user.is_bot:",
        "if user.is_bot:",
        "a deactivated account decides",
        [UNIT_AUTHZ, FUNC_AUTHZ, "tests/unit/test_service_decision.py"],
    ),
    _m(
        "fail-open-usergroups",
        AUTHZ,
        "return None if members is None else user_id in members",
        "return True if members is None else user_id in members",
        "when usergroups.users.list fails, the clicker counts as a member of the group",
        [UNIT_AUTHZ, FUNC_AUTHZ],
        fast=True,
    ),
    _m(
        "fail-open-channels",
        AUTHZ,
        "return None if memberships is None else memberships.member_of(channel)",
        "return True if memberships is None else memberships.member_of(channel)",
        "when users.conversations fails, the reader counts as a member of the channel",
        [UNIT_AUTHZ, FUNC_AUTHZ],
    ),
    _m(
        "incomplete-memberships",
        "bot/ports.py",
        "return False if self.complete else None",
        "return False if self.complete else True",
        "a membership list cut short counts as membership (a channel outsider decides or sees)",
        [GUARD_AUTHZ, UNIT_AUTHZ],
    ),
    _m(
        "decision-cached",
        AUTHZ,
        "return Directory(self._deps.slack, fresh=True)",
        "return Directory(self._deps.slack, fresh=False)",
        "a decision uses the directory cache: a deactivation or removal applies a minute late",
        [UNIT_AUTHZ, FUNC_AUTHZ],
        fast=True,
    ),
    _m(
        "gateway-fresh-ignored",
        "bot/slack_gateway.py",
        "        if fresh:\n            return None\n",
        "",
        "the gateway answers a fresh question from its cache",
        [FUNC_AUTHZ],
    ),
    _m(
        "required-approvals",
        "bot/service/decisions.py",
        "return approvals + 1 >= spec.required_approvals",
        "return approvals + 2 >= spec.required_approvals",
        "one vote short of required_approvals decides",
        [GUARD_DECISIONS, "tests/unit/test_service_decision.py", VOTE_RACES],
        fast=True,
    ),
    _m(
        "reject-majority",
        "bot/service/decisions.py",
        'return spec.reject_policy == "any" or rejections + 1 >= spec.required_approvals',
        "return True",
        "with reject_policy majority, one rejection decides",
        [GUARD_DECISIONS, "tests/unit/test_service_decision.py"],
    ),
    _m(
        "expiry-ignored-on-click",
        "bot/service/decisions.py",
        "return self._expirer.current(self._deps.store.get(approval_id))",
        "return self._deps.store.get(approval_id)",
        "a click after approval.expires_at decides the request",
        ["tests/unit/test_service_decision.py", VOTE_RACES],
        fast=True,
    ),
    # --- who may see --------------------------------------------------------------------------
    _m(
        "listing-shows-all",
        "bot/service/listing.py",
        "return self._access.may_see(approval, user_id, directory)",
        "return True",
        "/approvals lists private requests to people outside their channel",
        [UNIT_AUTHZ, FUNC_AUTHZ],
        fast=True,
    ),
    _m(
        "listing-unknown-shown",
        AUTHZ,
        "return self._is_approver(approval, reader_id, directory) is True",
        "return self._is_approver(approval, reader_id, directory) is not False",
        "a listing shows a request when Slack did not say whether the reader may decide it",
        [UNIT_AUTHZ, FUNC_AUTHZ],
    ),
    # --- the HTTP entry point -----------------------------------------------------------------
    _m(
        "signature-screen",
        "bot/lambda_bolt.py",
        "    if not signed:\n        return _UNSIGNED\n",
        "",
        "a request Slack did not sign reaches Bolt's parser",
        ["tests/functional/test_interactions.py"],
        fast=True,
    ),
    _m(
        "lazy-header-screen",
        "bot/lambda_bolt.py",
        "if not self_invocation(event) and _header_names(event) & LAZY_HEADERS:",
        "if False:",
        "a signed request with Bolt's lazy headers skips the ack-time checks",
        ["tests/functional/test_interactions.py"],
    ),
    # --- what reaches Slack -------------------------------------------------------------------
    _m(
        "text-broadcast-allowed",
        "bot/mrkdwn.py",
        "        if name is not None:\n            return (",
        "        if False:\n            return (",
        "approval.text with <!channel> is accepted when parsed",
        ["tests/unit/test_mrkdwn.py", "tests/functional/test_mrkdwn_rule.py"],
    ),
    _m(
        "unknown-entity-live",
        "bot/mrkdwn.py",
        '    return inert(f"<{body}>")\n',
        '    return f"<{body}>"\n',
        "an unrecognised <…> (a broadcast among them) is rendered live",
        ["tests/unit/test_mrkdwn.py", "tests/functional/test_mrkdwn_rule.py"],
    ),
    _m(
        "typed-broadcast",
        "bot/mrkdwn.py",
        'return _TYPED_BROADCAST.sub(lambda m: "\\uff20" + m.group(1), text)',
        "return text",
        "@channel typed as a word reaches Slack as it is",
        ["tests/unit/test_mrkdwn.py", "tests/functional/test_mrkdwn_rule.py"],
    ),
    _m(
        "disguised-link",
        "bot/mrkdwn.py",
        '    return f"<{url}|{shown}> ({real})"\n',
        '    return f"<{url}|{shown}>"\n',
        "a labelled link hides its real host",
        ["tests/unit/test_mrkdwn.py", "tests/functional/test_mrkdwn_rule.py"],
        fast=True,
    ),
    _m(
        "link-userinfo",
        "bot/mrkdwn.py",
        'if "@" in parts.netloc:',
        "if False:",
        "a link with user:pass@ before the host is accepted",
        ["tests/unit/test_mrkdwn.py", "tests/functional/test_mrkdwn_rule.py"],
    ),
    _m(
        "notification-raw-title",
        "bot/blocks.py",
        'return plain(f"{prefix}: {title}" if prefix else title)',
        'return f"{prefix}: {title}" if prefix else title',
        "chat.postMessage's notification text carries the raw title (<!channel> notifies)",
        ["tests/functional/test_mrkdwn_rule.py", "tests/unit/test_blocks.py"],
    ),
    _m(
        "arn-grammar",
        "bot/models.py",
        "and EXECUTION_ARN_RE.match(value) is not None",
        'and value.startswith("arn:")',
        "an Execution ARN with < > | reaches the message and the console link",
        ["tests/unit/test_models.py", "tests/functional/test_mrkdwn_rule.py"],
    ),
    # --- direct-message copies (approval.notify dm/both) --------------------------------------
    _m(
        "refresh-skips-copies",
        "bot/service/record.py",
        "for channel, ts in approval.messages():\n            try:\n"
        "                self._deps.slack.update(",
        "for channel, ts in approval.messages()[:1]:\n            try:\n"
        "                self._deps.slack.update(",
        "a decision, vote or expiry redraws only the first message: DM copies keep dead buttons",
        ["tests/unit/test_service_copies.py"],
        fast=True,
    ),
    _m(
        "copy-lease",
        STORE,
        'condition = "#status = :posting AND lease_owner = :owner"',
        'condition = "(#status = :posting OR attribute_exists(#status)) '
        'AND (lease_owner = :owner OR attribute_exists(pk))"',
        "a delivery that lost the posting lease still records its copy (two copies for a person)",
        ["tests/functional/test_dm_copies.py"],
    ),
    # --- the task token in logs ---------------------------------------------------------------
    _m(
        "redact-by-key",
        "bot/log_secrecy.py",
        '    text = _KEYED.sub(lambda m: m.group("key") + REDACTED, text)\n',
        "",
        "a token value next to its key is logged when the process has not seen that token",
        ["tests/unit/test_log_secrecy.py", "tests/functional/test_log_secrecy.py"],
        fast=True,
    ),
    _m(
        "redact-remembered",
        "bot/log_secrecy.py",
        "        if secret in text:\n",
        "        if False:\n",
        "a known token is logged when no key names it",
        [GUARD_SECRECY, "tests/unit/test_log_secrecy.py", "tests/functional/test_log_secrecy.py"],
    ),
    _m(
        "wire-floor",
        "bot/log_secrecy.py",
        "                logger.setLevel(WIRE_FLOOR)\n",
        "                pass\n",
        "botocore's wire loggers print request and response bodies at DEBUG",
        ["tests/unit/test_log_secrecy.py", "tests/functional/test_log_secrecy.py"],
    ),
    _m(
        "redact-exception",
        "bot/log_secrecy.py",
        "            record.exc_info = (RedactedException, RedactedException(clean), None)\n",
        "            pass\n",
        "a logged exception's text keeps the token",
        ["tests/unit/test_log_secrecy.py", "tests/functional/test_log_secrecy.py"],
    ),
    # --- grouped requests (Approve all) -------------------------------------------------------
    _m(
        "approve-all-group-members",
        "bot/service/group_decide.py",
        '"group", group_id, lambda: self._slack.usergroup_members(group_id, fresh=True)',
        '"group", "", lambda: self._slack.usergroup_members(group_id, fresh=True)',
        "Approve all authorizes every item by the first approver group Slack was asked about "
        "(a member of one group decides items of another)",
        [
            "tests/unit/test_service_groups.py",
            "tests/functional/test_groups.py::"
            "test_concurrent_approve_all_and_single_clicks_decide_each_item_once_and_only_if_allowed",
        ],
        fast=True,
    ),
    _m(
        "group-redraw-recheck",
        "bot/service/group_draw.py",
        "            if self._groups.version(group_id) == drawn:\n",
        "            if True:\n",
        "a group message drawn from stale reads stays stale (no re-check of the version)",
        ["tests/unit/test_service_groups.py"],
    ),
)


# --- running -------------------------------------------------------------------------------------


class StaleMutation(Exception):
    """The mutation's snippet does not occur exactly once: the code moved on."""


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    verdict: str  # killed | survived | error
    by: str  # what killed it (a test, "soak", "timeout") or why it is an error
    seconds: float


def check(mutation: Mutation, root: Path = ROOT) -> str:
    """The mutated text of the mutation's file (raises :class:`StaleMutation`)."""
    path = root / mutation.file
    if not path.is_file():
        raise StaleMutation(f"{mutation.file} does not exist")
    missing = [t for t in mutation.tests if not (root / t.split("::", 1)[0]).is_file()]
    if missing:
        raise StaleMutation(f"its tests do not exist: {', '.join(missing)}")
    text = path.read_text(encoding="utf-8")
    found = text.count(mutation.original)
    if found != 1:
        raise StaleMutation(
            f"its snippet occurs {found} times in {mutation.file} (expected exactly once)"
        )
    return text.replace(mutation.original, mutation.replacement)


def copy_tree(root: Path, into: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "node_modules")
    for name in COPIED_DIRS:
        if (root / name).is_dir():
            shutil.copytree(root / name, into / name, ignore=ignore)
    for name in COPIED_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, into / name)


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)  # the copy's bot/, never the working tree's
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


_FAILED: Final = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def _first_failure(output: str) -> str:
    match = _FAILED.search(output)
    return match.group(1) if match else "pytest"


def _run(args: Sequence[str], copy: Path, limit: float) -> tuple[int | None, str]:
    """Exit status (None past the time limit) and output of ``python args`` in ``copy``."""
    try:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=copy,
            env=_env(copy),
            capture_output=True,
            text=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, done.stdout + done.stderr


def run_tests(tests: Sequence[str], copy: Path, limit: float) -> tuple[int | None, str]:
    return _run([*PYTEST, *tests], copy, limit)


def run_soak(copy: Path, limit: float) -> tuple[int | None, str]:
    return _run(SOAK, copy, limit)


def try_mutation(
    mutation: Mutation, *, root: Path = ROOT, soak: bool = True, limit: float = TIME_LIMIT_SECONDS
) -> Outcome:
    """Apply ``mutation`` to a fresh copy of ``root`` and run its evidence."""
    started = time.monotonic()

    def outcome(verdict: str, by: str) -> Outcome:
        return Outcome(mutation, verdict, by, time.monotonic() - started)

    try:
        mutated = check(mutation, root)
    except StaleMutation as exc:
        return outcome("error", f"stale: {exc}")
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutation.name}-") as tmp:
        copy = Path(tmp)
        copy_tree(root, copy)
        (copy / mutation.file).write_text(mutated, encoding="utf-8")
        status, output = run_tests(mutation.tests, copy, limit)
        if status is None:
            return outcome("killed", "timeout (tests)")
        if status == 5 or "no tests ran" in output:
            return outcome("error", "the targeted tests collected nothing")
        if status != 0:
            return outcome("killed", _first_failure(output))
        if soak and mutation.soak:
            status, _ = run_soak(copy, limit)
            if status is None:
                return outcome("killed", "timeout (soak)")
            if status != 0:
                return outcome("killed", "soak")
        return outcome("survived", "")


def baseline(
    mutations: Sequence[Mutation], *, root: Path = ROOT, soak: bool = True, jobs: int = 2
) -> str | None:
    """None if each mutation's targeted tests (and the soak, if used) pass on the unmutated
    code; else why. Each distinct list of tests runs as it will for its mutants (its own
    process, its own order): what passes together in one process need not pass alone."""
    lists = list(dict.fromkeys(m.tests for m in mutations))
    with tempfile.TemporaryDirectory(prefix="mutant-baseline-") as tmp:
        copy = Path(tmp)
        copy_tree(root, copy)
        runs: list[tuple[str, Callable[[], tuple[int | None, str]]]] = [
            (" ".join(tests), partial(run_tests, tests, copy, TIME_LIMIT_SECONDS))
            for tests in lists
        ]
        if soak and any(m.soak for m in mutations):
            runs.append(("the soak", partial(run_soak, copy, TIME_LIMIT_SECONDS)))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda run: run[1](), runs))
        for index, (what, again) in enumerate(runs):
            for _ in range(BASELINE_RETRIES):  # some tests time out on a crowded machine
                if results[index][0] == 0:
                    break
                print(f"warning: {what} failed on the unmutated code; again", flush=True)
                results[index] = again()
    for (what, _), (status, output) in zip(runs, results, strict=True):
        if status != 0:
            tail = "\n".join(output.strip().splitlines()[-15:])
            return f"{what} fail(s) on the unmutated code (exit {status}):\n{tail}"
    return None


def select(only: str | None, fast: bool) -> list[Mutation]:
    chosen = [m for m in MUTATIONS if m.fast] if fast else list(MUTATIONS)
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        known = {m.name: m for m in MUTATIONS}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"unknown mutation(s): {', '.join(unknown)} (see --list)")
        chosen = [known[n] for n in names]
    return chosen


def table(outcomes: Sequence[Outcome]) -> str:
    width = max([len(o.mutation.name) for o in outcomes] + [8])
    lines = [f"{'mutation':<{width}}  {'verdict':<8}  {'secs':>5}  by / why"]
    for o in outcomes:
        lines.append(f"{o.mutation.name:<{width}}  {o.verdict:<8}  {o.seconds:5.0f}  {o.by}")
    return "\n".join(lines)


def summary(outcomes: Sequence[Outcome]) -> tuple[str, int]:
    """The last lines (``killed K/N`` and who survived or failed) and the exit status."""
    killed = sum(o.verdict == "killed" for o in outcomes)
    lines = [f"killed {killed}/{len(outcomes)}"]
    survivors = [o.mutation.name for o in outcomes if o.verdict == "survived"]
    errors = [o.mutation.name for o in outcomes if o.verdict == "error"]
    if survivors:
        lines.append("survived: " + ", ".join(survivors))
    if errors:
        lines.append("errors: " + ", ".join(errors))
    return "\n".join(lines), 0 if killed == len(outcomes) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--only", help="comma-separated mutation names (see --list)")
    parser.add_argument(
        "--fast", action="store_true", help="the subset CI runs (targeted tests only, no soak)"
    )
    parser.add_argument("--no-soak", action="store_true", help="targeted tests only")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTATIONS:
            marks = ("fast " if m.fast else "") + ("soak" if m.soak else "")
            print(f"{m.name:<32} {m.file:<32} {marks:<10} {m.description}")
        return 0
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    started = time.monotonic()
    chosen = select(args.only, args.fast)
    soak = not (args.no_soak or args.fast)  # the soak alone takes longer than CI affords
    print(f"{len(chosen)} mutation(s), --jobs {args.jobs}; baseline first", flush=True)
    stale = []
    for m in chosen:
        try:
            check(m)
        except StaleMutation as exc:
            stale.append(Outcome(m, "error", f"stale: {exc}", 0.0))
    runnable = [m for m in chosen if m not in {o.mutation for o in stale}]
    if runnable:
        problem = baseline(runnable, soak=soak, jobs=args.jobs)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(lambda m: try_mutation(m, soak=soak), runnable))
    ordered = sorted([*stale, *outcomes], key=lambda o: chosen.index(o.mutation))
    text, status = summary(ordered)
    print(table(ordered))
    print(text)
    print(f"duration {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
