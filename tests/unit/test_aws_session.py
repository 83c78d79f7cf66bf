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
from botocore.exceptions import EndpointConnectionError, UnknownServiceError
from botocore.loaders import Loader
from botocore.regions import EndpointResolver

from bot import aws_session, wiring
from bot.aws_session import LISTED, SERVICES, ScopedLoader, endpoints_file_text, new_session

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
    scoped = ScopedLoader(LISTED).load_data("endpoints")
    assert len(json.dumps(scoped)) < len(json.dumps(full)) / 20
    ours, theirs = EndpointResolver(scoped), EndpointResolver(full)
    checked = 0
    for partition in full["partitions"]:
        for region in partition["regions"]:
            for service in aws_session.endpoint_prefixes(LISTED):
                for variant in ([], ["fips"], ["dualstack"]):
                    assert ours.construct_endpoint(
                        service, region, use_fips_endpoint="fips" in variant
                    ) == theirs.construct_endpoint(
                        service, region, use_fips_endpoint="fips" in variant
                    )
                    checked += 1
    assert checked > 100
    assert "states" in aws_session.endpoint_prefixes(SERVICES)  # stepfunctions' key there


@pytest.mark.parametrize("service", LISTED)
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
    assert 0 < len(listed) <= 4 * len(LISTED), listed  # boto3.client: ~900


def test_a_client_for_another_service_is_refused_by_name() -> None:
    with pytest.raises(
        UnknownServiceError, match="dynamodb, lambda, signin, sso, sso-oidc, stepfunctions, sts"
    ):
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


# --- the service models without documentation (bot/aws_models) ------------------------------


def test_the_stripped_models_are_botocores_own_for_the_installed_version() -> None:
    # Fails after a botocore upgrade until `python -m bot.aws_session` rewrites them.
    files = aws_session.model_files_text()
    assert sorted(files) == sorted(
        str(p.relative_to(aws_session.MODELS_DIR)) for p in aws_session.MODELS_DIR.rglob("*.json")
    )
    for relative, text in files.items():
        assert (aws_session.MODELS_DIR / relative).read_text(encoding="utf-8") == text, relative


@pytest.mark.parametrize("service", SERVICES)
def test_a_stripped_model_has_botocores_operations_and_shapes(service: str) -> None:
    """Everything but the documentation strings, compared with botocore's own model."""
    name = aws_session.builtin_model_name(service)
    theirs = aws_session.builtin_loader().load_data(name)
    ours, path = ScopedLoader(SERVICES).load_data_with_path(name)
    assert Path(path).parent == Path(Loader.BUILTIN_DATA_PATH) / Path(name).parent
    text = json.dumps(ours)
    assert '"documentation"' not in text
    assert "documentationUrl" not in text
    assert len(text) < len(json.dumps(theirs)) / 2
    assert ours == aws_session.strip_documentation(theirs)
    assert ours["metadata"] == {k: v for k, v in theirs["metadata"].items() if k != "documentation"}
    assert ours["operations"].keys() == theirs["operations"].keys()
    assert ours["shapes"].keys() == theirs["shapes"].keys()
    for shape_name, shape in theirs["shapes"].items():
        assert (
            ours["shapes"][shape_name].get("members", {}).keys() == shape.get("members", {}).keys()
        )
    a = new_session().client(service).meta.service_model  # type: ignore[call-overload]
    b = boto3.session.Session().client(service).meta.service_model  # type: ignore[call-overload]
    assert a.operation_names == b.operation_names
    assert a.shape_names == b.shape_names
    for operation in a.operation_names:
        x, y = a.operation_model(operation), b.operation_model(operation)
        assert (x.http, x.input_shape and x.input_shape.members.keys()) == (
            y.http,
            y.input_shape and y.input_shape.members.keys(),
        )
        assert x.documentation == ""  # what is lost: docstrings


def test_strip_documentation_keeps_members_named_documentation() -> None:
    model = {
        "documentation": "x",
        "shapes": {
            "documentation": {"type": "string", "documentation": "x"},
            "S": {"members": {"documentation": {"shape": "documentation", "documentation": "y"}}},
        },
    }
    assert aws_session.strip_documentation(model) == {
        "shapes": {
            "documentation": {"type": "string"},
            "S": {"members": {"documentation": {"shape": "documentation"}}},
        }
    }


def test_models_cut_from_another_botocore_are_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = aws_session.builtin_model_name("lambda")
    stale = json.loads((aws_session.MODELS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    stale["x-botocore-version"] = "0.0.1"
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / f"{name}.json").write_text(json.dumps(stale), encoding="utf-8")
    monkeypatch.setattr(aws_session, "MODELS_DIR", tmp_path)
    assert ScopedLoader(SERVICES).load_data(name) == Loader().load_data(name)  # with its docs


def test_a_model_in_aws_data_path_still_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = aws_session.builtin_model_name("stepfunctions")
    custom = Loader().load_data(name)
    custom["metadata"]["serviceFullName"] = "My Step Functions"
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / f"{name}.json").write_text(json.dumps(custom), encoding="utf-8")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    client = new_session().client("stepfunctions")
    assert client.meta.service_model.metadata["serviceFullName"] == "My Step Functions"


