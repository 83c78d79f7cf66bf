"""Shared test settings: no real AWS or Slack is ever reachable from a test."""

from __future__ import annotations

import os

# Set before boto3 is imported anywhere: dummy credentials, one region, no real endpoints.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "sfn-approvals",
        "POWERTOOLS_METRICS_NAMESPACE": "SfnApprovals",
    }
)
for leaked in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(leaked, None)
