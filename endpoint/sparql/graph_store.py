"""``/store``: the SPARQL 1.1 Graph Store HTTP Protocol.

Graphs are named indirectly (``/store?graph=IRI``, ``/store?default``) or directly (the request
URL is the graph IRI: ``/store/people/1.ttl`` names ``<BASE_URL>/store/people/1.ttl``).

=========  ===============================================================================
method     effect and status
=========  ===============================================================================
GET/HEAD   the graph, negotiated (Turtle by default; JSON-LD compacted with the ontologies'
           context, or expanded, its Content-Type naming the profile sent); 404 when the named
           graph does not exist. ``/store`` alone: the whole dataset (TriG, N-Quads,
           JSON-LD). Written under the query time and memory limits
PUT        replace the graph with the body: 201 when it creates the graph, else 204
POST       add the body to the graph: 201 when it creates the graph, else 204; ``/store``
           alone creates a new graph and answers 201 with its IRI in ``Location``;
           ``multipart/form-data`` bodies add every file part
DELETE     drop the graph (clear the default graph): 204; 404 when it does not exist
=========  ===============================================================================

Writes need the write token. The body is parsed completely before the store is touched, so a
body that does not parse (400), an unsupported media type (415), or one too large or holding a
term longer than an export of the store reads back (413, :mod:`provml.store.term_bound`)
changes nothing. A ``PUT`` is
two store transactions (drop, then add): a crash between them leaves the graph empty.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, request
from pyoxigraph import DefaultGraph, NamedNode, Quad, RdfFormat, parse

from provml.endpoint import context
from provml.endpoint.auth import check_read, check_write
from provml.endpoint.errors import abort_json
from provml.endpoint.limits import InputRefused, check_rdf_body
from provml.endpoint.negotiation import (
    DATASET_OFFERS,
    GRAPH_OFFERS,
    JSONLD,
    RDF_FORMATS,
    VARY,
    NotAcceptable,
    Unwritable,
    media_type,
    negotiate,
)
from provml.endpoint.sparql.export import ALL, DEFAULT
from provml.endpoint.sparql.results import NOT_XML, XML_TYPES, xml_safe
from provml.errors import StoreReadOnly
from provml.events.lengths import MAX_TEXT
from provml.store.rdfio import FORMAT_NAMES
from provml.store.term_bound import long_term

__all__ = ["bp"]

bp = Blueprint("graph_store", __name__)

_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
#: the most quads one write may hold, and the most bytes their terms may spell out: a write is
#: parsed whole before it is written (all or nothing), at ≈ 1 KB a quad besides its terms (a
#: 4 MB Turtle list ``( 1 1 … )`` made 4 million quads: 3.3 GB; a 92 KB body of names on a
#: 60 KB prefix 1.2 GB); larger graphs go through ``provml load`` or in parts
MAX_WRITE_QUADS = 1_000_000
MAX_WRITE_BYTES = 256 * 1024 * 1024

Target = NamedNode | DefaultGraph | None


def _target(path: str | None) -> Target:
    """The graph a request names (None: the whole store)."""
    args = request.args
    if path is not None:
        if args:
            abort_json(400, "a direct graph URL takes no 'graph' or 'default' parameter")
        try:
            return NamedNode(context.public_url(f"/store/{path}"))
        except ValueError:
            abort_json(400, f"/store/{path} does not make a valid graph IRI; percent-encode "
                            "characters such as < > \" { } | ^ ` and spaces")
    graphs = args.getlist("graph")
    if "default" in args:
        if graphs:
            abort_json(400, "give 'graph' or 'default', not both")
        return DefaultGraph()
    if len(graphs) > 1:
        abort_json(400, "the 'graph' parameter is given more than once")
    if not graphs:
        return None
    try:
        return NamedNode(graphs[0])
    except ValueError:
        abort_json(400, f"graph: not an absolute IRI: {graphs[0]!r}")


def _exists(graph: NamedNode | DefaultGraph) -> bool:
    return isinstance(graph, DefaultGraph) or context.store().contains_graph(graph)


@bp.route("/store", methods=_METHODS, strict_slashes=False, defaults={"path": None})
@bp.route("/store/<path:path>", methods=_METHODS)
def graph_store(path: str | None) -> Response:
    """Dispatch a Graph Store Protocol request (see the module docstring)."""
    target = _target(path)
    if request.method in ("GET", "HEAD"):
        check_read()
        return _get(target)
    check_write()
    try:
        if request.method == "DELETE":
            return _delete(target)
        if request.method == "PUT":
            return _put(target)
        return _post(target)
    except StoreReadOnly:
        abort_json(403, "the store is read-only")


def _get(target: Target) -> Response:
    accept = request.headers.get("Accept")
    offers = DATASET_OFFERS if target is None else GRAPH_OFFERS
    if target is None:
        graph = ALL
    else:
        if not _exists(target):
            abort_json(404, f"no graph {target}")
        graph = DEFAULT if isinstance(target, DefaultGraph) else target.value
    refusal = f"the dataset is available as {offers}" if target is None else f"a graph is available as {offers}"

    def write(media: str, form: str | None) -> bytes:
        if media == JSONLD and _holds_triple_terms(graph):
            # JSON-LD 1.1 has no triple terms: as /sparql, the client's next choice, else 406 (a
            # failure in the worker was a 503 telling every client to retry, for as long as one lasted)
            raise Unwritable("this graph holds triple terms, which JSON-LD 1.1 cannot carry")
        # under the query limits (a worker process over an on-disk store); JSON-LD compacted
        # with the ontologies' context, or expanded (also where compaction cannot write it)
        body = _export(graph, media, form or "compacted")
        if not xml_safe(media, body):  # never broken XML
            raise Unwritable(NOT_XML, XML_TYPES)
        return body

    try:  # the client's choice, then its next while the graph cannot be written in it
        sent = negotiate(accept, offers, write, refusal=refusal)
    except NotAcceptable as error:
        abort_json(406, str(error), headers=VARY)
    body, ctype = sent.body, sent.content_type
    response = Response(body, content_type=ctype)
    response.vary.add("Accept")
    return response


def _export(graph: str, media: str, form: str) -> bytes:
    """The graph in ``media`` (JSON-LD in ``form``, expanded where compaction cannot write it)."""
    return context.runner().export(context.store(), graph, media=media, profile=form)


def _holds_triple_terms(graph: str) -> bool:
    """Whether the graph (an IRI, :data:`DEFAULT`, or :data:`ALL`) holds a triple term: one ASK,
    under the query limits (a scan; the JSON-LD it decides on costs far more)."""
    match = "?s ?p ?o FILTER(isTRIPLE(?s) || isTRIPLE(?o))"
    where = (f"{{ {{ {match} }} UNION {{ GRAPH ?g {{ {match} }} }} }}" if graph == ALL
             else f"{{ {match} }}" if graph == DEFAULT else f"{{ GRAPH <{graph}> {{ {match} }} }}")
    outcome = context.runner().run(context.store(), "ASK " + where, union=False)
    return bool(outcome.boolean)


def _parse_body(graph: NamedNode | DefaultGraph) -> list[Quad]:
    kind, params = media_type(request.headers.get("Content-Type"))
    if kind.startswith("multipart/form-data"):
        return _parse_multipart(graph)
    fmt = RDF_FORMATS.get(kind)
    if fmt is None:
        abort_json(415, f"unsupported media type {kind or '(none)'!r}; send one of "
                        f"{sorted(set(RDF_FORMATS))}")
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        abort_json(415, f"charset {charset!r} is not supported; send UTF-8")
    quads: list[Quad] = []
    _parse(request.get_data(cache=False), fmt, graph, quads)
    return quads


def _parse(data: bytes, fmt: RdfFormat, graph: NamedNode | DefaultGraph, quads: list[Quad],
           spelt: int = 0) -> int:
    """Parse ``data`` into ``quads`` (a write's, all its parts' so far), within the write's
    bounds; returns the characters its terms spell out so far (``spelt``, the parts' before)."""
    base = graph.value if isinstance(graph, NamedNode) else context.public_url("/store")
    try:
        check_rdf_body(data, fmt.name)
    except InputRefused as error:
        abort_json(400, str(error))
    per_quad = len(graph.value) if isinstance(graph, NamedNode) else 0
    try:
        for q in parse(data, format=fmt, base_iri=base):
            size = len(str(q))  # (at least each of its terms' texts: one measure for both bounds)
            spelt += size + per_quad
            if len(quads) == MAX_WRITE_QUADS or spelt > MAX_WRITE_BYTES:
                abort_json(413, f"the body holds more than {MAX_WRITE_QUADS:,} quads or "
                                f"{MAX_WRITE_BYTES >> 20} MiB of terms once parsed: write a "
                                "graph that large with provml load, or in parts (POST adds)")
            if size > MAX_TEXT and (long := long_term(q)) is not None:
                abort_json(413, f"the body cannot be stored: {long}",
                           size=long.size, limit=long.limit)
            quads.append(Quad(q.subject, q.predicate, q.object, graph))
    except SyntaxError as error:
        abort_json(400, f"the body does not parse as {fmt.name}: {error}")
    except MemoryError as error:  # pyoxigraph's parsers buffer a term up to 16 MiB
        abort_json(413, f"the body has a term longer than the RDF parser takes ({error}): "
                        "send shorter values")
    return spelt


def _parse_multipart(graph: NamedNode | DefaultGraph) -> list[Quad]:
    quads: list[Quad] = []
    spelt = 0
    if not request.files:
        abort_json(400, "a multipart body needs at least one file part")
    for part in request.files.values():
        kind, _ = media_type(part.mimetype)
        fmt = RDF_FORMATS.get(kind)
        if fmt is None and part.filename:
            fmt = FORMAT_NAMES.get(part.filename.rsplit(".", 1)[-1].lower())
        if fmt is None:
            abort_json(415, f"part {part.filename or part.name!r}: unsupported media type "
                            f"{kind or '(none)'!r}")
        spelt = _parse(part.read(), fmt, graph, quads, spelt)  # (the bounds hold for all parts)
    return quads


def _put(target: Target) -> Response:
    if target is None:
        abort_json(400, "PUT needs ?graph=IRI or ?default")
    quads = _parse_body(target)
    store = context.store()
    with context.runner().writing():  # drop, then add: no other write in between
        created = not _exists(target)
        if isinstance(target, DefaultGraph):
            store.clear_graph(target)
        else:
            store.drop_graph(target)
        store.add(quads)
        if isinstance(target, NamedNode) and not quads:
            _add_empty_graph(target)
    return Response(status=201 if created else 204)


def _add_empty_graph(graph: NamedNode) -> None:
    context.store().create_graph(graph)


def _post(target: Target) -> Response:
    headers: dict[str, str] = {}
    if target is None:
        target = NamedNode(context.public_url(f"/store/{uuid.uuid4().hex}"))
        headers["Location"] = target.value
    quads = _parse_body(target)
    with context.runner().writing():
        created = not _exists(target)
        context.store().add(quads)
        if isinstance(target, NamedNode) and not quads and created:
            _add_empty_graph(target)
    return Response(status=201 if created else 204, headers=headers)


def _delete(target: Target) -> Response:
    if target is None:
        abort_json(400, "DELETE needs ?graph=IRI or ?default")
    store = context.store()
    with context.runner().writing():
        if isinstance(target, DefaultGraph):
            store.clear_graph(target)
        else:
            if not store.contains_graph(target):
                abort_json(404, f"no graph {target}")
            store.drop_graph(target)
    return Response(status=204)
