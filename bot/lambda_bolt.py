"""Bolt on AWS Lambda, without the work a Lambda-hosted single-workspace app does not need.

``SlackRequestHandler`` starts a lazy listener by re-invoking the function with the API
Gateway event. Before that, Bolt's listener runner re-parses the request and deep-copies it
twice — most of a warm ack's time. :class:`LambdaListenerRunner` builds the lazy request from
just what the re-invocation reads. Relies on Bolt internals (``App._listener_runner``,
``ThreadListenerRunner._build_lazy_request``) of the pinned slack-bolt 1.30.0: recheck on
upgrade (benchmarks/ack.py measures the difference; tests/functional covers the behaviour).
"""

from __future__ import annotations

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_bolt.listener.thread_runner import ThreadListenerRunner


class LambdaListenerRunner(ThreadListenerRunner):
    """Bolt's listener runner, minus two deep copies of every click on the ack path.

    Before it starts a lazy listener, Bolt re-parses the request and deep-copies it twice
    (``BoltRequest.to_copyable()`` + ``copy.deepcopy``): the whole payload, including the
    clicked message's blocks, and the API Gateway event. That is most of a warm ack's time.
    On Lambda the lazy request is only handed to ``LambdaLazyListenerRunner.start``, which reads
    three things: the API Gateway event (which it marks ``lazy-only`` and re-invokes the
    function with), the function's ARN and the lazy function's name. This builds a request with
    just those: the event copied as far as ``start`` changes it (the event and its headers).
    The JSON the function is re-invoked with is the same. Any other lazy runner gets Bolt's copy.
    """

    def _build_lazy_request(self, request: BoltRequest, lazy_func_name: str) -> BoltRequest:
        event = request.context.get("lambda_request")
        if not isinstance(self.lazy_listener_runner, LambdaLazyListenerRunner) or not (
            isinstance(event, dict) and isinstance(event.get("headers"), dict)
        ):
            return super()._build_lazy_request(request, lazy_func_name)
        context = {
            "lambda_request": {**event, "headers": dict(event["headers"])},
            "aws_lambda_function_name": request.context.get("aws_lambda_function_name"),
            "aws_lambda_invoked_function_arn": request.context.get(
                "aws_lambda_invoked_function_arn"
            ),
        }
        lazy = BoltRequest(body="", headers={}, context=context, mode=request.mode)
        lazy.lazy_only = True
        lazy.lazy_function_name = lazy_func_name
        lazy.context["listener_runner"] = self
        return lazy


def lean_lazy_requests(app: App) -> None:
    """Run the app's listeners with :class:`LambdaListenerRunner` (same handlers, executor and
    lazy runner as Bolt built)."""
    runner = app._listener_runner
    app._listener_runner = LambdaListenerRunner(
        logger=runner.logger,
        process_before_response=runner.process_before_response,
        listener_error_handler=runner.listener_error_handler,
        listener_start_handler=runner.listener_start_handler,
        listener_completion_handler=runner.listener_completion_handler,
        listener_executor=runner.listener_executor,
        lazy_listener_runner=runner.lazy_listener_runner,
    )


def lambda_request_handler(app: App) -> SlackRequestHandler:
    """Bolt's Lambda adapter for ``app``, with the lean lazy-listener start."""
    handler = SlackRequestHandler(app)  # installs LambdaLazyListenerRunner
    runner = app._listener_runner
    app._listener_runner = LambdaListenerRunner(
        logger=runner.logger,
        process_before_response=runner.process_before_response,
        listener_error_handler=runner.listener_error_handler,
        listener_start_handler=runner.listener_start_handler,
        listener_completion_handler=runner.listener_completion_handler,
        listener_executor=runner.listener_executor,
        lazy_listener_runner=runner.lazy_listener_runner,
    )
    return handler
