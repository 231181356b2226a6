"""Every UI page has a machine-readable twin (``.json`` or ``Accept: application/json``) and
server-rendered HTML; bad input answers with the endpoint's one error shape."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask import Flask
from ui_fixture import PREDICTION, RAW, RUN_A, RUN_B

PAGES = ["/", "/query", f"/compare?run={quote(RUN_A)}&run={quote(RUN_B)}", "/queries",
         "/queries/lineage?_run=1", f"/queries/epoch_metrics?run={quote(RUN_A)}"]


def _twin(path: str) -> str:
    head, _, query = path.partition("?")
    head = "/index" if head == "/" else head
    return head + ".json" + ("?" + query if query else "")


@pytest.mark.parametrize("path", PAGES)
def test_each_page_has_html_and_a_json_twin(ui_app: Flask, path: str) -> None:
    client = ui_app.test_client()
    html = client.get(path, headers={"Accept": "text/html"})
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert 'rel="alternate" type="application/json"' in html.get_data(as_text=True)
    assert "application/json" in html.headers["Link"]
    by_suffix = client.get(_twin(path))
    by_accept = client.get(path, headers={"Accept": "application/json"})
    assert by_suffix.status_code == by_accept.status_code == 200
    assert by_suffix.get_json()["ok"] is True
    assert by_suffix.get_json() == by_accept.get_json()
    assert "Accept" in by_accept.headers["Vary"]


def test_home_twin_counts(ui_app: Flask) -> None:
    body = ui_app.test_client().get("/index.json").get_json()
    counts = {c["key"]: c["count"] for c in body["categories"]}
    assert counts["predictions"] == 1 and counts["models"] == 4
    assert body["latest_runs"][0]["label"] == "infer-1"


def test_query_editor_settings(ui_app: Flask) -> None:
    body = ui_app.test_client().get("/query.json").get_json()
    assert body["endpoint"] == "/sparql"
    assert body["prefixes"]["provml"] == "https://w3id.org/provml#"
    assert {"q1", "lineage", "compare_runs"} <= {e["name"] for e in body["examples"]}
    assert "PREFIX og:" in body["query"]


def test_compare_twin_and_plots(ui_app: Flask) -> None:
    client = ui_app.test_client()
    body = client.get(f"/compare.json?run={quote(RUN_A)}&run={quote(RUN_B)}").get_json()
    assert body["hyperparameters"]["learning_rate"] == {RUN_A: "0.01", RUN_B: "0.001"}
    assert body["labels"] == {RUN_A: "train-a", RUN_B: "train-b"}
    html = client.get(f"/compare?run={quote(RUN_A)}&run={quote(RUN_B)}").get_data(as_text=True)
    assert html.count("<svg") >= 3 and html.count("<polyline") >= 6
    assert client.get("/compare?run=not%20an%20iri").status_code == 400


def test_named_query_form(ui_app: Flask) -> None:
    client = ui_app.test_client()
    page = client.get(f"/queries/lineage?node={quote(PREDICTION)}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "netherlands.sgy" in page.get_data(as_text=True)
    body = client.get(f"/queries/lineage.json?node={quote(PREDICTION)}").get_json()
    labels = {b.get("label", {}).get("value") for b in body["results"]["results"]["bindings"]}
    assert "netherlands.sgy" in labels
    bad = client.get("/queries/lineage?node=nope", headers={"Accept": "text/html"})
    assert bad.status_code == 400 and "node" in bad.get_data(as_text=True)
    assert client.get("/queries/lineage.json?node=nope").get_json()["ok"] is False
    assert client.get("/queries/no-such-query").status_code == 404
    form = client.get("/queries/lineage").get_data(as_text=True)
    assert 'type="url"' in form and "Results" not in form  # not run until submitted
    assert f'<option value="{PREDICTION}" label="Predictions: f3-facies.npy">' in form  # suggestions


def test_lineage_api(ui_app: Flask) -> None:
    client = ui_app.test_client()
    body = client.get(f"/api/lineage?iri={quote(PREDICTION)}").get_json()
    raw = next(n for n in body["nodes"] if n["iri"] == RAW)
    assert raw["raw"] is True and raw["href"].startswith("/id/data/sha256-1111")
    assert client.get("/api/lineage").status_code == 400
    assert client.get("/api/lineage?iri=not%20an%20iri").status_code == 400


def test_resource_page_embeds_the_lineage_graph(ui_app: Flask) -> None:
    page = ui_app.test_client().get("/id/" + PREDICTION.removeprefix("https://w3id.org/provml/id/"),
                                    headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'id="lineage-graph"' in page and "/api/lineage?iri=" in page
    assert "vendor/cytoscape/cytoscape.min.js" in page


def test_a_parameter_named_run_is_bound(ui_app: Flask) -> None:
    """``epoch_metrics`` takes a ``run``: the form's own submit marker must not shadow it."""
    client = ui_app.test_client()
    body = client.get(f"/queries/epoch_metrics.json?_run=1&run={quote(RUN_B)}").get_json()
    runs = {b["run"]["value"] for b in body["results"]["results"]["bindings"]}
    assert runs == {RUN_B}
    page = client.get(f"/queries/epoch_metrics?_run=1&run={quote(RUN_B)}").get_data(as_text=True)
    results = page[page.index('<section id="results">'):]
    assert "0.05" in results and "train-b" in results and "train-a" not in results
