"""The wire of :class:`provml.store.remote.RemoteStore`: one HTTP request with its credentials
(the standard library's client, no extra dependency), answers parsed into pyoxigraph's result
objects, ``INSERT DATA`` texts cut to a size, and the URL layouts of known SPARQL servers.

>>> parse_spec("virtuoso+http://h:8890")[1]["gsp_url"]
'http://h:8890/sparql-graph-crud'
>>> parse_spec("query=http://h/q;update=http://h/u;store=http://h/s")[1]["update_url"]
'http://h/u'
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyoxigraph
from pyoxigraph import DefaultGraph, Quad, QueryResultsFormat, QueryTriples, Triple

from provml.capture.redact import safe_url
from provml.errors import RemoteError
from provml.store.base import QueryResult

__all__ = ["ACCEPT", "LAYOUTS", "insert_requests", "parse_answer", "parse_spec", "send"]

#: what a query asks for: results in JSON (or XML, TSV), graphs in N-Triples (or Turtle)
ACCEPT = (
    "application/sparql-results+json, application/n-triples;q=0.9, "
    "application/sparql-results+xml;q=0.8, text/turtle;q=0.7"
)
_RESULT_FORMATS = {
    "application/sparql-results+json": QueryResultsFormat.JSON,
    "application/json": QueryResultsFormat.JSON,
    "application/sparql-results+xml": QueryResultsFormat.XML,
    "application/xml": QueryResultsFormat.XML,
    "text/tab-separated-values": QueryResultsFormat.TSV,
}
#: URL layouts of SPARQL servers: how ``RemoteStore.from_spec`` reaches each (tested against
#: oxigraph serve, provml serve and Virtuoso Open Source 7; fuseki and graphdb follow their docs)
LAYOUTS: dict[str, dict[str, Any]] = {
    "oxigraph": {"query_url": "{url}/query", "update_url": "{url}/update",
                 "gsp_url": "{url}/store", "union_default_graph": "param"},
    "provml": {"query_url": "{url}/sparql", "update_url": "{url}/sparql",
               "gsp_url": "{url}/store", "union_default_graph": "server"},
    "virtuoso": {"query_url": "{url}/sparql", "update_url": "{url}/sparql",
                 "gsp_url": "{url}/sparql-graph-crud", "union_default_graph": "server",
                 "form_posts": True, "gsp_graph_param": "graph-uri", "default_graph": False,
                 "insert_where": True},
    "fuseki": {"query_url": "{url}/query", "update_url": "{url}/update",
               "gsp_url": "{url}/data", "union_default_graph": "emulate"},
    "graphdb": {"query_url": "{url}", "update_url": "{url}/statements",
                "gsp_url": "{url}/rdf-graphs/service", "union_default_graph": "emulate"},
}


def safe_spec(spec: str) -> str:
    """A remote spec as provml prints it: each URL in it without credentials (:func:`safe_url`).

    >>> safe_spec("query=http://u:pw@h/q;update=http://h/u?token=t")
    'query=http://***@h/q;update=http://h/u?token=***'
    """
    return _URLS.sub(lambda m: safe_url(m[0]), spec)


_URLS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^;\s]*")


def check_credentials(url: str, auth_token: str | None, auth_user: str | None) -> None:
    """Refuse credentials provml would not send, or could send only mangled, without repeating
    them: a URL's ``user:password@`` (urllib never sends it) and a token or user holding a space
    or a control character (a line break from a file read whole).

    :raises ValueError: naming the URL without its credentials.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"the remote store URL {safe_url(url)} holds credentials (user:password@), which "
                         "provml never sends: give them in $PROVML_REMOTE_USER and $PROVML_REMOTE_TOKEN")
    for what, value in (("$PROVML_REMOTE_TOKEN", auth_token), ("$PROVML_REMOTE_USER", auth_user)):
        if value and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(f"the remote store's credentials ({what}) hold a control character, such as "
                             "a line break: give the value itself (it is not repeated here)")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """The base URL and the ``RemoteStore`` options of a command-line spec: ``URL`` (Oxigraph
    server's layout), ``LAYOUT+URL`` with a layout of :data:`LAYOUTS`, or explicit endpoints
    ``query=URL;update=URL;store=URL[;union=param|server|emulate]``.

    :raises ValueError: an unknown layout or a malformed spec (named without credentials).
    """
    shown = safe_spec(spec)
    if "=" in spec.split("://", 1)[0] or ";" in spec:
        parts = dict(part.split("=", 1) for part in spec.split(";") if "=" in part)
        unknown = set(parts) - {"query", "update", "store", "union"}
        if unknown or "query" not in parts:
            raise ValueError(
                f"remote spec {shown!r}: give query=URL;update=URL;store=URL[;union=MODE]"
            )
        query = parts["query"]
        union = parts.get("union", "emulate")
        if union not in ("param", "server", "emulate"):
            raise ValueError(f"remote spec {shown!r}: union must be param, server or emulate")
        return query, {"query_url": query, "update_url": parts.get("update", query),
                       "gsp_url": parts.get("store"), "union_default_graph": union}
    layout, plus, url = spec.partition("+")
    if not plus or "://" in layout:
        layout, url = "oxigraph", spec
    if layout not in LAYOUTS:
        raise ValueError(f"unknown remote layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    base = url.rstrip("/")
    options = {key: value.format(url=base) if key.endswith("_url") else value
               for key, value in LAYOUTS[layout].items()}
    return base, options


def send(
    method: str,
    url: str,
    *,
    params: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    content_type: str | None = None,
    accept: str | None = None,
    timeout_s: float,
    auth_token: str | None = None,
    auth_user: str | None = None,
) -> tuple[str, bytes]:
    """Send one request; return (media type, body). Non-2xx answers raise RemoteError
    (status 0: no answer). ``auth_token`` goes as a bearer token, or with ``auth_user`` as the
    password of HTTP Basic credentials."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    if accept:
        request.add_header("Accept", accept)
    if auth_token and auth_user is not None:
        import base64

        pair = f"{auth_user}:{auth_token}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))
    elif auth_token:
        request.add_header("Authorization", f"Bearer {auth_token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            media = response.headers.get_content_type()
            return str(media), bytes(response.read())
    except urllib.error.HTTPError as error:
        try:
            text = error.read().decode("utf-8", "replace").strip()
        finally:
            error.close()
        raise RemoteError(url=safe_url(url), status=error.code, body=text[:2000]) from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RemoteError(url=safe_url(url), status=0, body=f"no answer: {reason}") from error



def parse_answer(url: str, media: str, body: bytes) -> QueryResult:
    """A query's answer as the embedded store would return it: solutions or a boolean for
    results formats, ``QueryTriples`` for RDF.

    :raises RemoteError: a media type that is neither.
    """
    results_format = _RESULT_FORMATS.get(media)
    if results_format is not None:
        return pyoxigraph.parse_query_results(body, results_format)
    rdf_format = pyoxigraph.RdfFormat.from_media_type(media)
    if rdf_format is None:
        raise RemoteError(url=url, status=200, body=f"unexpected media type {media}")
    return _as_query_triples(pyoxigraph.parse(body, rdf_format))


def _as_query_triples(triples: Iterable[Quad | Triple]) -> QueryTriples:
    """Turn parsed triples into a real ``pyoxigraph.QueryTriples`` (via a scratch store)."""
    scratch = pyoxigraph.Store()
    scratch.extend(Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in triples)
    result = scratch.query("CONSTRUCT WHERE { ?s ?p ?o }")
    assert isinstance(result, QueryTriples)
    return result


def insert_requests(batch: Sequence[Quad], max_bytes: int, *, insert_where: bool = False) -> Iterator[str]:
    """``INSERT DATA`` texts for ``batch``, each at most about ``max_bytes`` long.

    >>> from pyoxigraph import NamedNode
    >>> q = Quad(NamedNode("http://e.org/s"), NamedNode("http://e.org/p"), NamedNode("http://e.org/o"))
    >>> list(insert_requests([q], 1000))
    ['INSERT DATA {\\n<http://e.org/s> <http://e.org/p> <http://e.org/o> .\\n}']
    >>> list(insert_requests([q], 1000, insert_where=True))
    ['INSERT {\\n<http://e.org/s> <http://e.org/p> <http://e.org/o> .\\n} WHERE {}']
    """
    chunk: dict[str, list[str]] = {}
    size = 0
    for quad in batch:
        line = f"{quad.subject} {quad.predicate} {quad.object} .\n"
        key = "" if isinstance(quad.graph_name, DefaultGraph) else str(quad.graph_name)
        if size and size + len(line) > max_bytes:
            yield _insert_text(chunk, insert_where)
            chunk, size = {}, 0
        chunk.setdefault(key, []).append(line)
        size += len(line.encode("utf-8"))
    if chunk:
        yield _insert_text(chunk, insert_where)


def _insert_text(chunk: dict[str, list[str]], insert_where: bool) -> str:
    # Virtuoso 7 refuses blank nodes in INSERT DATA: INSERT { ... } WHERE {} is the same write
    parts = ["INSERT {\n" if insert_where else "INSERT DATA {\n"]
    for graph, lines in chunk.items():
        if graph:
            parts.append(f"GRAPH {graph} {{\n")
            parts.extend(lines)
            parts.append("}\n")
        else:
            parts.extend(lines)
    parts.append("} WHERE {}" if insert_where else "}")
    return "".join(parts)
