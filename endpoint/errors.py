"""One error shape for every route: ``{"ok": false, "error": "...", "status": N}``.

API clients (no ``Accept``, ``*/*``, or anything but HTML/plain text first) get that JSON; a
browser that prefers ``text/html`` gets a small escaped HTML page with the same message, and a
client that prefers ``text/plain`` gets one line of text. No stack trace ever leaves the process:
unexpected exceptions are logged server-side and answered with a generic 500.

Blueprints raise errors with :func:`abort_json` (or any ``werkzeug`` ``HTTPException``, e.g.
``flask.abort(404)``); :func:`register_error_handlers` turns them all into this shape.

>>> error_body(404, "no graph <http://e.org/g>")
{'ok': False, 'error': 'no graph <http://e.org/g>', 'status': 404}
"""

from __future__ import annotations

import html
import json
import logging
import re
from typing import Any, NoReturn

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from provml.endpoint.negotiation import ERROR_OFFERS, best_match
from provml.errors import RemoteError

__all__ = [
    "ApiError",
    "OneLine",
    "abort_json",
    "error_body",
    "error_response",
    "register_error_handlers",
]

log = logging.getLogger("provml.endpoint")

#: characters that end or rewrite a log line (C0 but tab, DEL, C1 with NEL, U+2028/2029)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class OneLine(logging.Filter):
    """Every record of the endpoint's logger stays one line: control characters in its message
    (a request path is the client's: ``/x%0A… DELETE /store 204`` would forge an access line,
    ``%1B[`` send terminal escapes to whoever reads the log) are written as ``\\xNN``.

    >>> record = logging.LogRecord("provml.endpoint", 20, "", 0, "%s %s", ("GET", "/a\\nb"), None)
    >>> OneLine().filter(record), record.getMessage()
    (True, 'GET /a\\\\x0ab')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit: the handler reports it, as logging does
            return True
        if _CONTROL.search(message) is not None:
            record.msg, record.args = _CONTROL.sub(_escaped, message), None
        return True


log.addFilter(OneLine())


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error: ``ok``, ``error``, ``status``, then ``extra`` fields."""
    body: dict[str, Any] = {"ok": False, "error": message, "status": status}
    body.update(extra)
    return body


class ApiError(HTTPException):
    """An HTTP error with a message and extra JSON fields, raised by :func:`abort_json`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.message = message
        self.extra = extra
        self.extra_headers = headers or {}


def abort_json(
    status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> NoReturn:
    """Stop the request with ``status`` and the one error shape.

    :param status: the HTTP status (4xx/5xx).
    :param message: a sentence saying what went wrong and what to do next.
    :param headers: extra response headers (``WWW-Authenticate``, ``Allow`` ...).
    :param extra: more JSON fields (e.g. ``report=...`` for a SHACL report).
    :raises ApiError: always.
    """
    raise ApiError(status, message, headers=headers, **extra)


def error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """Render the error shape for the current request, negotiated on ``Accept``."""
    accept = request.headers.get("Accept", "") if request else ""
    kind = best_match(accept, ERROR_OFFERS) if accept else None
    if kind == "text/html" and "html" in accept:
        text = html.escape(message)
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{status} error</title>"
            f"</head><body><h1>{status}</h1><p>{text}</p></body></html>"
        )
        response = Response(_utf8(page), status=status, content_type="text/html; charset=utf-8")
    elif kind == "text/plain" and "text/plain" in accept:
        response = Response(_utf8(f"{status}: {message}\n"), status=status,
                            content_type="text/plain; charset=utf-8")
    else:
        body = json.dumps(error_body(status, message, **extra), ensure_ascii=False)
        response = Response(_utf8(body), status=status, content_type="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8, a lone surrogate (a client's JSON ``"\\ud800"`` quoted in a message)
    as its JSON escape: encoding it failed, and the error answer became a 500.

    >>> _utf8("no parameter " + chr(0xD800))
    b'no parameter \\\\ud800'
    """
    return text.encode("utf-8", "backslashreplace")


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, ApiError):
        return error_response(status, error.message, headers=error.extra_headers, **error.extra)
    headers: dict[str, str] = {}
    if status == 405 and error.get_headers():
        for key, value in error.get_headers():
            if key.lower() == "allow":
                headers["Allow"] = value
    message = error.description or error.name
    if status == 413:
        message = "the request body is larger than this endpoint accepts (MAX_BODY_MB)"
    return error_response(status, message, headers=headers)


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http_error(error)
    log.error("unexpected error on %s %s: %s", request.method, request.path,
              type(error).__name__, exc_info=error)
    return error_response(500, "internal error; the server log has the details")


def _remote(error: RemoteError) -> Response:
    """With ``--remote``: the remote store's 4xx (e.g. a syntax error) is the client's error;
    no answer or a 5xx is a bad gateway."""
    if 400 <= error.status < 500:
        return error_response(error.status, f"the store refused the request: {error.body}")
    log.error("remote store error: %s", error)
    return error_response(502, f"the remote store did not answer properly (status {error.status})")


def register_error_handlers(app: Flask) -> None:
    """Route every ``HTTPException`` and every other exception through the one shape."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RemoteError, _remote)
    app.register_error_handler(Exception, _unexpected)
