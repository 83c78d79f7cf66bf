"""bot.log_secrecy: the floor on the wire loggers, and the redaction of every log record."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot import log_secrecy
from bot.models import TaskToken

TOKEN = "AAAAKgAAAAIAAAAAAAAAAb+w/x9zQ1=="


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"{self.format(record)}\n{record.getMessage()}\n{record.args!r}")


@pytest.fixture
def root_debug() -> Iterator[Capture]:
    """The root logger at DEBUG with a plain handler (Lambda's DEBUG application log level)."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "botocore", "wire.test")}
    levels.update({name: logging.getLogger(name).level for name in log_secrecy.WIRE_LOGGERS})
    capture = Capture()
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    log_secrecy.install()
    yield capture
    root.removeHandler(capture)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_the_wire_loggers_stay_at_info_under_a_debug_root_and_botocore(
    root_debug: Capture,
) -> None:
    logging.getLogger("botocore").setLevel(logging.DEBUG)  # boto3.set_stream_logger does this
    for name in ("botocore.endpoint", "botocore.parsers"):  # requests, responses
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG)
    assert logging.getLogger("botocore.retries").isEnabledFor(logging.DEBUG)  # only those


@pytest.mark.parametrize(
    "line",
    [
        # botocore.endpoint: the request dict of SendTaskSuccess (JSON body in a bytes repr)
        "Making request for OperationModel(name=SendTaskSuccess) with params: "
        f'{{\'body\': b\'{{"taskToken": "{TOKEN}", "output": "{{}}"}}\'}}',
        # botocore.parsers: a failed condition's ALL_OLD item, DynamoDB-typed
        f'Response body:\nb\'{{"Item": {{"task_token": {{"S": "{TOKEN}"}}, "n": {{"N": "1"}}}}}}\'',
        # an SQS body inside a JSON string, and once more escaped in a bytes repr
        f'{{"Messages": [{{"Body": "{{\\"Payload\\": {{}}, \\"TaskToken\\": \\"{TOKEN}\\"}}"}}]}}',
        f'b\'{{"Body": "{{\\\\"TaskToken\\\\": \\\\"{TOKEN}\\\\"}}"}}\'',
        # Python reprs and form-encoded bodies
        f"{{'taskToken': '{TOKEN}'}}",
        "Action=SendTaskFailure&taskToken=AAAAKgAAAAIA%2Bw%2Fx9z&error=Rejected",
    ],
)
def test_token_values_are_redacted_by_key_in_every_wire_spelling(line: str) -> None:
    clean = log_secrecy.redact(line)
    assert TOKEN not in clean
    assert "AAAAKgAAAAIA%2Bw" not in clean
    assert log_secrecy.REDACTED in clean


def test_what_is_not_a_token_is_left_alone() -> None:
    text = '"Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "TaskToken.$": "$$.x"'
    assert log_secrecy.redact(text) == text


def test_a_record_is_scrubbed_in_message_arguments_and_exception(
    root_debug: Capture,
) -> None:
    secret = "bare-token-seen-by-this-process-0123456789"
    odd = "token/with+odd=chars-0123456789"
    TaskToken(secret)  # the process handled them: scrubbed wherever they appear, key or not
    TaskToken(odd)
    log = logging.getLogger("wire.test")
    log.setLevel(logging.DEBUG)
    log.debug("sent %s and %r", secret, {"token": secret})
    try:
        raise RuntimeError(f"the service said: {secret} is not valid")
    except RuntimeError:
        log.exception("call failed", stack_info=True)
    log.info({"plain": "dict messages stay structured when clean"})
    log.debug("GET /?id=%s", "token%2Fwith%2Bodd%3Dchars-0123456789")  # URL-encoded
    text = "\n".join(root_debug.texts)
    assert secret not in text
    assert "token%2Fwith" not in text
    assert "is not valid" in text  # the exception is still reported, scrubbed
    assert text.count(log_secrecy.REDACTED) >= 3
    assert "dict messages stay structured" in text
