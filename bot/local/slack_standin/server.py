"""The stand-in's HTTP surface: Web API calls under ``/api/<method>`` and POSTs to response
URLs under ``/response/<key>``, read as Slack reads them (query string, form or JSON body; the
token from ``Authorization: Bearer`` or a ``token`` argument) and handed to a `Backend`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, urlsplit

from bot.local.slack_standin.args import JsonDict, SlackError

logger = logging.getLogger("bot.local.slack_standin")

RESPONSE_PATH: Final = "/response/"

Answer = tuple[int, dict[str, str], JsonDict]


class Backend(Protocol):
    def serve_api(
        self, method: str, params: JsonDict, token: str | None, parse_error: str | None
    ) -> Answer: ...

    def serve_response_url(self, key: str, raw: bytes) -> tuple[int, dict[str, str], str]: ...


def parse_body(raw: bytes, content_type: str) -> JsonDict:
    """Arguments from a JSON or form-encoded request body; raises SlackError when unreadable."""
    if not raw.strip():
        return {}
    media_type = content_type.partition(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SlackError("invalid_charset") from None
    if media_type == "application/json":
        try:
            body = json.loads(text)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        return body
    if media_type in ("application/x-www-form-urlencoded", "text/plain"):
        return dict(parse_qsl(text, keep_blank_values=True))
    raise SlackError("invalid_post_type" if media_type else "missing_post_type")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a delayed answer must not hold up stop()
    request_queue_size = 128  # the default backlog of 5 stalls bursts of clients for ~1 s

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        super().__init__(address, RequestHandler)
        self.backend = backend


class RequestHandler(BaseHTTPRequestHandler):
    server: Server
    server_version = "SlackStandIn/1.0"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def _serve(self) -> None:
        try:
            split = urlsplit(self.path)
            if split.path.startswith(RESPONSE_PATH) and self.command == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length > 0 else b""
                key = split.path[len(RESPONSE_PATH) :]
                self._write_text(*self.server.backend.serve_response_url(key, raw))
                return
            if not split.path.startswith("/api/") or len(split.path) <= len("/api/"):
                self._write(404, {}, {"ok": False, "error": "not_found"})
                return
            method = split.path[len("/api/") :]
            params, parse_error = self._params(split.query)
            status, headers, body = self.server.backend.serve_api(
                method, params, self._bearer_token(), parse_error
            )
            self._write(status, headers, body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            logger.debug("client went away before the answer to %s", self.path)
        except Exception:  # never let a request kill the server thread
            logger.exception("Slack stand-in failed to serve %s", self.path)
            with contextlib.suppress(OSError):
                self._write(500, {}, {"ok": False, "error": "internal_error"})

    def _bearer_token(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None

    def _params(self, query: str) -> tuple[JsonDict, str | None]:
        """Query string and body arguments merged, and the Slack error if the body is unreadable."""
        params: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        content_type = self.headers.get("Content-Type") or ""
        try:
            params.update(parse_body(raw, content_type))
        except SlackError as error:
            return params, error.error
        return params, None

    def _write_text(self, status: int, headers: Mapping[str, str], text: str) -> None:
        self._send(status, headers, "text/plain; charset=utf-8", text.encode("utf-8"))

    def _write(self, status: int, headers: Mapping[str, str], body: JsonDict) -> None:
        payload = json.dumps(body).encode("utf-8")
        self._send(status, headers, "application/json; charset=utf-8", payload)

    def _send(
        self, status: int, headers: Mapping[str, str], content_type: str, payload: bytes
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
