"""Bad deployment parameters stop the build with one line naming the parameter
(infra/serverless/params.js), through the real CLI: `serverless package` exits non-zero before
anything is packaged. The runs fail in the CLI's first lifecycle event, so they are short; they
run concurrently."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import pytest

from tests.functional import deploy_package
from tests.functional.deploy_package import ROOT, STAGE

# (parameter, bad value, what the message says)
BAD: Final = (
    ("slackBotTokenParam", "my-token", 'must be an SSM parameter name starting with "/"'),
    ("slackSigningSecretParam", "/sfn approvals/secret", "must be an SSM parameter name"),
    ("slackBotTokenParam", "/aws/slack-bot-token", "must not start with /aws or /ssm"),
    ("defaultChannel", "D0123456789", "is a direct-message id (D…)"),
    ("defaultChannel", "#approvals", "must be a Slack channel id like C0123456789"),
    ("defaultApprovers", "U0ANA,@bo", "must list Slack user ids (U…/W…) or user-group ids (S…)"),
    ("allowSelfApproval", "yes", 'must be "true" or "false"'),
    ("deployExample", "yes", 'must be "true" or "false"'),
    ("alarmEmail", "ops", "must be an e-mail address"),
    ("stateMachineNamePattern", "deploy/*", "must be a state machine name"),
    ("stateMachineNamePattern", "deploy-?", "must be a state machine name"),
    ("logLevel", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("defaultChanel", "C0123456789", "is not a parameter of this service"),
)
GOOD: Final = (
    ("slackBotTokenParam", "/sfn-approvals/prod/slack-bot-token"),
    ("slackSigningSecretParam", "/team_a/approvals.v2/signing-secret"),
    ("defaultChannel", ""),
    ("defaultChannel", "C0123456789"),
    ("defaultChannel", "G0PRIVATE1"),
    ("defaultApprovers", ""),
    ("defaultApprovers", "U0ANA, W0BO,S0ONCALL"),
    ("allowSelfApproval", "true"),
    ("deployExample", "false"),
    ("alarmEmail", ""),
    ("alarmEmail", "ops+approvals@example.com"),
    ("stateMachineNamePattern", "sfn-approvals-prod-*"),
    ("stateMachineNamePattern", "*"),
    ("stateMachineNamePattern", "deploy_2024.prod"),
    ("logLevel", "WARNING"),
)


Run = tuple[Path, subprocess.CompletedProcess[str]]
KNOWN: Final = frozenset(n for n, _ in GOOD)


def _groups() -> list[list[int]]:
    """The cases, as few CLI runs as can hold them: one value per parameter and run (every bad
    value of a run is reported); an unknown name stops the CLI at once, so it runs alone."""
    groups: list[list[int]] = []
    for i, (name, _, _) in enumerate(BAD):
        fits = [
            g
            for g in groups
            if name in KNOWN
            and all(BAD[j][0] in KNOWN for j in g)
            and name not in {BAD[j][0] for j in g}
        ]
        if fits:
            fits[0].append(i)
        else:
            groups.append([i])
    return groups


def _package(directory: Path, cases: list[int]) -> Run:
    service = deploy_package.service_copy(directory)
    params = [f"--param={BAD[i][0]}={BAD[i][1]}" for i in cases]
    return service, deploy_package.serverless(["package", "--stage", STAGE, *params], cwd=service)


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Run]:
    """Each case's run."""
    deploy_package.npx()  # npm ci once, before the concurrent runs
    root = tmp_path_factory.mktemp("bad-params")
    groups = _groups()
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(_package, root / str(n), group) for n, group in enumerate(groups)]
        return {i: run.result() for run, group in zip(runs, groups, strict=True) for i in group}


