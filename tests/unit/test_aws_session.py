"""The process's boto3 session (bot/aws_session.py): the same clients as boto3's, built without
reading what the app never calls."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader
from botocore.regions import EndpointResolver

from bot import aws_session, wiring
from bot.aws_session import SERVICES, ScopedLoader, endpoints_file_text, new_session

# One region per partition, and a configuration that changes endpoints (FIPS + dual-stack).
REGIONS = ("us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1")
VARIANTS = (None, Config(use_fips_endpoint=True), Config(use_dualstack_endpoint=True))


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_the_trimmed_endpoints_file_is_botocores_own_for_the_installed_version() -> None:
    # Fails after a botocore upgrade until `python -m bot.aws_session` rewrites the file.
    assert aws_session.ENDPOINTS_FILE.read_text(encoding="utf-8") == endpoints_file_text()


def test_every_region_of_every_partition_resolves_as_with_botocores_full_file() -> None:
    full = aws_session.builtin_endpoints()
    scoped = ScopedLoader(SERVICES).load_data("endpoints")
    assert len(json.dumps(scoped)) < len(json.dumps(full)) / 20
    ours, theirs = EndpointResolver(scoped), EndpointResolver(full)
    checked = 0
    for partition in full["partitions"]:
        for region in partition["regions"]:
            for service in aws_session.endpoint_prefixes(SERVICES):
                for variant in ([], ["fips"], ["dualstack"]):
                    assert ours.construct_endpoint(
                        service, region, use_fips_endpoint="fips" in variant
                    ) == theirs.construct_endpoint(
                        service, region, use_fips_endpoint="fips" in variant
                    )
                    checked += 1
    assert checked > 100
    assert "states" in aws_session.endpoint_prefixes(SERVICES)  # stepfunctions' key there


@pytest.mark.parametrize("service", SERVICES)
def test_clients_are_configured_exactly_as_boto3s_own(service: str) -> None:
    ours, theirs = new_session(), boto3.session.Session()
    for region in REGIONS:
        for config in VARIANTS:
            a = ours.client(service, region_name=region, config=config)  # type: ignore[call-overload]
            b = theirs.client(service, region_name=region, config=config)  # type: ignore[call-overload]
            assert (a.meta.endpoint_url, a.meta.region_name, a.meta.partition) == (
                b.meta.endpoint_url,
                b.meta.region_name,
                b.meta.partition,
            ), (service, region, config)
            assert a.meta.service_model.operation_names == b.meta.service_model.operation_names
            assert a.meta.config.signature_version == b.meta.config.signature_version


def test_the_first_client_does_not_scan_botocores_data_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """botocore lists ~450 service directories for the first client of a process; the app's
    clients look at their own services only."""
    data = Path(botocore.__file__).parent / "data"
    listed: list[str] = []
    real = os.listdir

    def listdir(path: Any = ".") -> list[str]:
        if str(path).startswith(str(data)):
            listed.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr(wiring, "_session", None)  # a new process's first client
    client = wiring.lambda_client()
    assert client.meta.service_model.service_name == "lambda"  # built now
    assert 0 < len(listed) <= 4 * len(SERVICES), listed  # boto3.client: ~900


def test_a_client_for_another_service_is_refused_by_name() -> None:
    with pytest.raises(UnknownServiceError, match="dynamodb, lambda, stepfunctions"):
        new_session().client("sqs")


def test_endpoints_cut_from_another_botocore_are_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stale = json.loads(aws_session.ENDPOINTS_FILE.read_text(encoding="utf-8"))
    stale["x-botocore-version"] = "0.0.1"
    path = tmp_path / "aws_endpoints.json"
    path.write_text(json.dumps(stale), encoding="utf-8")
    monkeypatch.setattr(aws_session, "ENDPOINTS_FILE", path)
    loaded = ScopedLoader(SERVICES).load_data("endpoints")
    assert loaded == Loader().load_data("endpoints")  # botocore's full file


def test_the_trimmed_file_counts_as_botocores_own() -> None:
    """Else botocore hands the legacy endpoint to the endpoint rule set as a custom one."""
    loader = ScopedLoader(SERVICES)
    _, path = loader.load_data_with_path("endpoints")
    assert loader.is_builtin_path(path)
