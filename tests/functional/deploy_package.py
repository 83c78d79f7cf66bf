"""`serverless package` runs for the deploy tests (tests/functional/test_deploy_*.py).

The pinned CLI (package.json: osls, with serverless-python-requirements; ``npm ci`` first when
node_modules lacks it) packages a copy of the service offline, with dummy AWS credentials: the
repository's own .serverless/ (`make package`) is left alone. Each configuration is built once
per test session, whichever test module asks first (``build`` memoizes, and pytest-xdist's
workers share the build through the session's temporary directory), so the modules share
the artifacts. Node.js is a prerequisite of this project (docs/deploy.md): without ``npx``
these tests fail, they never skip.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
TEMPLATE: Final = "cloudformation-template-update-stack.json"
CREATE_TEMPLATE: Final = "cloudformation-template-create-stack.json"
STAGE: Final = "ci"
SERVICE: Final = "sfn-approvals"
COMMAND_TIMEOUT: Final = 600
SERVICE_FILES: Final = ("serverless.yml", "package.json", "requirements.txt")
SERVICE_DIRS: Final = ("bot", "infra")


def offline_env(python: str | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "SLS_BYTECODE"}
    }
    env.update(
        {
            # Dummy credentials: `package` calls no AWS API, and the SDK must not go looking
            # for real ones (no EC2 metadata probe either).
            "AWS_ACCESS_KEY_ID": "offline-package",
            "AWS_SECRET_ACCESS_KEY": "offline-package",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
            # pip (run by serverless-python-requirements) and the bytecode compiler: this
            # test's interpreter unless told otherwise.
            "SLS_PYTHON_BIN": python or sys.executable,
        }
    )
    return env


def tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` not found on PATH: {hint}", pytrace=False)
    return path


def attempt(
    args: list[str],
    cwd: Path = ROOT,
    python: str | None = None,
    umask: int = -1,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed commands, no shell
        args,
        cwd=cwd,
        env=offline_env(python) | (env or {}),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        umask=umask,
    )


def run(
    args: list[str],
    what: str,
    cwd: Path = ROOT,
    python: str | None = None,
    umask: int = -1,
    env: dict[str, str] | None = None,
) -> str:
    result = attempt(args, cwd, python, umask, env)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"{what} failed (exit {result.returncode}):\n{output}", pytrace=False)
    return output


@dataclass(frozen=True)
class Package:
    """One `serverless package` run: its .serverless/ directory, template and console output."""

    directory: Path
    template: dict[str, Any]
    output: str

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, Any]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    def zip_names(self, artifact: str) -> list[str]:
        with zipfile.ZipFile(self.directory / artifact) as archive:
            return archive.namelist()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created), held across processes."""
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def package_lock() -> Iterator[None]:
    """One `npm ci` / packaging at a time, also across pytest-xdist workers: the requirements
    plugin and pip share caches."""
    with file_lock(Path(tempfile.gettempdir()) / "sfn-approvals-package.lock"):
        yield


def npx() -> str:
    """`npx`, with the pinned CLI installed (`npm ci` if node_modules lacks it)."""
    hint = "install Node.js 20 with npm (docs/deploy.md, prerequisites)"
    path = tool("npx", hint)
    with package_lock():
        if not node_modules_match_package_json():
            run([tool("npm", hint), "ci", "--no-audit", "--no-fund"], "npm ci")
    return path


def node_modules_match_package_json() -> bool:
    """Whether node_modules holds exactly the pinned tools (a checkout that moved to another
    pin, e.g. serverless 3 → osls 4, still has the old ones installed: `npm ci` again)."""
    pins = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    if not (ROOT / "node_modules" / ".bin" / "serverless").exists():
        return False
    for name, version in pins.items():
        manifest = ROOT / "node_modules" / name / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text()).get("version") != version:
            return False
    return True


def service_copy(directory: Path) -> Path:
    """What `serverless package` reads, copied: the run writes its .serverless/ here."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in SERVICE_FILES:
        shutil.copy2(ROOT / name, directory / name)
    for name in SERVICE_DIRS:
        shutil.copytree(ROOT / name, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return directory


def serverless(
    args: list[str], cwd: Path = ROOT, python: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One CLI run that may fail (the caller reads its exit code and output)."""
    return attempt([npx(), "--no", "--", "serverless", *args], cwd, python)


def package(
    directory: Path,
    *extra: str,
    python: str | None = None,
    umask: int = -1,
    env: dict[str, str] | None = None,
) -> Package:
    """Package a fresh copy of the service in ``directory`` (pip and the bytecode compiler
    run by ``python``, the process under ``umask``: -1 for this process's; ``env`` added)."""
    service = service_copy(directory)
    args = [npx(), "--no", "--", "serverless", "package", "--stage", STAGE, *extra]
    with package_lock():
        output = run(
            args,
            "serverless package " + " ".join(extra),
            service,
            python=python,
            umask=umask,
            env=env,
        )
    built = service / ".serverless"
    template = json.loads((built / TEMPLATE).read_text())
    return Package(directory=built, template=template, output=output)


_BUILT: dict[tuple[str, ...], Package] = {}


def build(factory: pytest.TempPathFactory, *extra: str) -> Package:
    """The package of this configuration (``--param=...`` arguments), built once per test
    session: under pytest-xdist the workers share it (the first to ask builds it, under a lock
    in the session's temporary directory, and the others read it)."""
    if extra not in _BUILT:
        base = factory.getbasetemp()
        # A worker's basetemp is <session>/popen-gwN: the session's directory is its parent.
        shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
        key = hashlib.sha256("\0".join(extra).encode()).hexdigest()[:12]
        _BUILT[extra] = _shared_package(shared / f"package-{key}", extra)
    return _BUILT[extra]


def _shared_package(directory: Path, extra: tuple[str, ...]) -> Package:
    output = directory.with_name(directory.name + ".output")  # written once the build passed
    with file_lock(directory.with_name(directory.name + ".lock")):
        if output.exists():
            built = directory / ".serverless"
            template = json.loads((built / TEMPLATE).read_text())
            return Package(directory=built, template=template, output=output.read_text())
        shutil.rmtree(directory, ignore_errors=True)  # what a failed build left
        made = package(directory, *extra)
        output.write_text(made.output)
        return made


EXAMPLE: Final = ("--param=deployExample=true",)
