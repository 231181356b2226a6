"""/api/queries: the named queries' catalogue, and running one with typed parameters."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from endpoint_servers import AUTH, LiveServer
from flask import Flask
from flask.testing import FlaskClient
from test_events_api import batch

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph
from provml.query.named import list_queries
from provml.store import open_store

MODEL_LOCATION = "models/ev-1.pt"


def scored_batch() -> list[dict[str, object]]:
    events = batch()
    events[2]["generated"].append(  # type: ignore[attr-defined]
        {"name": "accuracy", "role": "evaluation", "value": 0.9, "about": "model"})
    return events


@pytest.fixture(scope="module")
def kg() -> Iterator[KnowledgeGraph]:
    graph = KnowledgeGraph(open_store())
    graph.ingest_events(scored_batch())
    yield graph
    graph.close()


@pytest.fixture(scope="module")
def app(kg: KnowledgeGraph) -> Iterator[Flask]:
    application = create_app({"TOKEN": "t", "BASE_URL": "http://kg.example.org"}, kg=kg)
    yield application
    application.extensions["provml.close"]()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_catalogue_lists_every_query_with_typed_parameters(client: FlaskClient) -> None:
    response = client.get("/api/queries")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    names = [q["name"] for q in body["queries"]]
    assert names == [q.name for q in list_queries()]
    q3 = next(q for q in body["queries"] if q["name"] == "q3")
    assert q3["paper"] == "Q3" and q3["title"] and q3["description"]
    assert q3["url"] == "http://kg.example.org/api/queries/q3"
    metric = next(p for p in q3["parameters"] if p["name"] == "metric")
    assert metric["type"] == "string" and metric["example"] == "loss"
    assert metric["required"] is False


def test_run_returns_sparql_json(client: FlaskClient) -> None:
    response = client.get("/api/queries/best_model?metric=accuracy")
    assert response.status_code == 200
    assert response.mimetype == "application/sparql-results+json"
    body = response.get_json()
    assert "model" in body["head"]["vars"]
    [row] = body["results"]["bindings"]
    assert row["metric"]["value"] == "accuracy"
    assert float(row["score"]["value"]) == 0.9


def test_format_csv_and_accept_csv(client: FlaskClient) -> None:
    for response in (
        client.get("/api/queries/best_model?metric=accuracy&format=csv"),
        client.get("/api/queries/best_model?metric=accuracy", headers={"Accept": "text/csv"}),
    ):
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        assert [r["metric"] for r in rows] == ["accuracy"]


def test_a_parameter_filters(client: FlaskClient) -> None:
    response = client.get("/api/queries/best_model?metric=loss")
    assert response.status_code == 200
    assert response.get_json()["results"]["bindings"] == []


def test_post_form_and_json(client: FlaskClient) -> None:
    form = client.post("/api/queries/best_model", data={"metric": "accuracy"})
    as_json = client.post("/api/queries/best_model", json={"metric": "accuracy",
                                                           "higher_is_better": True})
    for response in (form, as_json):
        assert response.status_code == 200
        assert len(response.get_json()["results"]["bindings"]) == 1


def test_unknown_query_is_404(client: FlaskClient) -> None:
    response = client.get("/api/queries/no_such_query")
    assert response.status_code == 404
    body = response.get_json()
    assert body == {"ok": False, "status": 404, "error": body["error"], "query": "no_such_query"}
    assert "no_such_query" in body["error"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("best_model?higher_is_better=perhaps", "boolean"), ("lineage?node=not-an-iri", "iri")],
)
def test_bad_parameter_value_is_400_naming_it_and_its_type(client: FlaskClient, query: str,
                                                           expected: str) -> None:
    response = client.get(f"/api/queries/{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["ok"] is False and body["status"] == 400
    assert body["parameter"] == query.split("?")[1].split("=")[0]
    assert body["expected"] == expected
    assert body["parameter"] in body["error"]


def test_unknown_parameter_is_400(client: FlaskClient) -> None:
    response = client.get("/api/queries/best_model?colour=red")
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "colour"


def test_injection_through_a_parameter_changes_nothing(client: FlaskClient) -> None:
    evil = 'accuracy" } } SELECT * WHERE { ?s ?p ?o } #'
    response = client.get("/api/queries/best_model", query_string={"metric": evil})
    assert response.status_code == 200
    assert response.get_json()["results"]["bindings"] == []


def test_bad_format_is_400_and_unacceptable_accept_is_406(client: FlaskClient) -> None:
    assert client.get("/api/queries/q3?format=pdf").status_code == 400
    response = client.get("/api/queries/q3", headers={"Accept": "image/png"})
    assert response.status_code == 406 and response.get_json()["status"] == 406
    assert "Accept" in response.headers.get("Vary", "")  # (it depends on Accept: a docs audit)


def test_row_limit_is_flagged(kg: KnowledgeGraph) -> None:
    limited = create_app({"MAX_ROWS": 1}, kg=kg)
    try:
        response = limited.test_client().get("/api/queries/lineage")  # 5 rows on this data
        assert response.status_code == 200
        assert len(response.get_json()["results"]["bindings"]) == 1
        assert response.headers["X-Provml-Truncated"] == "true"
    finally:
        limited.extensions["provml.close"]()


def test_every_named_query_runs_over_a_real_socket(live_server: LiveServer) -> None:
    assert live_server("POST", "/api/events", json=scored_batch(), headers=AUTH).status_code == 202
    catalogue = live_server("GET", "/api/queries").json()["queries"]
    for entry in catalogue:
        assert entry["url"] == f"{live_server.url}/api/queries/{entry['name']}"
        response = live_server.session.get(entry["url"], timeout=30)
        assert response.status_code == 200, (entry["name"], response.text)
        assert "results" in response.json()
    best = live_server("GET", "/api/queries/best_model", params={"metric": "accuracy",
                                                                "format": "csv"})
    assert best.status_code == 200 and "accuracy" in best.text


@pytest.mark.parametrize(("method", "url", "body"), [
    ("get", "/api/queries/best_model?metric=accuracy&metric=loss", None),
    ("post", "/api/queries/best_model?metric=accuracy", {"data": {"metric": "loss"}}),
    ("post", "/api/queries/best_model", {"data": {"metric": ["accuracy", "loss"]}}),
    ("post", "/api/queries/best_model", {"json": {"metric": ["accuracy"]}}),
    ("post", "/api/queries/best_model", {"json": {"metric": {"value": "accuracy"}}}),
    ("post", "/api/queries/best_model", {"data": '{"metric": "accuracy", "metric": "loss"}',
                                         "content_type": "application/json"}),
])
def test_a_parameter_given_twice_or_as_json_array_or_object_is_400(
        client: FlaskClient, method: str, url: str, body: dict[str, object] | None) -> None:
    """One value was bound silently: the first of a repeated parameter, the form's over the
    URL's, a JSON array's Python text (``['accuracy']``) (hostile probe, 17th session)."""
    response = getattr(client, method)(url, **(body or {}))
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()
    assert error["ok"] is False and error["parameter"] == "metric"
    assert "'metric'" in error["error"]


def test_a_parameters_body_past_the_form_limit_is_refused_before_it_is_parsed(
        client: FlaskClient) -> None:
    """JSON parameters were parsed up to MAX_BODY_MB without a token: 63 MB of ``[[],…]`` took
    the server 1.7 GB before its 400 (memory probe, 18th session). Past MAX_FORM_MB (1 MiB),
    JSON and forms alike: 413."""
    nested = b'{"metric": [' + b"[]," * 400_000 + b"[]]}"
    response = client.post("/api/queries/best_model", data=nested,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "MAX_FORM_MB" in response.get_json()["error"]
    small = client.post("/api/queries/best_model", json={"metric": "accuracy"})
    assert small.status_code == 200


@pytest.mark.parametrize("accept", ["application/json", "*/*"])
def test_a_parameter_named_by_a_lone_surrogate_is_400_in_the_error_shape(client: FlaskClient,
                                                                        accept: str) -> None:
    """The error answer quoted the unknown name, and encoding the lone surrogate failed: a 500
    with Werkzeug's page (a hostile probe, 20th session)."""
    response = client.post("/api/queries/best_model", data='{"\\ud800": "x"}',
                           headers={"Content-Type": "application/json", "Accept": accept})
    assert response.status_code == 400
    assert response.get_json()["ok"] is False and "ud800" in response.get_json()["error"]


@pytest.mark.parametrize("query", ["name=x", "endpoint=x", "_method=POST", "_anchor=a&name=", "model=urn:x&endpoint="])
def test_the_query_page_takes_any_parameter_name(client: FlaskClient, query: str) -> None:
    """The page passed the query string to url_for as keywords: `name`, `endpoint`, `_method`
    are url_for's own, and the page answered 500 (a hostile probe, 20th session)."""
    response = client.get("/queries/q1?" + query, headers={"Accept": "text/html"})
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        assert "/queries/q1.json" in response.get_data(as_text=True)
