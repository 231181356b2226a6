"""A store behind a SPARQL 1.1 server: the remote backend of :class:`provml.store.base.Store`.

Why it is long: one class implements every method of the ``Store`` protocol over three HTTP
protocols, with the union-default-graph modes. The wire it sends over — the HTTP request,
parsing answers, ``INSERT DATA`` texts, server layouts — is :mod:`provml.store.sparql_http`.

It speaks the standards, with the standard library's HTTP client (no extra dependency):

- queries: SPARQL 1.1 Protocol, ``POST`` with ``Content-Type: application/sparql-query``,
  ``default-graph-uri`` / ``named-graph-uri`` parameters; answers (SPARQL results JSON or XML,
  N-Triples or Turtle) are parsed with pyoxigraph, so callers get the same ``QuerySolutions`` /
  ``QueryBoolean`` / ``QueryTriples`` as from the embedded store;
- writes: SPARQL 1.1 Update (``application/sparql-update``, ``using-graph-uri`` /
  ``using-named-graph-uri``); ``add`` and ``load`` send one ``INSERT DATA`` request, which is one
  transaction on Oxigraph server (and on any store that runs an update request atomically);
- graphs: Graph Store HTTP Protocol (``GET`` to dump one graph, ``DELETE`` to drop one).

The default layout is Oxigraph server's: ``{url}/query``, ``{url}/update``, ``{url}/store``;
others give their URLs (Fuseki: ``/ds/query``, ``/ds/update``, ``/ds/data``).

**Union default graph.** The embedded store queries the union of all graphs by default.
``union_default_graph`` says how the remote does the same:

- ``"param"`` (default): the ``union-default-graph`` request parameter of Oxigraph server;
- ``"server"``: the server already does it (e.g. ``oxigraph serve --union-default-graph``);
  SPARQL can then not see the real default graph, so ``quads()`` and ``len()`` read it with a
  Graph Store ``GET ?default``; ``use_default_graph_as_union=False`` cannot undo the union;
- ``"emulate"``: any SPARQL server: the named graphs are listed first (one more request) and sent
  as ``default-graph-uri``; triples in the unnamed default graph are then not part of the union
  (provml writes everything to named graphs, so nothing it wrote is missed).

>>> RemoteStore("http://127.0.0.1:7878").query_url
'http://127.0.0.1:7878/query'
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import pyoxigraph
from pyoxigraph import (
    DefaultGraph,
    NamedNode,
    Quad,
    QuerySolutions,
    RdfFormat,
    Triple,
)

from provml.capture.redact import safe_url
from provml.closing import Closing
from provml.errors import RemoteError
from provml.store.base import GraphName, QueryResult, materialize
from provml.store.sparql_http import (
    ACCEPT,
    LAYOUTS,
    check_credentials,
    insert_requests,
    parse_answer,
    parse_spec,
    send,
)

__all__ = ["LAYOUTS", "RemoteStore"]

UnionMode = Literal["param", "server", "emulate"]

#: a graph name that names no graph: the default graph of an empty dataset
_NO_GRAPH = "urn:provml:no-graph"
_ALL_QUADS = "SELECT ?s ?p ?o ?g WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"


class RemoteStore(Closing):
    """A :class:`provml.store.base.Store` over HTTP to a SPARQL 1.1 server.

    :param url: the server's base URL (Oxigraph server layout below it).
    :param query_url: the query endpoint (default ``{url}/query``).
    :param update_url: the update endpoint (default ``{url}/update``).
    :param gsp_url: the Graph Store Protocol endpoint (default ``{url}/store``).
    :param timeout_s: per-request timeout in seconds.
    :param auth_token: sent as ``Authorization: Bearer <token>``.
    :param union_default_graph: how queries see the union of graphs (module docstring).
    :param max_request_bytes: ``add`` sends one request up to this size, and splits larger
        batches into several requests (then the batch is no longer one transaction).
    :param auth_user: send ``auth_token`` as the password of HTTP Basic credentials with this
        user name instead of as a bearer token.
    :param form_posts: always send queries and updates as URL-encoded forms (``query=``,
        ``update=``), which every SPARQL 1.1 server takes (Virtuoso 7 takes no direct POST).
    :param gsp_graph_param: the Graph Store parameter naming a graph (Virtuoso: ``graph-uri``).
    :param insert_where: write with ``INSERT { ... } WHERE {}`` instead of ``INSERT DATA``
        (the same triples, one solution: blank nodes stay shared; Virtuoso 7 refuses blank
        nodes in ``INSERT DATA``).
    :param default_graph: whether the server has an unnamed default graph of its own (Virtuoso
        keeps every triple in a named graph: with ``False`` it reads as empty).

    :meth:`from_spec` builds one from a layout preset (:data:`LAYOUTS`) or explicit URLs.

    Errors the server reports become :class:`~provml.errors.RemoteError` with its status and
    message (status 0: no answer — refused connection, timeout).

    >>> store = RemoteStore("http://localhost:7878", gsp_url="http://localhost:7878/data")
    >>> store.gsp_url
    'http://localhost:7878/data'
    """

    def __init__(
        self,
        url: str,
        *,
        query_url: str | None = None,
        update_url: str | None = None,
        gsp_url: str | None = None,
        timeout_s: float = 30,
        auth_token: str | None = None,
        union_default_graph: UnionMode = "param",
        max_request_bytes: int = 64 * 1024 * 1024,
        auth_user: str | None = None,
        form_posts: bool = False,
        gsp_graph_param: str = "graph",
        default_graph: bool = True,
        insert_where: bool = False,
    ) -> None:
        base = url.rstrip("/")
        auth_token = auth_token.strip() if auth_token else auth_token  # (a file read whole)
        auth_user = auth_user.strip() if auth_user else auth_user
        for each in (base, query_url, update_url, gsp_url):
            if each:
                check_credentials(each, auth_token, auth_user)
        self.auth_user = auth_user
        self.form_posts = form_posts
        self.gsp_graph_param = gsp_graph_param
        self.has_default_graph = default_graph
        self.insert_where = insert_where
        self.url = base
        self.query_url = query_url or f"{base}/query"
        self.update_url = update_url or f"{base}/update"
        self.gsp_url = gsp_url or f"{base}/store"
        self.timeout_s = timeout_s
        self.auth_token = auth_token
        if union_default_graph not in ("param", "server", "emulate"):
            raise ValueError(
                f"union_default_graph must be param, server or emulate, not {union_default_graph!r}"
            )
        self.union_default_graph: UnionMode = union_default_graph
        self.max_request_bytes = max_request_bytes
        self.closed = False
        #: no local directory, and the server decides what it refuses (the Store protocol's fields)
        self.path: Path | None = None
        self.read_only = False

    @classmethod
    def from_spec(cls, spec: str, *, auth_token: str | None = None,
                  auth_user: str | None = None, timeout_s: float = 30) -> RemoteStore:
        """A remote store from a command-line spec: ``URL`` (Oxigraph server's layout),
        ``LAYOUT+URL`` with a layout of :data:`LAYOUTS` (``virtuoso+http://host:8890``,
        ``provml+http://host:7878``, ``fuseki+http://host:3030/ds``), or explicit endpoints
        ``query=URL;update=URL;store=URL[;union=param|server|emulate]``.

        >>> RemoteStore.from_spec("virtuoso+http://h:8890").gsp_url
        'http://h:8890/sparql-graph-crud'
        >>> RemoteStore.from_spec("query=http://h/q;update=http://h/u;store=http://h/s").update_url
        'http://h/u'

        :raises ValueError: an unknown layout or a malformed spec.
        """
        base, options = parse_spec(spec)
        return cls(base, auth_token=auth_token, auth_user=auth_user, timeout_s=timeout_s,
                   **options)

    # -- HTTP ---------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
        accept: str | None = None,
    ) -> tuple[str, bytes]:
        """Send one request with this store's credentials (:func:`~provml.store.sparql_http.send`)."""
        if self.closed:
            raise ValueError(f"the remote store {safe_url(self.url)} is closed")
        return send(method, url, params=params, body=body, content_type=content_type, accept=accept,
                    timeout_s=self.timeout_s, auth_token=self.auth_token, auth_user=self.auth_user)

    # -- SPARQL -------------------------------------------------------------------------------

    def query(
        self,
        sparql: str,
        *,
        use_default_graph_as_union: bool = True,
        default_graph: Sequence[NamedNode] | None = None,
        named_graphs: Sequence[NamedNode] | None = None,
        base_iri: str | None = None,
    ) -> QueryResult:
        """Evaluate a query on the server (SPARQL 1.1 Protocol); see ``Store.query``.

        :raises RemoteError: the server refused the query (status 400 for a syntax error).
        """
        params = self._dataset_params(default_graph, named_graphs, use_default_graph_as_union)
        if base_iri is not None:
            sparql = f"BASE <{base_iri}>\n{sparql}"
        media, body = self._post_sparql(self.query_url, "query", sparql, params, accept=ACCEPT)
        return parse_answer(self.query_url, media, body)

    def _dataset_params(
        self,
        default_graph: Sequence[NamedNode] | None,
        named_graphs: Sequence[NamedNode] | None,
        union: bool,
    ) -> list[tuple[str, str]]:
        """The protocol parameters that give the embedded store's dataset semantics.

        pyoxigraph leaves the part of the dataset one does not restrict as it is (all named
        graphs; the union or the real default graph); the protocol empties it as soon as either
        part is given. So the unrestricted part is listed explicitly (one more request), and the
        union is the merge of the named graphs: the unnamed default graph cannot be named over
        the protocol, so it is left out whenever a dataset is given (provml writes nothing there).
        """
        if default_graph is None and named_graphs is None:
            if not union or self.union_default_graph == "server":
                return []
            if self.union_default_graph == "param":
                return [("union-default-graph", "true")]
        listed: list[NamedNode] | None = None

        def every_graph() -> list[NamedNode]:
            nonlocal listed
            if listed is None:
                listed = self.named_graphs()
            return listed

        if default_graph is not None:
            defaults = list(default_graph)
        else:
            defaults = every_graph() if union else []
        nameds = list(named_graphs) if named_graphs is not None else every_graph()
        params = [("default-graph-uri", g.value) for g in defaults]
        params += [("named-graph-uri", g.value) for g in nameds]
        return params or [("default-graph-uri", _NO_GRAPH)]  # an empty dataset

    def _post_sparql(
        self,
        url: str,
        field: str,
        sparql: str,
        params: Sequence[tuple[str, str]],
        *,
        accept: str | None = None,
    ) -> tuple[str, bytes]:
        """POST a query or update: directly, or URL-encoded with its parameters (a long list of
        graphs would not fit in a URL)."""
        if not params and not self.form_posts:
            return self._request(
                "POST",
                url,
                body=sparql.encode("utf-8"),
                content_type=f"application/sparql-{field}; charset=utf-8",
                accept=accept,
            )
        form = urllib.parse.urlencode([(field, sparql), *params]).encode("ascii")
        return self._request(
            "POST",
            url,
            body=form,
            content_type="application/x-www-form-urlencoded",
            accept=accept,
        )

    def _select_raw(self, sparql: str) -> QuerySolutions:
        """A SELECT over the server's real dataset (no union default graph)."""
        result = self.query(sparql, use_default_graph_as_union=False)
        assert isinstance(result, QuerySolutions)
        return result

    def update(
        self,
        sparql: str,
        *,
        base_iri: str | None = None,
        using_graphs: Sequence[NamedNode] | None = None,
        using_named_graphs: Sequence[NamedNode] | None = None,
    ) -> None:
        """Run an update on the server (SPARQL 1.1 Protocol, update operation).

        :raises RemoteError: the server refused the update.
        """
        params = [("using-graph-uri", g.value) for g in using_graphs or ()]
        params += [("using-named-graph-uri", g.value) for g in using_named_graphs or ()]
        if base_iri is not None:
            sparql = f"BASE <{base_iri}>\n{sparql}"
        self._post_sparql(self.update_url, "update", sparql, params)

    # -- writes -------------------------------------------------------------------------------

    def add(self, quads: Iterable[Quad], *, atomic: bool = True) -> None:
        """Write ``quads`` with one ``INSERT DATA`` request: one transaction on Oxigraph server.

        Terms are written in N-Triples syntax by pyoxigraph (``str(term)``), so no value is ever
        spliced into the request as text. Batches over ``max_request_bytes`` go in several
        requests: each is atomic, the whole is not. ``atomic`` is accepted for symmetry with
        the embedded store and changes nothing here.

        :raises TypeError: an item is not a ``pyoxigraph.Quad`` (nothing is sent).
        :raises RemoteError: the server refused the data (nothing of that request is written).
        """
        batch = materialize(quads)
        for text in insert_requests(batch, self.max_request_bytes, insert_where=self.insert_where):
            self.update(text)

    def load(
        self,
        data: bytes,
        *,
        format: RdfFormat,
        graph: GraphName | None = None,
        base_iri: str | None = None,
    ) -> None:
        """Parse ``data`` here (same parser, base IRI and errors as the embedded store) and send
        it with :meth:`add`, in one request.

        :raises SyntaxError: the data does not parse; nothing is sent.
        :raises provml.errors.RdfSyntaxError: RDF/XML with a document type or entity declaration,
            JSON-LD nested too deep (:func:`provml.store.rdfio.refuse_unsafe`).
        """
        from provml.store.rdfio import refuse_unsafe

        refuse_unsafe(data, format)
        quads = pyoxigraph.parse(data, format, base_iri=base_iri)
        target = graph if graph is not None else DefaultGraph()
        self.add(
            Quad(q.subject, q.predicate, q.object, target) if q.graph_name == DefaultGraph() else q
            for q in quads
        )

    def clear_graph(self, graph: GraphName) -> None:
        """Remove the triples of ``graph`` (``CLEAR SILENT``)."""
        target = "DEFAULT" if isinstance(graph, DefaultGraph) else f"GRAPH {graph}"
        self.update(f"CLEAR SILENT {target}")

    def create_graph(self, graph: NamedNode) -> None:
        """Create the named graph, empty (``CREATE SILENT GRAPH``: no error when it exists)."""
        self.update(f"CREATE SILENT GRAPH {graph}")

    def drop_graph(self, graph: GraphName) -> None:
        """Remove ``graph`` (Graph Store Protocol ``DELETE``; a missing graph is no error)."""
        params = [("default", "")] if isinstance(graph, DefaultGraph) else [
            (self.gsp_graph_param, graph.value)]
        try:
            self._request("DELETE", self.gsp_url, params=params)
        except RemoteError as error:
            if error.status != 404:
                raise

    # -- reads --------------------------------------------------------------------------------

    def quads(self, *, graph: GraphName | None = None) -> Iterator[Quad]:
        """The quads of ``graph``, or of all graphs when None (one SELECT request; with a
        server-side union default graph, the default graph comes by Graph Store ``GET``)."""
        if graph is None and self.union_default_graph != "server":
            for row in self._select_raw(_ALL_QUADS):
                name = row["g"]
                yield Quad(
                    row["s"], row["p"], row["o"], name if name is not None else DefaultGraph()
                )
            return
        if graph is None:
            yield from self._default_graph_quads()
            for row in self._select_raw("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }"):
                yield Quad(row["s"], row["p"], row["o"], row["g"])
        elif isinstance(graph, DefaultGraph):
            yield from self._default_graph_quads()
        else:
            for row in self._select_raw(
                f"SELECT ?s ?p ?o WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}"
            ):
                yield Quad(row["s"], row["p"], row["o"], graph)

    def _default_graph_quads(self) -> Iterator[Quad]:
        """The real default graph: a SELECT, or a Graph Store ``GET`` when the server's default
        graph is the union (SPARQL cannot name the real one then)."""
        if not self.has_default_graph:
            return
        if self.union_default_graph == "server":
            _media, body = self._request(
                "GET", self.gsp_url, params=[("default", "")], accept="application/n-triples"
            )
            for triple in pyoxigraph.parse(body, RdfFormat.N_TRIPLES):
                yield Quad(triple.subject, triple.predicate, triple.object, DefaultGraph())
            return
        for row in self._select_raw("SELECT ?s ?p ?o WHERE { ?s ?p ?o }"):
            yield Quad(row["s"], row["p"], row["o"], DefaultGraph())

    def named_graphs(self) -> list[NamedNode]:
        """The named graphs, sorted by IRI."""
        listing = ("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }" if self.has_default_graph
                   else "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")  # Virtuoso 7
        rows = self._select_raw(listing)
        graphs = [row["g"] for row in rows if isinstance(row["g"], NamedNode)]
        return sorted(graphs, key=lambda g: g.value)

    def contains_graph(self, graph: NamedNode) -> bool:
        """Whether the named graph exists."""
        # Virtuoso answers true to ASK { GRAPH <g> { } } for any g: ask for a triple there
        pattern = "{ }" if self.has_default_graph else "{ ?s ?p ?o }"
        return bool(self.query(f"ASK {{ GRAPH {graph} {pattern} }}", use_default_graph_as_union=False))

    def dump(self, *, format: RdfFormat, graph: GraphName | None = None) -> bytes:
        """Serialize one graph (Graph Store Protocol ``GET`` for triples formats), or the whole
        dataset (read with one SELECT, serialized here; needs a dataset format).

        :raises ValueError: a triples format for the whole dataset.
        """
        if graph is None:
            if not format.supports_datasets:
                raise ValueError(
                    f"{format.name} cannot hold named graphs; pass graph= or use N-Quads"
                )
            return bytes(pyoxigraph.serialize(self.quads(), format=format) or b"")
        if format.supports_datasets:
            triples = (Triple(q.subject, q.predicate, q.object) for q in self.quads(graph=graph))
            return bytes(pyoxigraph.serialize(triples, format=format) or b"")
        params = [("default", "")] if isinstance(graph, DefaultGraph) else [
            (self.gsp_graph_param, graph.value)]
        try:
            _media, body = self._request(
                "GET", self.gsp_url, params=params, accept=format.media_type
            )
        except RemoteError as error:
            if error.status != 404:
                raise
            return bytes(pyoxigraph.serialize([], format=format) or b"")
        return body

    def __len__(self) -> int:
        if self.union_default_graph == "server":
            named = self._count("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
            return named + sum(1 for _ in self._default_graph_quads())
        return self._count(
            "SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
        )

    def _count(self, sparql: str) -> int:
        rows = list(self._select_raw(sparql))
        count = rows[0]["n"]
        assert count is not None
        return int(count.value)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Mark the store closed (there is no connection to keep). Idempotent."""
        self.closed = True


    def __repr__(self) -> str:
        return f"RemoteStore({safe_url(self.url)!r})"

