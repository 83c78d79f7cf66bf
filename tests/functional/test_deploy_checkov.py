"""The checkov baseline (.checkov.baseline): every accepted finding says why, and names a
resource of the packaged stack, of that type (a renamed or removed resource leaves no stale
acceptance behind). checkov itself runs against it in CI (`make checkov`)."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from tests.functional import deploy_package
from tests.functional.deploy_package import ROOT, Package

BASELINE: Final = ROOT / ".checkov.baseline"


@pytest.fixture(scope="session")
def package_default(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return deploy_package.build(tmp_path_factory)


def _findings() -> list[dict[str, Any]]:
    baseline = json.loads(BASELINE.read_text())
    return [f for entry in baseline["failed_checks"] for f in entry["findings"]]


def test_every_accepted_finding_has_its_reason() -> None:
    findings = _findings()
    assert findings
    for finding in findings:
        reasons = finding["reasons"]
        assert sorted(reasons) == sorted(finding["check_ids"]), finding["resource"]
        for check, reason in reasons.items():
            assert check.startswith("CKV_AWS_"), check
            assert len(reason.split()) >= 12, (finding["resource"], check)
    resources = [f["resource"] for f in findings]
    assert len(resources) == len(set(resources))


def test_every_accepted_finding_names_a_resource_of_the_stack(package_default: Package) -> None:
    for finding in _findings():
        kind, logical_id = finding["resource"].rsplit(".", 1)
        assert logical_id in package_default.resources, finding["resource"]
        assert package_default.resources[logical_id]["Type"] == kind, finding["resource"]
