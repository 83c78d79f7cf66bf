"""The process's boto3 session: botocore's, with its data loader scoped to the services we call.

The first boto3 client of a process pays for botocore's data before its own service model:
``endpoints.json`` (1.2 MB of JSON, every service of every partition: ~20 ms to parse) and two
scans of botocore's data directory (~450 service directories, one ``listdir`` and several
``stat`` each, to list the services that exist: ~15 ms). On a cold start that is most of the
first client, which the interactions function builds before its first ack (Bolt's
``lambda:Invoke`` of the lazy listener).

:class:`ScopedLoader` is botocore's ``Loader`` (same search paths, same files, same caches)
except that it lists only :data:`LISTED` (:data:`SERVICES` and the credential providers'
:data:`CREDENTIAL_SERVICES`) and reads ``endpoints.json`` from ``aws_endpoints.json`` beside
this module: botocore's own file with each partition's ``services`` cut to :data:`LISTED` (by
endpoint prefix), everything else as shipped. The
endpoint data for these services is the same dict, so every client resolves exactly as
before; the file counts as botocore's own (``is_builtin_path``), as it is (otherwise botocore
would hand the legacy endpoint to the endpoint rule set as a custom endpoint). The file
records the botocore version it was cut from; with any other botocore the loader reads
botocore's full file (slower, never wrong). ``python -m bot.aws_session`` rewrites it;
tests/unit/test_aws_session.py fails when it is stale.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Final

import boto3
import botocore
import botocore.session
from botocore import handlers
from botocore.loaders import Loader, instance_cache

# Every service a boto3 client is built for by bot/ (wiring: DynamoDB, Step Functions; Bolt's
# lazy listener runner: Lambda; Powertools Parameters in bot.config builds its own SSM client).
SERVICES: Final = ("dynamodb", "lambda", "stepfunctions")
# Services botocore's credential and token providers build clients for from the same session:
# STS (assume-role and web-identity profiles), SSO and SSO OIDC (SSO profiles), Sign-In
# (``aws login`` profiles). Listed too (with botocore's own models), or such a profile would
# fail with UnknownServiceError; on Lambda the credentials come from the environment.
CREDENTIAL_SERVICES: Final = ("signin", "sso", "sso-oidc", "sts")
LISTED: Final = SERVICES + CREDENTIAL_SERVICES
# Their names in botocore's event names (the hyphenized ``serviceId``: Step Functions is "sfn").
EVENT_SERVICES: Final = ("dynamodb", "lambda", "sfn", "signin", "sso", "sso-oidc", "sts")
ENDPOINTS_FILE: Final = Path(__file__).with_name("aws_endpoints.json")
MODELS_DIR: Final = Path(__file__).with_name("aws_models")
_VERSION_KEY: Final = "x-botocore-version"  # not a key botocore reads
# Keys of botocore's models that only feed documentation (docstrings, the API reference).
_DOC_KEYS: Final = frozenset({"documentation", "documentationUrl"})
# Keys whose values map names (of shapes, operations, members) to models: a member may be
# called "documentation" and must stay.
_NAMED: Final = frozenset({"shapes", "operations", "members"})


class ScopedLoader(Loader):
    """botocore's ``Loader``, listing only ``services`` and reading their endpoints only."""

    def __init__(self, services: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._services = services

    @instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        """botocore's answer for the scoped services, without scanning every other one."""
        found: set[str] = set()
        for path in self.search_paths:
            base = os.path.expanduser(os.path.expandvars(path))
            for service in self._services:
                directory = os.path.join(base, service)
                if not os.path.isdir(directory):
                    continue
                for api_version in os.listdir(directory):
                    if self.file_loader.exists(os.path.join(directory, api_version, type_name)):
                        found.add(service)
                        break
        return sorted(found)

    @instance_cache
    def load_data_with_path(self, name: str) -> tuple[Any, str]:
        if name == "endpoints":
            scoped = _scoped_endpoints()
            if scoped is not None:
                # Reported as botocore's own file: it is, minus other services' entries.
                return scoped, os.path.join(self.BUILTIN_DATA_PATH, "endpoints.json")
        service, _, rest = name.partition("/")
        if service in self._services and rest.endswith("/service-2") and self._builtin(name):
            model = _stripped_model(name)
            if model is not None:
                # botocore's own model, minus its documentation strings.
                return model, os.path.join(self.BUILTIN_DATA_PATH, name)
        found: tuple[Any, str] = super().load_data_with_path(name)
        return found

    def _builtin(self, name: str) -> bool:
        """Whether botocore would read ``name`` from its own data (no search path before it,
        ``~/.aws/models`` or ``AWS_DATA_PATH``, holds that file)."""
        for path in self.search_paths:
            base = os.path.expanduser(os.path.expandvars(path))
            if base == self.BUILTIN_DATA_PATH:
                return True
            if self.file_loader.exists(os.path.join(base, name)):
                return False
        return False


def _scoped_endpoints() -> dict[str, Any] | None:
    """The trimmed ``endpoints.json``, or None when it was cut from another botocore."""
    try:
        data: dict[str, Any] = json.loads(ENDPOINTS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.pop(_VERSION_KEY, None) != botocore.__version__:
        return None
    return data


def _stripped_model(name: str) -> dict[str, Any] | None:
    """``aws_models/<name>.json``, or None when it is missing or cut from another botocore."""
    try:
        data: dict[str, Any] = json.loads((MODELS_DIR / f"{name}.json").read_bytes())
    except (OSError, ValueError):
        return None
    if data.pop(_VERSION_KEY, None) != botocore.__version__:
        return None
    return data


def strip_documentation(model: Any, *, named: bool = False) -> Any:
    """``model`` without its documentation strings (``named``: ``model`` maps names to models,
    whose keys are never dropped)."""
    if isinstance(model, dict):
        return {
            key: strip_documentation(value, named=not named and key in _NAMED)
            for key, value in model.items()
            if named or key not in _DOC_KEYS
        }
    if isinstance(model, list):
        return [strip_documentation(value) for value in model]
    return model


def builtin_model_name(service: str) -> str:
    """``<service>/<latest api version>/service-2``: the model botocore's own data serves."""
    loader = builtin_loader()
    return f"{service}/{loader.determine_latest_version(service, 'service-2')}/service-2"


def builtin_loader() -> Loader:
    """A loader of botocore's own data only (not ``~/.aws/models`` or AWS_DATA_PATH)."""
    return Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)


def model_files_text() -> dict[str, str]:
    """What ``aws_models/`` holds for the installed botocore: path relative to it -> text."""
    loader = builtin_loader()
    files: dict[str, str] = {}
    for service in SERVICES:
        name = builtin_model_name(service)
        stripped = strip_documentation(loader.load_data(name))
        data = {_VERSION_KEY: botocore.__version__, **stripped}
        files[f"{name}.json"] = json.dumps(data, separators=(",", ":")) + "\n"
    return files


def write_model_files() -> None:
    """Rewrite ``aws_models/`` (only the current models: older versions are removed)."""
    wanted = model_files_text()
    for old in MODELS_DIR.rglob("*.json") if MODELS_DIR.exists() else ():
        if str(old.relative_to(MODELS_DIR)) not in wanted:
            old.unlink()
    for relative, text in wanted.items():
        path = MODELS_DIR / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def handler_in_scope(event_name: str, event_services: tuple[str, ...]) -> bool:
    """Whether a built-in handler's event can fire for a client of ``event_services``: its
    event names no service (``before-call``), any (``*``), or one of them (after botocore's
    event-name aliases). ``docs.<section>.<service>...`` names the service third."""
    parts = event_name.split(".")
    index = 2 if parts[0] == "docs" else 1
    if len(parts) <= index or parts[index] == "*":
        return True
    return botocore.session.EVENT_ALIASES.get(parts[index], parts[index]) in event_services


class ScopedSession(botocore.session.Session):
    """botocore's ``Session`` with only the built-in handlers :func:`handler_in_scope` keeps,
    registered where and as botocore registers them (``Session._register_builtin_handlers``,
    called before the session's initializers: Powertools registers one)."""

    def __init__(self, event_services: tuple[str, ...], **kwargs: Any) -> None:
        self.event_services = event_services
        super().__init__(**kwargs)

    def _register_builtin_handlers(self, events: Any) -> None:
        for spec in handlers.BUILTIN_HANDLERS:
            event_name, handler = spec[0], spec[1]
            if not handler_in_scope(event_name, self.event_services):
                continue
            if len(spec) == 2:
                self.register(event_name, handler)
            elif spec[2] is handlers.REGISTER_FIRST:
                events.register_first(event_name, handler)
            elif spec[2] is handlers.REGISTER_LAST:
                events.register_last(event_name, handler)


def endpoint_prefixes(services: tuple[str, ...]) -> set[str]:
    """The keys of ``services`` in ``endpoints.json``: their models' ``endpointPrefix``
    (``stepfunctions`` is ``states`` there)."""
    loader = Loader()
    return {
        str(loader.load_service_model(name, "service-2")["metadata"]["endpointPrefix"])
        for name in services
    }


def trimmed_endpoints(full: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """botocore's ``endpoints.json`` with each partition's ``services`` cut to ``prefixes``."""
    trimmed = dict(full)
    trimmed["partitions"] = [
        {**partition, "services": {k: v for k, v in partition["services"].items() if k in prefixes}}
        for partition in full["partitions"]
    ]
    return trimmed


def builtin_endpoints() -> dict[str, Any]:
    """botocore's own ``endpoints.json`` (not one from ``~/.aws/models`` or AWS_DATA_PATH)."""
    data: dict[str, Any] = builtin_loader().load_data("endpoints")
    return data


def endpoints_file_text() -> str:
    """What ``aws_endpoints.json`` holds for the installed botocore."""
    trimmed = trimmed_endpoints(builtin_endpoints(), endpoint_prefixes(LISTED))
    data = {_VERSION_KEY: botocore.__version__, **trimmed}
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def new_session() -> boto3.session.Session:
    """A boto3 session like ``boto3.Session()`` (same configuration and credential chain), its
    data loader scoped to :data:`LISTED` (``AWS_DATA_PATH`` still honoured) and its built-in
    handlers to theirs (:class:`ScopedSession`)."""
    core = ScopedSession(EVENT_SERVICES)
    default = core.get_component("data_loader")  # cheap: only its search paths are computed
    core.register_component(
        "data_loader",
        ScopedLoader(
            LISTED,
            extra_search_paths=list(default.search_paths),
            include_default_search_paths=False,
        ),
    )
    return boto3.session.Session(botocore_session=core)


if __name__ == "__main__":
    ENDPOINTS_FILE.write_text(endpoints_file_text(), encoding="utf-8")
    write_model_files()
    sys.stdout.write(
        f"wrote {ENDPOINTS_FILE} and {MODELS_DIR} for botocore {botocore.__version__}\n"
    )
