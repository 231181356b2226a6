"""Who may read and write: bearer tokens, CORS, the request-body limit.

- Every write (SPARQL Update, Graph Store writes, ``/api/events``) needs the token, as
  ``Authorization: Bearer <TOKEN>`` or as the password of HTTP Basic credentials
  (``Authorization: Basic base64(<any user>:<TOKEN>)``, for tools that send only Basic, such as
  Jena's ``rupdate`` or the Comunica CLI): no header → 401 (with ``WWW-Authenticate`` offering
  both schemes), a wrong token → 403; with no ``TOKEN`` configured, or with ``READ_ONLY``, writes are refused with 403. The
  check runs before the body is read, so a refused request changes nothing.
- Reads are open unless ``READ_TOKEN`` is set; then they need it (or the write token).
- Tokens are compared in constant time and never logged.
- CORS is off unless ``CORS_ORIGINS`` lists origins (or ``*``).
- Bodies larger than ``MAX_BODY_MB`` are refused with 413 (Flask's ``MAX_CONTENT_LENGTH``, plus
  an early check on ``Content-Length``).

Blueprints use the decorators:

>>> from flask import Blueprint
>>> bp = Blueprint("example", __name__)
>>> @bp.post("/things")
... @require_write
... def add_thing() -> str:
...     return "ok"
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request

from provml.endpoint.config import CONFIG_KEY, Config
from provml.endpoint.errors import abort_json

__all__ = ["check_read", "check_write", "install", "require_read", "require_write"]

F = TypeVar("F", bound=Callable[..., Any])

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="provml", Basic realm="provml", charset="UTF-8"'}


def _config() -> Config:
    return cast(Config, current_app.extensions[CONFIG_KEY])


def _presented() -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value.strip():
        return _basic_password(value.strip())
    if scheme.lower() != "bearer" or not value.strip():
        return ""
    return value.strip()


def _basic_password(encoded: str) -> str:
    """The password of HTTP Basic credentials (RFC 7617; the user name is not checked), or ``""``
    when they do not decode.

    >>> _basic_password("cHJvdm1sOnMzY3JldA==")
    's3cret'
    >>> _basic_password("not base64!")
    ''
    """
    import base64
    import binascii

    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    _user, sep, password = decoded.partition(":")
    return password if sep else ""


def _equal(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def check_write() -> None:
    """Abort with 401/403 unless the request carries the write token and writes are allowed."""
    config = _config()
    if config.read_only:
        abort_json(403, "this endpoint is read-only (started with --read-only)")
    if config.token is None:
        abort_json(403, "writes are disabled: start the server with --token or --token-file")
    given = _presented()
    if given is None:
        abort_json(401, "this write needs the token: 'Authorization: Bearer <token>', or HTTP "
                        "Basic credentials with the token as password", headers=_CHALLENGE)
    if not _equal(given, config.token):
        abort_json(403, "the token (bearer, or Basic password) is not valid for writes")
    g.provml_write = True  # the app tells its query workers the store may have changed


def check_read() -> None:
    """Abort with 401/403 when a read token is configured and the request lacks it."""
    config = _config()
    if config.read_token is None:
        return
    given = _presented()
    if given is None:
        abort_json(401, "reads need the read token: 'Authorization: Bearer <token>', or HTTP "
                        "Basic credentials with it as password", headers=_CHALLENGE)
    if not (_equal(given, config.read_token) or _equal(given, config.token)):
        abort_json(403, "the token (bearer, or Basic password) is not valid for reads")


def require_write(view: F) -> F:
    """Decorate a view that writes: the write token is checked before the view runs."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_write()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def require_read(view: F) -> F:
    """Decorate a view that reads: the read token (if configured) is checked first."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_read()
        return view(*args, **kwargs)

    return cast(F, wrapper)


#: the media types Werkzeug decodes as a form, whole, when ``request.form`` is read
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
#: the views that decode a compressed body themselves (``POST /api/events``: gzip); any other
#: body with a ``Content-Encoding`` would be read as it came, compressed (RFC 9110: 415)
_DECODING = frozenset({"events_api.post_events"})


def _limit_body() -> None:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        abort_json(413, f"the request body ({length} bytes) is larger than the limit "
                        f"({limit} bytes, MAX_BODY_MB)")
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity" and request.endpoint not in _DECODING and (length or 0) > 0:
        abort_json(415, f"Content-Encoding {encoding!r} is not supported here: send the body "
                        "uncompressed (only POST /api/events takes gzip)")
    config = _config()
    form_limit = config.max_form_mb * 1024 * 1024
    if length is not None and length > form_limit and request.mimetype in _FORMS \
            and not (config.token is not None and _equal(_presented() or "", config.token)):
        # a form is decoded in memory (a slice at a time, provml.endpoint.forms; Werkzeug's
        # own decoding took 60 MB of %01 to 5 GB): without the write token, a large operation
        # goes as it is (the write token's holders, who may rewrite the store, keep
        # MAX_BODY_MB: SPARQLWrapper sends updates as forms)
        abort_json(413, f"the form body ({length} bytes) is larger than the limit for forms "
                        f"({int(form_limit)} bytes, MAX_FORM_MB) without the write token: send a "
                        "query to /sparql as application/sparql-query (up to MAX_BODY_MB)")


def _cors(response: Response) -> Response:
    origins = _config().cors_origins
    origin = request.headers.get("Origin")
    if not origins or not origin:
        return response
    if "*" in origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary.add("Origin")
    else:
        return response
    response.headers["Access-Control-Expose-Headers"] = "Location, Link, X-Provml-Truncated"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def install(app: Flask, config: Config) -> None:
    """Set the body limit and the CORS hook on ``app``."""
    app.config["MAX_CONTENT_LENGTH"] = int(config.max_body_mb * 1024 * 1024)
    app.before_request(_limit_body)
    app.after_request(_cors)
