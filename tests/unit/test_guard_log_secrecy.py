"""Guards found by mutation testing (benchmarks/mutants.py): a token the process has handled
is scrubbed in its raw form, not only in its URL-encoded form. Real task tokens are base64
(``+``, ``/``, ``=``), so the two forms differ."""

from __future__ import annotations

import logging
from urllib.parse import quote

from bot import log_secrecy
from bot.models import TaskToken
from tests.unit.test_log_secrecy import Capture, root_debug  # noqa: F401  (fixture)

SECRET = "AAAAKgAAAAIAAAAAAAAAAc9+guard/raw=form0123456789=="


def test_a_handled_base64_token_is_scrubbed_raw_without_a_key(
    root_debug: Capture,  # noqa: F811
) -> None:
    assert quote(SECRET, safe="") != SECRET  # the raw form is not caught by the encoded one
    TaskToken(SECRET)
    log = logging.getLogger("wire.test")
    log.setLevel(logging.DEBUG)
    log.debug("the service answered about %s", SECRET)  # no key names it
    text = "\n".join(root_debug.texts)
    assert SECRET not in text
    assert f"the service answered about {log_secrecy.REDACTED}" in text
