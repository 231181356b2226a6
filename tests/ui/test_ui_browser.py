"""The web UI in headless Debian chromium over a real loopback socket: each page opens and shows
the fixture store, the query editor runs a query and shows its table, the lineage graph clicks
through from a prediction to its raw seismic file, two runs are compared with their curves, a
named query runs from its form, and the core content reads without JavaScript. Screenshots in
``test-artifacts/screenshots/``; page load times in the output."""

from __future__ import annotations

import re

import pytest
from conftest import Visit
from ui_fixture import PREDICTION, RAW, RUN_A, RUN_B

pytestmark = pytest.mark.browser

PREDICTION_PAGE = "/id/" + PREDICTION.removeprefix("https://w3id.org/provml/id/")


def test_home_shows_what_the_store_holds(visit: Visit) -> None:
    visit.open("/")
    page = visit.page
    assert page.locator("#card-models .count").inner_text() == "4"
    assert page.locator("#card-predictions .count").inner_text() == "1"
    assert page.locator("#card-studies").get_by_text("seismic-stratigraphy").is_visible()
    runs = page.locator("#latest-runs tbody tr")
    assert runs.count() == 5
    assert runs.first.inner_text().startswith("\tinfer-1") or "infer-1" in runs.first.inner_text()
    visit.shot("home")
    assert visit.errors == []


def test_query_editor_runs_a_query_and_shows_the_table(visit: Visit) -> None:
    visit.open("/query")
    page = visit.page
    page.wait_for_selector(".yasqe .CodeMirror")
    text = page.evaluate("() => window.provmlYasgui.getTab().getQuery()")
    for prefix in ("prov:", "provml:", "mls:", "rdfs:", "xsd:", "skos:", "og:"):
        assert f"PREFIX {prefix}" in text
    page.select_option("#examples", "q1")
    assert "provml" in page.evaluate("() => window.provmlYasgui.getTab().getQuery()").lower()
    query = ("PREFIX provml: <https://w3id.org/provml#>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
             "SELECT DISTINCT ?model ?label WHERE { ?model a provml:Model ; rdfs:label ?label } ORDER BY ?label")
    page.evaluate("(q) => { window.provmlYasgui.getTab().setQuery(q); }", query)
    page.click(".yasqe_queryButton")
    rows = page.locator(".yasr table tbody tr")
    rows.first.wait_for()
    cells = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert len(cells) == 4
    assert any("model188.hdf5" in c for c in cells)
    visit.shot("query-editor-table")
    with page.expect_navigation():  # an instance IRI in the table opens its page here
        page.locator(".yasr table tbody a", has_text="747261696e2d61313838").first.click()
    assert "model188.hdf5" in page.locator("h1").inner_text()
    page.go_back(wait_until="load")
    page.wait_for_selector(".yasqe .CodeMirror")
    page.evaluate("(q) => { window.provmlYasgui.getTab().setQuery(q); }", query)
    page.click(".yasqe_queryButton")
    rows.first.wait_for()
    page.click(".yasr .select_chart")
    page.wait_for_timeout(200)
    assert not page.locator(".yasr .select_chart").is_disabled()
    page.evaluate("(q) => { window.provmlYasgui.getTab().setQuery(q); }",
                  "PREFIX provml: <https://w3id.org/provml#>\nPREFIX prov: <http://www.w3.org/ns/prov#>\n"
                  "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
                  "SELECT DISTINCT ?epoch ?loss ?mean_iou WHERE {\n"
                  f"  ?e prov:wasInformedBy/prov:wasInformedBy <{RUN_B}> ; provml:iteration ?epoch .\n"
                  "  ?l prov:wasGeneratedBy ?e ; prov:value ?loss ; prov:wasDerivedFrom/rdfs:label 'loss' .\n"
                  "  ?m prov:wasGeneratedBy ?e ; prov:value ?mean_iou ; prov:wasDerivedFrom/rdfs:label 'mean_iou' .\n"
                  "} ORDER BY ?epoch")
    page.click(".yasqe_queryButton")
    page.click(".yasr .select_chart")
    page.locator(".yasr-chart svg polyline").first.wait_for()
    assert page.locator(".yasr-chart svg polyline").count() == 2  # loss and mean_iou over the epochs
    visit.shot("query-editor-chart")
    assert [e for e in visit.errors if "favicon" not in e] == []


