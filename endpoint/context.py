"""What a view needs from the running app: the knowledge graph, its store, the config, the
query runner and the public URL. Blueprints import these instead of reaching into
``app.extensions`` (``create_app`` puts them there; there is no module-level state).

>>> from provml.endpoint.app import create_app
>>> app = create_app({"BASE_URL": "https://kg.example.org/"})
>>> with app.test_request_context("/"):
...     public_url("/sparql")
'https://kg.example.org/sparql'
>>> app.extensions["provml.close"]()
"""

from __future__ import annotations

import re
from typing import Any, cast

import pyoxigraph
from flask import current_app, request

from provml.endpoint.config import CONFIG_KEY, Config
from provml.endpoint.sparql.evaluation import QueryRunner
from provml.knowledge import KnowledgeGraph
from provml.store import Store

__all__ = ["KG_KEY", "MAX_PORT", "RUNNER_KEY", "LimitedStore", "config", "current_kg", "environ_url",
           "host_problem", "public_url", "reader", "runner", "store"]

KG_KEY = "provml.kg"
RUNNER_KEY = "provml.runner"


def current_kg() -> KnowledgeGraph:
    """The app's one ``KnowledgeGraph``."""
    return cast(KnowledgeGraph, current_app.extensions[KG_KEY])


def store() -> Store:
    """The store of the app's knowledge graph."""
    return current_kg().store


def config() -> Config:
    """The app's parsed :class:`~provml.endpoint.config.Config`."""
    return cast(Config, current_app.extensions[CONFIG_KEY])


def runner() -> QueryRunner:
    """The app's :class:`~provml.endpoint.sparql.evaluation.QueryRunner` (time and row limits)."""
    return cast(QueryRunner, current_app.extensions[RUNNER_KEY])


def public_url(path: str) -> str:
    """``path`` on this endpoint's public URL (``BASE_URL``, else the request's host URL)."""
    return environ_url(request.environ, config().base_url, path)


#: an RFC 3986 host (reg-name or IP literal) with an optional port: what a ``Host`` header
#: must be before it becomes part of a base IRI (any client can send any header)
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::([0-9]*))?")
#: the highest TCP port: RFC 3986 lets a port be any digits, but no server listens past it
MAX_PORT = 65535


def host_problem(host: str) -> str | None:
    """What is wrong with ``host`` as a ``Host`` header (the start of a message, naming the
    header), or None when it is a host name, IP address or ``host:port`` with a port up to
    :data:`MAX_PORT` (leading zeros allowed, as RFC 3986 does).

    >>> host_problem("kg.example.org:8080") is None, host_problem("x:0099999")
    (True, "the Host header 'x:0099999' has a port beyond 65535")
    """
    match = _HOST.fullmatch(host)
    if match is None:
        return f"the Host header {host!r} is not a host name, IP address or host:port"
    port = (match.group(2) or "").lstrip("0")
    if len(port) > len(str(MAX_PORT)) or int(port or 0) > MAX_PORT:  # (never int() of 5,000 digits)
        return f"the Host header {host!r} has a port beyond {MAX_PORT}"
    return None


def environ_url(environ: Any, base: str | None, path: str) -> str:
    """``path`` on ``base``, or on the host URL of the WSGI ``environ`` when ``base`` is None
    (from the environ directly: ``request.host_url`` costs ~50 µs a call).

    :raises ApiError: 400 when the request's ``Host`` header is no IRI host, or names a port
        beyond :data:`MAX_PORT` (:func:`host_problem`: it would make the base IRI of a query
        invalid, or name a server that cannot be).
    """
    if base is None:
        host = environ.get("HTTP_HOST") or (
            f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}")
        problem = host_problem(host)
        if problem is not None:
            from provml.endpoint.errors import ApiError

            raise ApiError(400, f"{problem}; send the server's name (or set BASE_URL)")
        base = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}"
    return base + path


class LimitedStore:
    """A store whose ``query`` runs under the endpoint's time and row limits (in the worker
    processes when queries are isolated); every other method is the store's own. For pages
    that build their content from queries (home, compare, resources, VoID).

    Solutions and booleans come back as pyoxigraph's own types (read back from SPARQL JSON),
    graphs as a list of triples. Past the time limit ``query`` raises ``QueryTimeout`` (503).
    """

    _ACCEPT = "application/sparql-results+json, application/n-triples"

    def __init__(self, store: Store, runner: QueryRunner) -> None:
        self._store = store
        self._runner = runner

    def query(self, sparql: str, *, use_default_graph_as_union: bool = True,
              default_graph: Any = None, named_graphs: Any = None,
              base_iri: str | None = None) -> Any:
        """Evaluate ``sparql`` under the limits (see the class docstring)."""
        rendered = self._runner.render(
            self._store, sparql, accept=self._ACCEPT, default_graph=default_graph,
            named_graphs=named_graphs, union=use_default_graph_as_union and default_graph is None,
            base_iri=base_iri)
        if rendered.kind == "triples":
            return [pyoxigraph.Triple(q.subject, q.predicate, q.object)
                    for q in pyoxigraph.parse(rendered.body, format=pyoxigraph.RdfFormat.N_TRIPLES)]
        return pyoxigraph.parse_query_results(rendered.body,
                                              format=pyoxigraph.QueryResultsFormat.JSON)

    def __len__(self) -> int:
        return len(self._store)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def reader() -> Any:
    """The store for pages: its queries run under the time and row limits
    (:class:`LimitedStore`)."""
    return LimitedStore(store(), runner())
