"""A lean path for the commonest read: ``GET /sparql?query=…``, answered without Flask's
request machinery (routing, request and response objects, hooks: ~0.2 ms a request, as much as
evaluating a small query).

It answers only when nothing but the query is asked: a ``GET`` of ``/sparql`` whose query
string is exactly one ``query`` parameter (valid UTF-8), with no body, no read token configured
and no CORS ``Origin`` to answer. Everything else — and every refusal — goes to the Flask app
unchanged. The guards are the same calls the Flask view makes: the nesting, length and
``SERVICE`` scan (:func:`~provml.endpoint.limits.scan_sparql`), then the query runner (worker
process, time limit, memory cap, row limit, queue). When one of them refuses, the exception is
handed to the Flask app with the request, which raises it before any view runs, so the answer
is the one error shape its handlers write (nothing is evaluated twice). The access log line is
the same.

With a :class:`~provml.endpoint.sparql.cache.ResultCache` (``RESULT_CACHE_MB``, on by default)
the written answers are kept by (query string, ``Accept``, ``Host``, scheme, script name) for
the current store version: the same read again, before any write, is answered from memory
(``X-Provml-Cache: hit``) without parsing, scanning or evaluating it again — it passed every
guard the first time. Queries calling ``NOW``, ``RAND``, ``UUID``, ``STRUUID`` or ``BNODE``, and
those calling ``SERVICE`` (an allowed remote endpoint: its data changes without a write here), are
never kept: they are evaluated every time.

>>> from provml.endpoint.app import create_app
>>> app = create_app({})
>>> client = app.test_client()
>>> client.get("/sparql?query=ASK%7B%7D").get_json()
{'head': {}, 'boolean': True}
>>> client.get("/sparql?query=ASK%7B").get_json()["status"]
400
>>> app.extensions["provml.close"]()
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from provml.endpoint.config import Config
from provml.endpoint.errors import ApiError
from provml.endpoint.limits import InputRefused, scan_sparql, sparql_syntax_error
from provml.endpoint.negotiation import VARY
from provml.endpoint.sparql.cache import ResultCache, repeatable
from provml.endpoint.sparql.evaluation import QueryRunner
from provml.endpoint.sparql.outcomes import QueryCrashed, QueryFailed, QueryRejected, QueryTimeout
from provml.endpoint.sparql.results import Rendered
from provml.store.base import Store

__all__ = ["RAISE_KEY", "FastReads"]

log = logging.getLogger("provml.endpoint")

#: the environ key under which a refusal reaches the Flask app (raised before any view)
RAISE_KEY = "provml.fast_reads.raise"

_REFUSALS = (InputRefused, ApiError, QueryTimeout, QueryRejected, QueryCrashed, QueryFailed)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class FastReads:
    """WSGI middleware: plain ``GET /sparql?query=`` here, everything else to ``app``."""

    def __init__(self, app: WsgiApp, config: Config, runner: QueryRunner,
                 store: Callable[[], Store], cache: ResultCache | None = None) -> None:
        self.app = app
        self.config = config
        self.runner = runner
        self.store = store
        self.cache = cache

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self._plain(environ):
            return self.app(environ, start_response)
        accept = environ.get("HTTP_ACCEPT")
        cache, version = self.cache, self.runner.sync(self.store())
        key = self._key(environ)
        if cache is not None:
            cached = cache.get(key, version)
            if cached is not None:
                return self._answer(cached, start_response, hit=True)
        text = self._query_text(environ)
        if text is None:
            return self.app(environ, start_response)
        try:
            base = self._base(environ)
            scan = scan_sparql(text, what="query", allowed=self.config.allow_remote)
            rendered = self.runner.render(
                self.store(), text, accept=accept, union=not scan.has_dataset,
                base_iri=base + "/sparql")
        except Exception as error:  # the app's handlers answer (and log what they do not expect)
            if sparql_syntax_error(error):
                return self._refused(ApiError(400, f"query syntax error: {error}"), environ,
                                     start_response)
            if not isinstance(error, _REFUSALS):  # keep where it came from for the log
                error.add_note("raised at:\n" + "".join(traceback.format_tb(error.__traceback__)))
            return self._refused(error, environ, start_response)
        if rendered.status != 200:
            return self._refused(ApiError(406, rendered.refusal, headers=VARY), environ, start_response)
        if cache is not None and repeatable(text) and not scan.services:  # else it may change
            cache.put(key, version, rendered)
        return self._answer(rendered, start_response, hit=False)

    def cached(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The kept answer to this request (status, header pairs as bytes, body), logged as
        answered, when it is a plain read whose answer the cache holds for the current store
        version; else None. For the ASGI front (:mod:`provml.endpoint.front`), which calls it
        before the body is read and answers on its event loop."""
        if (self.cache is None or not self._plain(environ)
                or environ.get("HTTP_TRANSFER_ENCODING")):
            return None
        rendered = self.cache.get(self._key(environ), self.runner.sync(self.store()))
        if rendered is None:
            return None
        log.info("%s %s %s", "GET", "/sparql", 200)
        return 200, [(name.lower().encode("latin-1"), value.encode("latin-1"))
                     for name, value in self._headers(rendered, hit=True)], rendered.body

    @staticmethod
    def _key(environ: dict[str, Any]) -> tuple[Any, ...]:
        """The cache key: what decides the query text and the base IRI, before either is worked
        out (an entry is stored after the same values passed every check)."""
        return (environ.get("QUERY_STRING", ""), environ.get("HTTP_ACCEPT"),
                environ.get("HTTP_HOST"), environ.get("wsgi.url_scheme"),
                environ.get("SCRIPT_NAME"))

    @staticmethod
    def _headers(rendered: Rendered, *, hit: bool) -> list[tuple[str, str]]:
        headers = [("Content-Type", rendered.content_type),
                   ("Content-Length", str(len(rendered.body))), ("Vary", "Accept")]
        if rendered.truncated:
            headers.append(("X-Provml-Truncated", "true"))
        if hit:
            headers.append(("X-Provml-Cache", "hit"))
        return headers

    def _answer(self, rendered: Rendered, start_response: StartResponse, *,
                hit: bool) -> Iterable[bytes]:
        start_response("200 OK", self._headers(rendered, hit=hit))
        log.info("%s %s %s", "GET", "/sparql", 200)
        return [rendered.body]

    def _plain(self, environ: dict[str, Any]) -> bool:
        """Whether this request may be a plain read (see the module docstring): a ``GET`` of
        ``/sparql`` without a body, no read token configured, no CORS ``Origin`` to answer."""
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") != "/sparql":
            return False
        config = self.config
        if config.read_token is not None or (config.cors_origins and environ.get("HTTP_ORIGIN")):
            return False
        return environ.get("CONTENT_LENGTH") in (None, "", "0")

    @staticmethod
    def _query_text(environ: dict[str, Any]) -> str | None:
        """The query text when the query string is exactly one ``query`` parameter."""
        try:
            params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True,
                               strict_parsing=True, errors="strict")
        except (ValueError, UnicodeDecodeError):
            return None
        if len(params) != 1 or params[0][0] != "query":
            return None
        return str(params[0][1])

    def _base(self, environ: dict[str, Any]) -> str:
        from provml.endpoint.context import environ_url

        return environ_url(environ, self.config.base_url, "")

    def _refused(self, error: Exception, environ: dict[str, Any],
                 start_response: StartResponse) -> Iterable[bytes]:
        # without its traceback: its frames hold pyoxigraph iterators, which must be dropped
        # on this thread, not wherever a garbage collection of the environ happens
        error.__traceback__ = error.__context__ = error.__cause__ = None
        environ[RAISE_KEY] = error
        return self.app(environ, start_response)
