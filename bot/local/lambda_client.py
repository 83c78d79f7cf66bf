"""A stand-in for boto3's Lambda client where Bolt's lazy listeners re-invoke the function.

On Lambda, ``SlackRequestHandler`` starts a lazy listener with ``lambda:Invoke``
(``InvocationType="Event"``) of the same function. Locally, :class:`LocalLambdaClient` runs the
same re-invocation — the same JSON event, through the real handler — on a background thread,
like an asynchronous invoke. ``wait()`` lets tests join the work deterministically.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from bot.local.events import LocalContext

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


class LocalLambdaClient:
    def __init__(self, handler: Handler, *, function_name: str = "interactions") -> None:
        self._handler = handler
        self._function_name = function_name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.invocations = 0
        self.errors: list[BaseException] = []

    def invoke(
        self,
        FunctionName: str,
        InvocationType: str = "Event",
        Payload: str = "{}",  # boto3 keyword names
    ) -> dict[str, Any]:
        event = json.loads(Payload)
        if InvocationType != "Event":
            return {"StatusCode": 200, "Payload": self._run(event)}
        thread = threading.Thread(target=self._run, args=(event,), daemon=True)
        with self._lock:
            self._threads.append(thread)
            self.invocations += 1
        thread.start()
        return {"StatusCode": 202}

    def _run(self, event: dict[str, Any]) -> Any:
        try:
            return self._handler(event, LocalContext(function_name=self._function_name))
        except BaseException as exc:  # the async invoke's failure: recorded, not raised
            log.exception("lazy invocation failed")
            with self._lock:
                self.errors.append(exc)
            return None

    def wait(self, timeout: float = 10.0) -> None:
        """Join every invocation started so far (bounded)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError("a lazy invocation did not finish in time")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]


def attach(slack_handler: Any, client: LocalLambdaClient) -> None:
    """Point a ``SlackRequestHandler``'s lazy listener runner at ``client``."""
    slack_handler.app.listener_runner.lazy_listener_runner.lambda_client = client
