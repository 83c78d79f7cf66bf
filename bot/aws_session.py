"""The process's boto3 session: botocore's, with its data loader scoped to the services we call.

The first boto3 client of a process pays for botocore's data before its own service model:
``endpoints.json`` (1.2 MB of JSON, every service of every partition: ~20 ms to parse) and two
scans of botocore's data directory (~450 service directories, one ``listdir`` and several
``stat`` each, to list the services that exist: ~15 ms). On a cold start that is most of the
first client, which the interactions function builds before its first ack (Bolt's
``lambda:Invoke`` of the lazy listener).

:class:`ScopedLoader` is botocore's ``Loader`` (same search paths, same files, same caches)
except that it lists only :data:`SERVICES` and reads ``endpoints.json`` from
``aws_endpoints.json`` beside this module: botocore's own file with each partition's
``services`` cut to :data:`SERVICES` (by endpoint prefix), everything else as shipped. The
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
from botocore.loaders import Loader, instance_cache

# Every service a boto3 client is built for by bot/ (wiring: DynamoDB, Step Functions; Bolt's
# lazy listener runner: Lambda; Powertools Parameters in bot.config builds its own SSM client).
SERVICES: Final = ("dynamodb", "lambda", "stepfunctions")
ENDPOINTS_FILE: Final = Path(__file__).with_name("aws_endpoints.json")
_VERSION_KEY: Final = "x-botocore-version"  # not a key botocore reads


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
        found: tuple[Any, str] = super().load_data_with_path(name)
        return found


def _scoped_endpoints() -> dict[str, Any] | None:
    """The trimmed ``endpoints.json``, or None when it was cut from another botocore."""
    try:
        data: dict[str, Any] = json.loads(ENDPOINTS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.pop(_VERSION_KEY, None) != botocore.__version__:
        return None
    return data


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
    loader = Loader(
        extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False
    )
    data: dict[str, Any] = loader.load_data("endpoints")
    return data


def endpoints_file_text() -> str:
    """What ``aws_endpoints.json`` holds for the installed botocore."""
    trimmed = trimmed_endpoints(builtin_endpoints(), endpoint_prefixes(SERVICES))
    data = {_VERSION_KEY: botocore.__version__, **trimmed}
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def new_session() -> boto3.session.Session:
    """A boto3 session like ``boto3.Session()`` (same configuration and credential chain), its
    data loader scoped to :data:`SERVICES` (``AWS_DATA_PATH`` still honoured)."""
    core = botocore.session.get_session()
    default = core.get_component("data_loader")  # cheap: only its search paths are computed
    core.register_component(
        "data_loader",
        ScopedLoader(
            SERVICES,
            extra_search_paths=list(default.search_paths),
            include_default_search_paths=False,
        ),
    )
    return boto3.session.Session(botocore_session=core)


if __name__ == "__main__":
    ENDPOINTS_FILE.write_text(endpoints_file_text(), encoding="utf-8")
    sys.stdout.write(f"wrote {ENDPOINTS_FILE} for botocore {botocore.__version__}\n")
