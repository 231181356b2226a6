"""The web UI: what a scientist opens first. Every page's core content is server-rendered HTML
(readable without JavaScript) and has a machine-readable twin — the same path with ``.json``, or
``Accept: application/json``.

- ``/`` (twin ``/index.json``) — what the store holds (studies, workflows, executions, models,
  datasets, predictions) and the latest runs;
- ``/query`` (``/query.json``: the editor's configuration) — YASGUI on ``/sparql`` with the
  prefixes filled in and the named queries as examples;
- ``/compare?run=IRI&run=IRI`` (``/compare.json``) — runs side by side: hyperparameters, final
  evaluation values and per-epoch curves as inline SVG;
- ``/queries`` and ``/queries/<name>?param=...`` (``.json``) — the named queries as forms with
  typed parameters, and their results;
- ``/api/lineage?iri=IRI`` — the lineage graph around a node as JSON (the resource page draws it
  with cytoscape.js).

Browser libraries (YASGUI, cytoscape.js) are served from ``static/vendor/``, filled by
``make ui-deps`` from npm (see ``docs/ui.md``); nothing is loaded from a CDN.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from provml.endpoint.auth import require_read
from provml.endpoint.context import config, reader, runner, store
from provml.endpoint.errors import abort_json
from provml.endpoint.linked_data.resources import local_url
from provml.endpoint.negotiation import best_match
from provml.endpoint.sparql.outcomes import QueryRejected, QueryTimeout
from provml.endpoint.sparql.results import write_solutions
from provml.endpoint.ui.comparison import compare as compare_runs
from provml.endpoint.ui.overview import list_runs, overview
from provml.endpoint.ui.plots import PALETTE, line_chart
from provml.errors import ParameterError, QueryNotFound
from provml.query.lineage import lineage_graph
from provml.query.named import NamedQuery, bind, get_query, list_queries
from provml.vocab import MLS, OILGAS_NS, PROV, PROVML, RDF, RDFS, SKOS, XSD, local_name

__all__ = ["EDITOR_PREFIXES", "bp"]

#: the most runs /compare puts side by side
MAX_COMPARED = 20

bp = Blueprint("ui", __name__, static_folder=None)

#: prefixes the query editor starts with
EDITOR_PREFIXES: dict[str, str] = {
    "prov": PROV.NS, "provml": PROVML.NS, "mls": MLS.NS, "rdf": RDF.NS, "rdfs": RDFS.NS,
    "xsd": XSD.NS, "skos": SKOS.NS, "og": OILGAS_NS,
}

_STARTER = """SELECT ?run ?workflow ?started ?status WHERE {
  ?run a provml:WorkflowExecution ;
       prov:wasInfluencedBy/rdfs:label ?workflow ;
       prov:startedAtTime ?started .
  OPTIONAL { ?run provml:status ?status }
}
ORDER BY DESC(?started)
LIMIT 50"""


def _wants_json(suffixed: bool) -> bool:
    """Whether to answer with the JSON twin: a ``.json`` path, or ``Accept`` preferring JSON."""
    if suffixed:
        return True
    chosen = best_match(request.headers.get("Accept"), ("text/html", "application/json"))
    return bool(chosen == "application/json")


def _page(template: str, twin: str, **context: Any) -> Response:
    html = render_template(template, twin=twin, local_url=local_url, short=_short, num=_num,
                           **context)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Link"] = f'<{twin}>; rel="alternate"; type="application/json"'
    response.vary.add("Accept")
    return response


def _json(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.vary.add("Accept")
    return response


@bp.get("/index.json")
@bp.get("/")
@require_read
def home() -> Response:
    """What the store holds, and the latest runs."""
    summary = overview(reader())
    writer = current_app.extensions.get("provml.broker")  # provml serve --broker: the ingest lag
    ingest = writer.lag() if writer is not None else None
    if _wants_json(request.path.endswith(".json")):
        return _json({"ok": True, **summary.to_dict(), **({"ingest": ingest} if ingest else {})})
    return _page("ui/home.html", "/index.json", o=summary, ingest=ingest)


@bp.get("/query.json")
@bp.get("/query")
@require_read
def query_editor() -> Response:
    """The SPARQL query editor (YASGUI) and its configuration."""
    settings = {
        "endpoint": "/sparql",
        "prefixes": EDITOR_PREFIXES,
        "instance_base": config().instance_base,
        "query": _prefixed(request.args.get("query") or _STARTER),
        "examples": [
            {"name": q.name, "title": q.title, "paper": q.paper, "query": q.text}
            for q in list_queries()
        ],
    }
    if _wants_json(request.path.endswith(".json")):
        return _json({"ok": True, **settings})
    return _page("ui/query.html", "/query.json", settings=settings,
                 vendor=_vendor_ready("yasgui/yasgui.min.js"))


@bp.get("/compare.json")
@bp.get("/compare")
@require_read
def compare() -> Response:
    """Runs side by side (``run`` repeated: the run IRIs)."""
    chosen = list(dict.fromkeys(r for r in request.args.getlist("run") if r))
    if len(chosen) > MAX_COMPARED:  # each run costs three queries
        abort_json(400, f"compare at most {MAX_COMPARED} runs at a time, not {len(chosen)}",
                   parameter="run")
    try:
        result = compare_runs(reader(), chosen)
    except ParameterError as exc:
        abort_json(400, str(exc), parameter="run")
    runs = list_runs(reader(), limit=200)
    labels = {r.iri: r.label for r in runs}
    twin = "/compare.json" + ("?" + urlencode([("run", r) for r in chosen]) if chosen else "")
    if _wants_json(request.path.endswith(".json")):
        return _json({"ok": True, "labels": {r: labels.get(r, r) for r in chosen},
                      **result.to_dict()})
    colours = {labels.get(run, run): PALETTE[i % len(PALETTE)] for i, run in enumerate(result.runs)}
    charts = [
        line_chart(metric, {labels.get(run, run): by_run[run] for run in result.runs if run in by_run},
                   colours=colours)
        for metric, by_run in result.curves.items()
    ]
    return _page("ui/compare.html", twin, runs=runs, chosen=chosen, labels=labels, c=result,
                 charts=charts, palette=PALETTE)


@bp.get("/queries.json")
@bp.get("/queries")
@require_read
def queries() -> Response:
    """The named queries, each with its form."""
    catalogue = list_queries()
    if _wants_json(request.path.endswith(".json")):
        return _json({"ok": True, "queries": [
            {**q.to_dict(), "form": url_for("ui.named_query", name=q.name)} for q in catalogue]})
    return _page("ui/queries.html", "/queries.json", queries=catalogue)


@bp.get("/queries/<name>")
@require_read
def named_query(name: str) -> Response:
    """One named query's form, and its results once submitted (``_run=1`` or any parameter;
    the marker is not ``run``, which queries take as a parameter)."""
    suffixed = name.endswith(".json")
    name = name.removesuffix(".json")
    try:
        query = get_query(name)
    except QueryNotFound as exc:
        abort_json(404, str(exc), query=name)
    params = {p.name: request.args.get(p.name, "") for p in query.parameters}
    submitted = "_run" in request.args or any(params.values())
    results, error, status = None, None, 200
    if submitted:
        try:
            results = _run(query, {k: v for k, v in params.items() if v})
        except ParameterError as exc:
            error, status = str(exc), 400
        except QueryTimeout:
            error, status = "the query ran past the time limit; add parameters to narrow it", 503
        except QueryRejected:
            error, status = "the server is busy with other queries; retry in a moment", 503
    retry = {"Retry-After": "2"} if status == 503 else None
    if _wants_json(suffixed):
        if error:
            abort_json(status, error, headers=retry, query=name)
        return _json({"ok": True, "query": query.to_dict(), "parameters": params,
                      "results": results["json"] if results else None})
    # the parameters as sent, not as url_for's keywords: `name`, `endpoint`, `_method` ... are
    # url_for's own (a 500 for /queries/q1?name=x: a hostile probe, 20th session)
    twin = url_for("ui.named_query", name=name + ".json")
    if request.args:
        twin += "?" + urlencode(list(request.args.items(multi=True)))
    suggestions = []
    if any(p.type == "iri" for p in query.parameters):
        suggestions = [(item.iri, f"{c.title}: {item.label}")
                       for c in overview(reader(), sample=40, latest=0).categories for item in c.items]
    response = _page("ui/query_form.html", twin, q=query, params=params, results=results,
                     error=error, submitted=submitted, suggestions=suggestions)
    response.status_code = status
    if retry:
        response.headers.update(retry)
    return response


@bp.get("/api/lineage")
@require_read
def lineage() -> Response:
    """The lineage graph around ``iri`` (nodes with their class, colour group and page link)."""
    iri = request.args.get("iri", "")
    if not iri:
        abort_json(400, "give the node as ?iri=...", parameter="iri")
    try:
        graph = lineage_graph(reader(), iri)
    except ValueError:
        abort_json(400, f"not a valid IRI: {iri!r}", parameter="iri")
    body = graph.to_dict()
    for node in body["nodes"]:
        node["href"] = local_url(node["iri"])
    return _json({"ok": True, **body})


def _run(query: NamedQuery, params: dict[str, str]) -> dict[str, Any]:
    """The query's results: variable names, rows of terms, the SPARQL JSON and truncation."""
    outcome = runner().run(store(), bind(query, params))
    data = json.loads(write_solutions(outcome.variables, outcome.rows, "application/sparql-results+json"))
    return {"variables": [v.value for v in outcome.variables], "rows": outcome.rows,
            "truncated": outcome.truncated, "json": data}


def _num(text: str) -> str:
    """A number for reading: at most 4 significant digits (the text itself when not a number)."""
    try:
        value = float(text)
    except ValueError:
        return text
    return text if value.is_integer() and "e" not in text.lower() else f"{value:.4g}"


def _short(iri: str) -> str:
    """A short display name for ``iri``: its last segment, long hashes cut in the middle."""
    name = local_name(iri.rstrip("/"))
    return name if len(name) <= 28 else name[:18] + "…" + name[-6:]


def _prefixed(text: str) -> str:
    """``text`` with a PREFIX line for each editor prefix it does not declare yet."""
    lines = [f"PREFIX {p}: <{ns}>" for p, ns in EDITOR_PREFIXES.items()
             if f"PREFIX {p}:".lower() not in text.lower()]
    return "\n".join(lines) + ("\n\n" if lines else "") + text


def _vendor_ready(path: str) -> bool:
    """Whether ``static/vendor/<path>`` was installed (``make ui-deps``)."""
    folder = current_app.static_folder
    if folder is None:
        return False
    return (Path(folder) / "vendor" / path).is_file()