@pytest.mark.parametrize("case", range(len(BAD)), ids=[f"{n}={v}" for n, v, _ in BAD])
def test_a_bad_parameter_fails_the_build_with_one_line_naming_it(
    refused: dict[int, Run], case: int
) -> None:
    name, value, problem = BAD[case]
    service, result = refused[case]
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    expected = f"Invalid parameter {name}={json.dumps(value, ensure_ascii=False)}: "
    lines = [line for line in output.splitlines() if line.startswith(expected)]
    assert len(lines) == 1, output  # once, however often the parameter is used
    assert problem in lines[0], output
    assert "Cannot resolve" not in output, output
    # Nothing was packaged.
    assert not (service / ".serverless").exists()


def test_every_rule_accepts_the_values_it_should() -> None:
    """The rules themselves (the defaults pass through the CLI in every packaged build)."""
    script = (
        "const {check} = require(process.argv[1]);"
        "const cases = JSON.parse(process.argv[2]);"
        "console.log(JSON.stringify(cases.map(([n, v]) => check(n, v))));"
    )
    node = deploy_package.tool("node", "install Node.js 20 (docs/deploy.md, prerequisites)")
    result = subprocess.run(  # noqa: S603 - fixed command, no shell
        [node, "-e", script, str(ROOT / "infra/serverless/params.js"), json.dumps(GOOD)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    problems = dict(zip(GOOD, json.loads(result.stdout), strict=True))
    assert {case: p for case, p in problems.items() if p is not None} == {}


def test_the_wide_pattern_is_accepted_loudly(tmp_path: Path) -> None:
    service = deploy_package.service_copy(tmp_path)
    result = deploy_package.serverless(
        ["print", "--stage", STAGE, "--param=stateMachineNamePattern=*"], cwd=service
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert 'stateMachineNamePattern="*": the bot may read every execution' in output
    assert ":execution:*:*" in output  # the roles' grant
    assert ":stateMachine:*" in output  # the rule's filter


def _python_311(directory: Path) -> Path:
    """This interpreter, except that it says it is Python 3.11 when asked its version."""
    fake = directory / "python3.11"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *version_info*) echo 3.11; exit 0;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    fake.chmod(0o755)
    return fake


def test_an_interpreter_of_another_version_is_refused_with_the_fallback_named(
    tmp_path: Path,
) -> None:
    """Bytecode must match the runtime: a Python that says it is 3.11 stops the build before
    pip runs, and the message names the way out (infra/serverless/bytecode.js)."""
    fake = _python_311(tmp_path)
    service = deploy_package.service_copy(tmp_path / "service")
    result = deploy_package.serverless(["package", "--stage", STAGE], service, python=str(fake))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"bytecode for python3.13 needs Python 3.13, but {fake} is Python 3.11" in output
    assert "SLS_BYTECODE=off" in output
    assert not (service / ".serverless" / "sfn-approvals.zip").exists()


def test_the_fallback_packages_without_bytecode_under_another_python(tmp_path: Path) -> None:
    """SLS_BYTECODE=off (docs/deploy.md): the same package under any Python, without .pyc,
    not even one a local run left in bot/**/__pycache__ (planted here)."""
    fake = _python_311(tmp_path)
    service = deploy_package.service_copy(tmp_path / "service")
    planted = service / "bot" / "__pycache__" / "config.cpython-313.pyc"
    planted.parent.mkdir(exist_ok=True)
    planted.write_bytes(b"stale")
    npx = deploy_package.npx()
    with deploy_package.package_lock():
        result = deploy_package.attempt(
            [npx, "--no", "--", "serverless", "package", "--stage", STAGE],
            service,
            python=str(fake),
            env={"SLS_BYTECODE": "off"},
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SLS_BYTECODE=off: no bytecode" in output
    with zipfile.ZipFile(service / ".serverless" / "sfn-approvals.zip") as archive:
        names = archive.namelist()
    assert "bot/handlers/interactions.py" in names
    assert any(n.startswith("slack_bolt/") for n in names)
    assert [n for n in names if n.endswith(".pyc") or "__pycache__" in n] == []
