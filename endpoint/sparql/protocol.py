"""``/sparql``: the SPARQL 1.1 Protocol (query and update) and the Service Description.

- query: ``GET ?query=``, ``POST`` form (``query=``), ``POST application/sparql-query``; dataset
  by ``default-graph-uri`` / ``named-graph-uri`` (they override ``FROM``/``FROM NAMED``);
- update: ``POST`` form (``update=``), ``POST application/sparql-update``, with the write token;
  dataset by ``using-graph-uri`` / ``using-named-graph-uri``; answered 204;
- ``GET`` with no parameter: the Service Description (Turtle, RDF/XML, JSON-LD, N-Triples;
  JSON-LD expanded unless the client prefers the compacted profile).

Statuses: 400 syntax errors and missing, repeated or conflicting parameters; 405 an update by
GET; 406 no acceptable format; 415 other media types or a charset other than UTF-8; 503 past the
time limit. Results rows beyond ``MAX_ROWS`` are cut and the response carries
``X-Provml-Truncated: true``.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from pyoxigraph import NamedNode, RdfFormat, Triple, serialize
from werkzeug.datastructures import MultiDict

from provml.endpoint import context
from provml.endpoint.auth import check_read, check_write
from provml.endpoint.errors import abort_json
from provml.endpoint.limits import scan_sparql, sparql_syntax_error
from provml.endpoint.negotiation import (
    EXPANDED_FIRST,
    JSONLD,
    RDF_FORMATS,
    VARY,
    NotAcceptable,
    media_type,
    negotiate,
)
from provml.endpoint.sparql.description import service_description
from provml.endpoint.sparql.outcomes import client_error
from provml.endpoint.sparql.results import Rendered
from provml.errors import StoreReadOnly
from provml.query.serialization import serialize_quads

__all__ = ["bp", "iris", "utf8_body"]

bp = Blueprint("sparql", __name__)

_QUERY_TYPES = ("application/sparql-query",)
_UPDATE_TYPES = ("application/sparql-update",)
_FORM = "application/x-www-form-urlencoded"
_DATASET_PARAMS = ("default-graph-uri", "named-graph-uri")
_USING_PARAMS = ("using-graph-uri", "using-named-graph-uri")
_DESCRIPTION_OFFERS = ("text/turtle", "application/rdf+xml", "application/ld+json",
                       "application/n-triples", "application/x-turtle", "text/plain")


#: the most values a dataset parameter (``default-graph-uri`` …) may repeat: each is a graph the
#: query's dataset holds (300,000 of them crashed a query worker)
MAX_GRAPH_PARAMS = 1_000


def iris(values: list[str], name: str) -> list[NamedNode] | None:
    """The IRIs of a repeated parameter, or None when absent.

    :raises ApiError: 400 for more than :data:`MAX_GRAPH_PARAMS` values, or for a value that is
        not an absolute IRI (named, cut to 200 characters: never every value sent).
    """
    if not values:
        return None
    if len(values) > MAX_GRAPH_PARAMS:
        abort_json(400, f"{name} is given {len(values)} times; at most {MAX_GRAPH_PARAMS} graphs "
                        "make a dataset here")
    out = []
    for value in values:
        try:
            out.append(NamedNode(value))
        except ValueError:
            shown = value if len(value) <= 200 else value[:200] + "…"
            abort_json(400, f"{name}: not an IRI: {shown!r}")
    return out


def utf8_body(params: dict[str, str]) -> str:
    """The request body as text, refusing charsets other than UTF-8 (415) and bad bytes (400)."""
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        abort_json(415, f"charset {charset!r} is not supported; send UTF-8")
    try:
        return request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError:
        abort_json(400, "the body is not valid UTF-8")


def _one(values: list[str], name: str) -> str | None:
    if len(values) > 1:
        abort_json(400, f"the {name!r} parameter is given {len(values)} times; give it once")
    return values[0] if values else None


@bp.route("/sparql", methods=["GET", "POST"], strict_slashes=False)
def sparql() -> Response:
    """Dispatch a SPARQL Protocol request (see the module docstring)."""
    check_read()
    args = request.args
    if request.method in ("GET", "HEAD"):  # HEAD: the GET without its body
        if "update" in args:
            abort_json(405, "updates must be sent with POST", headers={"Allow": "POST"})
        if not args:
            return _describe()
        query = _one(args.getlist("query"), "query")
        if query is None:
            abort_json(400, "missing 'query' parameter")
        return _query(query, args)
    kind, params = media_type(request.headers.get("Content-Type"))
    if kind == _FORM:
        charset = params.get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            abort_json(415, f"charset {charset!r} is not supported; send UTF-8")
        form = request.form
        merged = MultiDict(args)
        for key, value in form.items(multi=True):
            merged.add(key, value)
        query = _one(merged.getlist("query"), "query")
        update = _one(merged.getlist("update"), "update")
        if query is not None and update is not None:
            abort_json(400, "give 'query' or 'update', not both")
        if query is not None:
            return _query(query, merged)
        if update is not None:
            return _update(update, merged)
        abort_json(400, "missing 'query' or 'update' parameter")
    if kind in _QUERY_TYPES or kind in _UPDATE_TYPES:
        if "query" in args or "update" in args:
            abort_json(400, "the operation is in the body; do not repeat it in the URL")
        if kind in _UPDATE_TYPES:
            check_write()
            return _update(utf8_body(params), args)
        return _query(utf8_body(params), args)
    abort_json(415, f"unsupported media type {kind or '(none)'!r}: send "
                    "application/sparql-query, application/sparql-update or a form")


def _query(text: str, params: MultiDict[str, str]) -> Response:
    if any(params.getlist(p) for p in _USING_PARAMS):
        abort_json(400, "using-graph-uri / using-named-graph-uri apply to updates, not queries")
    scan = scan_sparql(text, what="query", allowed=context.config().allow_remote)
    default_graph = iris(params.getlist("default-graph-uri"), "default-graph-uri")
    named_graphs = iris(params.getlist("named-graph-uri"), "named-graph-uri")
    if default_graph is not None and named_graphs is None:
        named_graphs = []
    if named_graphs is not None and default_graph is None:
        default_graph = []
    # the union of all graphs is the default graph only when neither the protocol nor the
    # query (FROM / FROM NAMED) names a dataset
    union = default_graph is None and not scan.has_dataset
    try:
        rendered = context.runner().render(
            context.store(), text, accept=request.headers.get("Accept"),
            default_graph=default_graph, named_graphs=named_graphs, union=union,
            base_iri=context.public_url("/sparql"))
    except SyntaxError as error:
        if not sparql_syntax_error(error):
            raise  # the server's fault: 500
        abort_json(400, f"query syntax error: {error}")
    return _results(rendered)


def _results(rendered: Rendered) -> Response:
    if rendered.status == 406:
        abort_json(406, rendered.refusal, headers=VARY)  # (as the lean path, fast_reads.py, answers it)
    response = Response(rendered.body, content_type=rendered.content_type)
    response.vary.add("Accept")
    if rendered.truncated:
        response.headers["X-Provml-Truncated"] = "true"
    return response


def _update(text: str, params: MultiDict[str, str]) -> Response:
    check_write()
    if any(params.getlist(p) for p in _DATASET_PARAMS):
        abort_json(400, "default-graph-uri / named-graph-uri apply to queries; updates use "
                        "using-graph-uri / using-named-graph-uri")
    using = iris(params.getlist("using-graph-uri"), "using-graph-uri")
    using_named = iris(params.getlist("using-named-graph-uri"), "using-named-graph-uri")
    scan_sparql(text, what="update", allowed=context.config().allow_remote)
    try:
        context.runner().update(context.store(), text, base_iri=context.public_url("/sparql"),
                                using=using, using_named=using_named)
    except SyntaxError as error:
        if not sparql_syntax_error(error):
            raise  # a module of the server failed to compile (an import): 500, not the client's
        abort_json(400, f"update syntax error: {error}")
    except StoreReadOnly:
        abort_json(403, "the store is read-only")
    except RuntimeError as error:  # a graph missing (or existing), a function unknown
        refusal = client_error(error)
        if refusal is None:
            raise
        abort_json(400, str(refusal))
    except ValueError as error:
        abort_json(400, str(error))
    except OSError as error:  # an allowed LOAD whose source failed
        abort_json(502, f"the update could not be completed: {error}")
    return Response(status=204)


def _describe() -> Response:
    writable = context.config().token is not None and not context.config().read_only

    def write(media: str, form: str | None) -> bytes:
        triples = service_description(context.store(), endpoint=context.public_url("/sparql"),
                                      writable=writable)
        if media == JSONLD:  # expanded as Oxigraph writes it, or compacted when the client prefers
            return _jsonld(triples, form or "expanded")
        return serialize(triples, format=RDF_FORMATS[media]) or b""

    try:
        sent = negotiate(request.headers.get("Accept"), _DESCRIPTION_OFFERS, write,
                         prefer=EXPANDED_FIRST,
                         refusal=f"the service description is available as {_DESCRIPTION_OFFERS}")
    except NotAcceptable as error:
        abort_json(406, str(error), headers=VARY)
    response = Response(sent.body, content_type=sent.content_type)
    response.vary.add("Accept")
    return response


def _jsonld(triples: list[Triple], form: str) -> bytes:
    """``triples`` as JSON-LD: expanded as Oxigraph writes it, or compacted with the
    ontologies' context (expanded where compaction cannot write them)."""
    if form == "expanded":
        return bytes(serialize(triples, format=RdfFormat.JSON_LD) or b"[]")
    return serialize_quads(triples, "jsonld", profile=form, expand_unwritable=True)
