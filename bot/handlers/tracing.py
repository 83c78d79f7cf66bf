"""X-Ray tracing for the handlers: Powertools' ``Tracer`` when tracing is on, nothing when off.

``Tracer()`` imports the X-Ray SDK even when tracing is disabled (outside Lambda, under SAM or
Chalice local, or with ``POWERTOOLS_TRACE_DISABLED``), and that import builds the SDK's own
boto3 clients: about 90 ms of every cold start for a decorator that then records nothing, plus
a dummy subsegment on every warm call. Powertools' own rule decides whether tracing is on; when
it is (deployed: ``provider.tracing.lambda: true``), the handlers are traced exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Tracer

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracer_if_enabled(service: str) -> Tracer | None:
    """A ``Tracer`` for ``service`` when Powertools would trace, else None."""
    if Tracer._is_tracer_disabled():
        return None
    return Tracer(service=service)


def traced(tracer: Tracer | None) -> Callable[[Handler], Handler]:
    """``tracer.capture_lambda_handler``, or the handler unchanged when tracing is off."""

    def decorate(handler: Handler) -> Handler:
        if tracer is None:
            return handler
        return cast("Handler", tracer.capture_lambda_handler(handler))

    return decorate