# --- the built-in handlers (ScopedSession) ----------------------------------------------------


def _handlers(session: botocore.session.Session, event: str) -> list[Any]:
    return list(session._events._emitter._handlers.prefix_search(event))  # type: ignore[attr-defined]


def test_the_session_registers_only_handlers_for_our_services() -> None:
    scoped = new_session()._session
    full = botocore.session.get_session()
    ours = sum(len(_handlers(scoped, e)) for e in _EVENTS_OF_OTHERS)
    theirs = sum(len(_handlers(full, e)) for e in _EVENTS_OF_OTHERS)
    assert theirs > ours  # botocore's handlers for S3, EC2, ... are not registered
    kept = [
        s
        for s in botocore.handlers.BUILTIN_HANDLERS
        if aws_session.handler_in_scope(s[0], aws_session.EVENT_SERVICES)
    ]
    assert len(kept) < len(botocore.handlers.BUILTIN_HANDLERS) / 4


_EVENTS_OF_OTHERS = (
    "before-parameter-build.s3.PutObject",
    "before-call.s3.PutObject",
    "after-call.ec2.DescribeInstances",
    "before-parameter-build.glacier.UploadArchive",
    "creating-client-class.s3",
)


@pytest.mark.parametrize(
    ("service", "event_service"), list(zip(LISTED, aws_session.EVENT_SERVICES, strict=True))
)
def test_every_event_of_our_clients_has_botocores_handlers(
    service: str, event_service: str
) -> None:
    """For every operation of our services and every event a built-in handler listens to, the
    scoped session has exactly the handlers botocore's session has, in the same order."""
    full = botocore.session.get_session()
    scoped = new_session()._session
    model = full.get_service_model(service)
    assert model.service_id.hyphenize() == event_service
    kinds = {spec[0].split(".")[0] for spec in botocore.handlers.BUILTIN_HANDLERS} - {"docs"}
    events = [f"{kind}.{event_service}" for kind in kinds]
    events += [f"{kind}.{event_service}.{op}" for kind in kinds for op in model.operation_names]
    events += [
        f"docs.{section}.{event_service}.{op}.complete-section"
        for section in ("*", "request-params")
        for op in model.operation_names
    ]
    events += sorted(kinds)
    for event in events:
        # By name: an initializer (Powertools') makes a new closure per session.
        assert _names(_handlers(scoped, event)) == _names(_handlers(full, event)), event


def _names(handlers: list[Any]) -> list[str]:
    return [getattr(h, "__qualname__", type(h).__qualname__) for h in handlers]


@pytest.mark.parametrize("service", LISTED)
def test_clients_register_what_boto3s_clients_register(service: str) -> None:
    """Retries, endpoint rules, checksums, signing: a client's own handlers are the same."""
    ours = new_session().client(service, config=Config(retries={"mode": "standard"}))  # type: ignore[call-overload]
    theirs = boto3.session.Session().client(service, config=Config(retries={"mode": "standard"}))  # type: ignore[call-overload]
    event_service = ours.meta.service_model.service_id.hyphenize()
    kinds = (
        "provide-client-params",
        "before-parameter-build",
        "before-endpoint-resolution",
        "before-call",
        "request-created",
        "choose-signer",
        "before-sign",
        "before-send",
        "needs-retry",
        "after-call",
        "after-call-error",
    )
    for operation in ours.meta.service_model.operation_names:
        for kind in kinds:
            event = f"{kind}.{event_service}.{operation}"
            a = _names(list(ours.meta.events._emitter._handlers.prefix_search(event)))
            b = _names(list(theirs.meta.events._emitter._handlers.prefix_search(event)))
            assert a == b, event
    assert any(
        "retry" in name.lower()
        for name in _names(
            list(
                ours.meta.events._emitter._handlers.prefix_search(f"needs-retry.{event_service}.X")
            )
        )
    )


def test_session_initializers_run_after_the_built_in_handlers_as_in_botocore() -> None:
    """Powertools registers a ``request-created`` handler through botocore's session
    initializers; it must come after botocore's built-in one there, as in botocore's session."""

    def added(**_: Any) -> None: ...

    def initializer(session: botocore.session.Session) -> None:
        session.register("request-created", added)

    botocore.register_initializer(initializer)
    try:
        scoped, full = new_session()._session, botocore.session.get_session()
    finally:
        botocore.unregister_initializer(initializer)
    event = "request-created.dynamodb.PutItem"
    assert _names(_handlers(scoped, event)) == _names(_handlers(full, event))
    assert _handlers(scoped, event)[-1] is added


def test_an_assume_role_profile_gets_its_sts_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """botocore's assume-role provider builds an STS client from the same session: the call
    goes to STS (here: nothing listens there) instead of failing on an unknown service."""
    config = tmp_path / "config"
    config.write_text(
        "[profile base]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n"
        "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n",
        encoding="utf-8",
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "role")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard: refused at once
    called: list[str] = []
    session = new_session()
    session.events.register("before-call.sts", lambda **kw: called.append(kw["model"].name))
    client = session.client("dynamodb", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(EndpointConnectionError):
        client.list_tables()
    assert called == ["AssumeRole"]
