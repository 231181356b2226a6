"""The named queries over REST: ``/api/queries`` lists them, ``/api/queries/<name>`` runs one.

- ``GET /api/queries`` — ``{"ok": true, "queries": [{name, title, description, paper,
  parameters: [{name, type, description, example, required, default}], url}, ...]}``.
- ``GET|POST /api/queries/<name>?param=value&format=json|csv|tsv|xml`` — the SPARQL results
  (JSON by default; ``format`` or else ``Accept`` chooses). POST takes the parameters as a form or
  as a JSON object. Parameters are bound as typed terms by the library (never spliced into text).
  404 for an unknown query, 400 for a bad parameter (naming it and its expected type), 406 when
  no offered format is acceptable, 503 past the time limit; ``X-Provml-Truncated: true`` when the
  row limit cut the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from provml.endpoint.auth import require_read
from provml.endpoint.context import config, public_url, runner, store
from provml.endpoint.errors import abort_json
from provml.endpoint.limits import InputRefused, check_json_depth
from provml.endpoint.negotiation import RESULTS_OFFERS, VARY, best_match
from provml.endpoint.sparql.outcomes import QueryTimeout
from provml.endpoint.sparql.results import render
from provml.errors import ParameterError, QueryNotFound
from provml.query.named import NamedQuery, bind, get_query, list_queries

__all__ = ["FORMAT_NAMES", "bp"]

bp = Blueprint("queries_api", __name__)

#: values of the ``format`` parameter
FORMAT_NAMES: dict[str, str] = {
    "json": "application/sparql-results+json",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "xml": "application/sparql-results+xml",
}


def _listing(query: NamedQuery) -> dict[str, Any]:
    entry = query.to_dict()
    entry["url"] = public_url(url_for("queries_api.run", name=query.name))
    return entry


@bp.get("/api/queries")
@require_read
def index() -> Response:
    """The catalogue of named queries with their typed parameters."""
    return jsonify({"ok": True, "queries": [_listing(q) for q in list_queries()]})


@bp.route("/api/queries/<name>", methods=["GET", "POST"])
@require_read
def run(name: str) -> Response:
    """Run the named query ``name`` with the request's parameters."""
    params = _parameters()
    explicit = "format" in params
    media = _media(params.pop("format", None))
    try:
        text = bind(get_query(name), params)
        outcome = runner().run(store(), text)
    except QueryNotFound as exc:
        abort_json(404, str(exc), query=name)
    except ParameterError as exc:
        abort_json(400, str(exc), parameter=exc.fields.get("name"),
                   expected=_expected_type(name, exc.fields.get("name")))
    except QueryTimeout:
        abort_json(503, "the query ran past the time limit (TIMEOUT_S); add parameters to narrow it",
                   headers={"Retry-After": "1"})
    # written as /sparql writes results (one negotiation: never broken XML, the client's next
    # choice, else 406); format= names the one media type
    rendered = render(outcome, media if explicit else request.headers.get("Accept"))
    if rendered.status != 200:
        abort_json(406, rendered.refusal + ("; ask for format=json, csv or tsv" if explicit else ""),
                   headers=VARY)
    response = Response(rendered.body, content_type=rendered.content_type)
    if outcome.truncated:
        response.headers["X-Provml-Truncated"] = "true"
    response.vary.add("Accept")
    return response


def _parameters() -> dict[str, str]:
    """The query parameters: URL arguments and a POSTed form or JSON object. A parameter given
    twice, or given a JSON array or object, is a 400 naming it: a query binds each parameter to
    one value, and one of them (or the array's text) would be bound silently."""
    params = _once(request.args.lists())
    limit = int(config().max_form_mb * 1024 * 1024)
    if request.method == "POST" and (request.content_length or 0) > limit:
        # (parsed whole: JSON costs ≈ 27 times its size, 63 MB of [[],…] took 1.7 GB)
        abort_json(413, f"the parameters' body ({request.content_length} bytes) is larger than "
                        f"the limit for it ({limit} bytes, MAX_FORM_MB): a named query's "
                        "parameters are a few values")
    if request.method == "POST":
        if request.is_json:
            try:
                check_json_depth(request.get_data(), what="JSON body")
            except InputRefused as exc:
                abort_json(400, str(exc))
            try:  # (each key once: json.loads would keep the last of a repeated one)
                body = json.loads(request.get_data(), object_pairs_hook=_once_keys)
            except ValueError:  # not JSON
                body = None
            if not isinstance(body, dict):
                abort_json(400, "POST the parameters as a JSON object or as a form")
            posted = {str(k): _text(str(k), v) for k, v in body.items()}
        else:
            posted = _once(request.form.lists())
        for name in posted.keys() & params.keys():
            _twice(name, 2)
        params.update(posted)
    return params


def _once(lists: Iterable[tuple[str, list[str]]]) -> dict[str, str]:
    params = {}
    for name, values in lists:
        if len(values) > 1:
            _twice(name, len(values))
        params[name] = values[0]
    return params


def _once_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            _twice(key, 2)
        seen[key] = value
    return seen


def _twice(name: str, times: int) -> None:
    abort_json(400, f"the parameter {name[:100]!r} is given {times} times (in the URL, the "
                    f"form or the JSON body); give it once", parameter=name[:100])


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        kind = "an array" if isinstance(value, list) else "an object"
        abort_json(400, f"the parameter {name[:100]!r} is {kind}; give it a string, a number "
                        f"or a boolean", parameter=name[:100])
    return "" if value is None else str(value)


def _media(name: str | None) -> str:
    if name is not None:
        if name not in FORMAT_NAMES:
            abort_json(400, f"format must be one of {', '.join(FORMAT_NAMES)}, not {name!r}",
                       parameter="format")
        return FORMAT_NAMES[name]
    media = best_match(request.headers.get("Accept"), RESULTS_OFFERS)
    if media is None:
        abort_json(406, "no acceptable format; offered: " + ", ".join(RESULTS_OFFERS), headers=VARY)
    return media


def _expected_type(query: str, parameter: str | None) -> str | None:
    for p in get_query(query).parameters:
        if p.name == parameter:
            return p.type
    return None