def test_lineage_clicks_through_from_a_prediction_to_its_raw_file(visit: Visit) -> None:
    visit.open(PREDICTION_PAGE)
    page = visit.page
    page.wait_for_selector("#lineage-graph[data-ready=true]")
    kinds = page.evaluate("() => window.provmlLineage.nodes().map(n => n.data('kind'))")
    assert {"prediction", "model", "dataset", "data", "execution"} <= set(kinds)
    visit.shot("resource-prediction-lineage")
    box = page.locator("#lineage-canvas canvas").last.bounding_box()
    assert box is not None
    pos = page.evaluate("(iri) => window.provmlLineage.getElementById(iri).renderedPosition()", RAW)
    with page.expect_navigation():
        page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    visit.timing("raw file page (after the click)")
    assert page.url.endswith("/id/data/sha256-" + RAW.rsplit("-", 1)[1])
    assert "netherlands.sgy" in page.locator("h1").inner_text()
    page.wait_for_selector("#lineage-graph[data-ready=true]")
    forward = page.evaluate("() => window.provmlLineage.nodes().map(n => n.id())")
    assert PREDICTION in forward  # forward from the raw file reaches the prediction
    visit.shot("resource-raw-file-lineage")


def test_compare_two_runs_shows_their_curves(visit: Visit) -> None:
    visit.open("/compare")
    page = visit.page
    page.check(f"input[name=run][value='{RUN_A}']")
    page.check(f"input[name=run][value='{RUN_B}']")
    with page.expect_navigation():
        page.click("#run-picker button[type=submit]")
    visit.timing("/compare?run=train-a&run=train-b")
    assert page.url.startswith(visit.base + "/compare?")
    row = page.locator("#hyperparameters tr", has_text="learning_rate").inner_text()
    assert "0.01" in row and "0.001" in row
    assert "0.722" in page.locator("#metrics tr", has_text="mean_iou").inner_text()
    charts = page.locator("#curves svg.chart")
    assert charts.count() >= 2
    assert page.locator("#curves svg.chart[aria-label=loss] polyline").count() == 2
    visit.shot("compare")


def test_named_query_form_runs_with_typed_parameters(visit: Visit) -> None:
    visit.open("/queries")
    page = visit.page
    assert page.locator("a[href='/ontology']").first.is_visible()
    with page.expect_navigation():
        page.click("#q-lineage h2 a")
    page.fill("#p-node", PREDICTION)
    with page.expect_navigation():
        page.click("#query-form button[type=submit]")
    table = page.locator("#results table").inner_text()
    assert "netherlands.sgy" in table and "model188.hdf5" in table
    visit.shot("named-query-lineage")
    page.fill("#p-node", "not an iri")
    page.evaluate("() => document.getElementById('p-node').type = 'text'")
    with page.expect_navigation():
        page.click("#query-form button[type=submit]")
    assert "node" in page.locator(".error").inner_text()
    visit.open("/queries")
    visit.shot("named-queries")


def test_core_content_reads_without_javascript(visit_nojs: Visit) -> None:
    visit_nojs.open("/")
    page = visit_nojs.page
    assert "train-a" in page.locator("#latest-runs").inner_text()
    visit_nojs.open(f"/compare?run={RUN_A}&run={RUN_B}")
    assert page.locator("#curves svg.chart").count() >= 2
    visit_nojs.open(PREDICTION_PAGE)
    assert "predict" in page.locator("#backward").inner_text()
    assert page.locator("#lineage-graph").is_hidden()  # the graph needs JavaScript ...
    with page.expect_navigation():
        page.click("#full-lineage")  # ... the whole lineage reads as a table without it
    assert "netherlands.sgy" in page.locator("#results table").inner_text()
    visit_nojs.open("/query")
    assert page.locator("#plain-query textarea").is_visible()
    assert re.search(r"PREFIX provml:", page.locator("#plain-query textarea").input_value())
    visit_nojs.shot("query-editor-nojs")
