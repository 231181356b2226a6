"""Instance IRIs dereference at /id/...: an HTML page or RDF by Accept or suffix, PROV-AQ links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyoxigraph as ox
import pytest
from endpoint_servers import AUTH, LiveServer
from flask import Flask
from flask.testing import FlaskClient
from test_events_api import batch

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph, open_kg
from provml.vocab import PROV

BASE = "https://w3id.org/provml/id/"
PUBLIC = "http://kg.example.org"
TRAIN = BASE + "run/ev-1/train"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


ODD = "run/ev-1/train/used/batch%20size%2Fgpu"  # slug("batch size/gpu"): %-escapes in the IRI
LINE = "run/ev-1/train/used/depth%0Aunit"  # slug("depth\nunit"): a line break, decoded before routing


def events() -> list[dict[str, Any]]:
    out = batch()
    out[1]["used"].append({"name": "batch size/gpu", "role": "hyperparameter", "value": 32})
    out[1]["used"].append({"name": "depth\nunit", "value": 1})
    return out


@pytest.fixture(scope="module")
def kg() -> Iterator[KnowledgeGraph]:
    with open_kg() as graph:
        graph.ingest_events(events())
        yield graph


@pytest.fixture(scope="module")
def app(kg: KnowledgeGraph) -> Iterator[Flask]:
    application = create_app({"TOKEN": "t", "BASE_URL": PUBLIC}, kg=kg)
    yield application
    application.extensions["provml.close"]()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def model_iri(kg: KnowledgeGraph) -> str:
    [row] = list(kg.store.query(f"SELECT ?m WHERE {{ ?m <{PROV.wasGeneratedBy.value}> <{TRAIN}> }}"))
    return str(row["m"].value)


def parse(response: Any, fmt: ox.RdfFormat) -> set[ox.Triple]:
    return {q.triple for q in ox.parse(response.data, format=fmt, base_iri=BASE)}


def test_html_page_lists_properties_incoming_links_and_lineage(client: FlaskClient,
                                                              kg: KnowledgeGraph) -> None:
    response = client.get("/id/run/ev-1/train", headers=HTML)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<h1>train</h1>" in page
    assert "training execution" in page  # the class label from the ontology graph
    assert 'href="/ontology#TrainingExecution"' in page  # PROV-ML terms link to /ontology
    assert '<a href="/ontology#status" title="https://w3id.org/provml#status">status</a>' in page
    assert "2023-11-14T22:13:22Z" in page  # prov:endedAtTime, a literal
    backward = page[page.index('id="backward"'):page.index('id="forward"')]
    assert 'href="/id/run/ev-1"' in backward  # informed by the workflow execution
    assert "train.csv" in backward  # used the training set (labelled by its location)
    forward = page[page.index('id="forward"'):page.index('id="properties"')]
    model = model_iri(kg)
    assert f'href="/id/{model[len(BASE):]}"' in forward  # generated the model


def test_every_instance_iri_links_to_its_local_page(client: FlaskClient) -> None:
    page = client.get("/id/run/ev-1", headers=HTML).get_data(as_text=True)
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert any(h.startswith("/id/run/ev-1/") for h in hrefs)  # incoming: the task execution
    assert not [h for h in hrefs if h.startswith(BASE)]


def test_iris_with_percent_escapes_dereference(client: FlaskClient) -> None:
    page = client.get("/id/run/ev-1/train", headers=HTML).get_data(as_text=True)
    assert f'href="/id/{ODD}"' in page  # linked as the IRI writes it, not quoted twice
    response = client.get(f"/id/{ODD}", headers=HTML)
    assert response.status_code == 200
    assert "batch size/gpu" in response.get_data(as_text=True)
    turtle = client.get(f"/id/{ODD}.ttl")
    assert turtle.status_code == 200 and f"<{BASE}{ODD}>" in turtle.get_data(as_text=True)



def test_a_name_with_a_line_break_has_a_page(client: FlaskClient) -> None:
    """Werkzeug's ``path`` matched no line break, and the routing decodes ``%0A``: the page of
    a value or attribute whose name held a newline, linked from its run's page, was a 404 (a
    probe, 22nd session)."""
    page = client.get("/id/run/ev-1/train", headers=HTML).get_data(as_text=True)
    assert f'href="/id/{LINE}"' in page
    response = client.get(f"/id/{LINE}", headers=HTML)
    assert response.status_code == 200, response.get_data(as_text=True)[:200]
    links = set(re.findall(r'href="(/id/[^"]+)"', response.get_data(as_text=True)))
    assert any("attribute/depth%0Aunit" in link for link in links)
    for link in links:
        assert client.get(link, headers=HTML).status_code == 200, link
    assert client.get(f"/id/{LINE}.nt").status_code == 200


def test_graph_names_dereference(client: FlaskClient) -> None:
    train = client.get("/id/run/ev-1/train", headers=HTML).get_data(as_text=True)
    assert 'href="/id/bundle/ev-1"' in train  # the graph it appears in
    response = client.get("/id/graph/plans", headers=HTML)  # a graph no triple mentions
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Named graph" in page
    assert 'href="/store?graph=https%3A//w3id.org/provml/id/graph/plans"' in page


def test_html_has_machine_readable_twins(client: FlaskClient) -> None:
    page = client.get("/id/run/ev-1/train", headers=HTML).get_data(as_text=True)
    for suffix, media in ((".ttl", "text/turtle"), (".jsonld", "application/ld+json")):
        assert f'<link rel="alternate" type="{media}" href="{PUBLIC}/id/run/ev-1/train{suffix}">' in page


@pytest.mark.parametrize(
    ("accept", "mimetype", "fmt"),
    [
        ("text/turtle", "text/turtle", ox.RdfFormat.TURTLE),
        ("application/ld+json", "application/ld+json", ox.RdfFormat.JSON_LD),
        ("application/rdf+xml", "application/rdf+xml", ox.RdfFormat.RDF_XML),
        ("application/n-triples", "application/n-triples", ox.RdfFormat.N_TRIPLES),
        ("*/*", "text/turtle", ox.RdfFormat.TURTLE),
        ("text/html;q=0.5, application/ld+json", "application/ld+json", ox.RdfFormat.JSON_LD),
    ],
)
def test_rdf_by_accept(client: FlaskClient, accept: str, mimetype: str, fmt: ox.RdfFormat) -> None:
    response = client.get("/id/run/ev-1/train", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert "Accept" in response.headers["Vary"]
    triples = parse(response, fmt)
    train, run = ox.NamedNode(TRAIN), ox.NamedNode(BASE + "run/ev-1")
    assert ox.Triple(train, PROV.wasInformedBy, run) in triples  # outgoing
    assert any(t.object == train and t.predicate == PROV.wasGeneratedBy for t in triples)  # incoming


@pytest.mark.parametrize(
    ("suffix", "mimetype", "fmt"),
    [
        (".ttl", "text/turtle", ox.RdfFormat.TURTLE),
        (".jsonld", "application/ld+json", ox.RdfFormat.JSON_LD),
        (".rdf", "application/rdf+xml", ox.RdfFormat.RDF_XML),
        (".nt", "application/n-triples", ox.RdfFormat.N_TRIPLES),
    ],
)
def test_suffix_wins_over_accept(client: FlaskClient, suffix: str, mimetype: str,
                                 fmt: ox.RdfFormat) -> None:
    response = client.get(f"/id/run/ev-1/train{suffix}", headers=HTML)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert ox.Triple(ox.NamedNode(TRAIN), PROV.wasInformedBy, ox.NamedNode(BASE + "run/ev-1")) in parse(
        response, fmt
    )


def test_prov_aq_link_headers(client: FlaskClient) -> None:
    response = client.get("/id/run/ev-1/train", headers={"Accept": "text/turtle"})
    link = response.headers["Link"]
    assert (f'<{PUBLIC}/id/run/ev-1/train>; rel="http://www.w3.org/ns/prov#has_provenance"; '
            f'anchor="{TRAIN}"') in link
    assert f'<{PUBLIC}/sparql>; rel="http://www.w3.org/ns/prov#has_query_service"' in link
    assert f'<{PUBLIC}/id/run/ev-1/train.jsonld>; rel="alternate"; type="application/ld+json"' in link


def test_unknown_resource_is_404_in_the_one_error_shape(client: FlaskClient) -> None:
    response = client.get("/id/run/no-such-run", headers={"Accept": "application/json"})
    assert response.status_code == 404
    body = response.get_json()
    assert body["ok"] is False and body["status"] == 404
    assert BASE + "run/no-such-run" in body["error"]
    browser = client.get("/id/run/no-such-run.ttl", headers=HTML)
    assert browser.status_code == 404 and browser.mimetype == "text/html"


def test_no_acceptable_format_is_406(client: FlaskClient) -> None:
    response = client.get("/id/run/ev-1/train", headers={"Accept": "image/png"})
    assert response.status_code == 406
    assert response.get_json()["status"] == 406


def test_read_token_guards_pages(kg: KnowledgeGraph) -> None:
    guarded = create_app({"TOKEN": "w", "READ_TOKEN": "r"}, kg=kg)
    try:
        client = guarded.test_client()
        assert client.get("/id/run/ev-1/train").status_code == 401
        ok = client.get("/id/run/ev-1/train", headers={"Authorization": "Bearer r"})
        assert ok.status_code == 200
    finally:
        guarded.extensions["provml.close"]()


def test_dereference_over_a_real_socket(live_server: LiveServer) -> None:
    """Capture over HTTP, then follow the run's IRI as a browser and as an RDF client would."""
    posted = live_server("POST", "/api/events", json=events(), headers=AUTH)
    assert posted.status_code == 202
    turtle = live_server("GET", "/id/run/ev-1/train", headers={"Accept": "text/turtle"})
    assert turtle.status_code == 200 and turtle.headers["Content-Type"].startswith("text/turtle")
    assert f"<{live_server.url}/sparql>" in turtle.headers["Link"]  # the request's own host
    assert ox.Triple(ox.NamedNode(TRAIN), PROV.wasInformedBy, ox.NamedNode(BASE + "run/ev-1")) in {
        q.triple for q in ox.parse(turtle.content, format=ox.RdfFormat.TURTLE)
    }
    html = live_server("GET", "/id/run/ev-1/train", headers=HTML)
    assert html.status_code == 200 and "<h1>train</h1>" in html.text
    odd = live_server("GET", f"/id/{ODD}.nt")  # the front keeps the raw URI (REQUEST_URI): %2F stays a %2F
    assert odd.status_code == 200 and odd.headers["Content-Type"] == "application/n-triples"
    line = live_server("GET", f"/id/{LINE}", headers=HTML)
    assert line.status_code == 200 and "depth" in line.text
    css = live_server("GET", "/static/provml.css")
    assert css.status_code == 200 and "body" in css.text


def test_application_json_gets_compacted_json_ld(client: FlaskClient) -> None:
    """`Accept: application/json` is answered (it was 406) with compacted JSON-LD."""
    response = client.get("/id/run/ev-1/train", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["@context"]["prov"] == "http://www.w3.org/ns/prov#"
    assert ox.Triple(ox.NamedNode(TRAIN), PROV.wasInformedBy, ox.NamedNode(BASE + "run/ev-1")) in parse(
        response, ox.RdfFormat.JSON_LD)


@pytest.mark.parametrize(("profile", "compacted"), [
    ("http://www.w3.org/ns/json-ld#compacted", True),
    ("http://www.w3.org/ns/json-ld#expanded", False),
    (None, True),
])
def test_json_ld_profile_is_honoured(client: FlaskClient, profile: str | None, compacted: bool) -> None:
    accept = "application/ld+json" + (f';profile="{profile}"' if profile else "")
    response = client.get("/id/run/ev-1/train", headers={"Accept": accept})
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    expected = profile or "http://www.w3.org/ns/json-ld#compacted"
    assert response.headers["Content-Type"] == f'application/ld+json; profile="{expected}"'
    document = response.get_json()
    assert isinstance(document, dict) == compacted and ("@context" in document if compacted else True)
    assert ox.Triple(ox.NamedNode(TRAIN), PROV.wasInformedBy, ox.NamedNode(BASE + "run/ev-1")) in parse(
        response, ox.RdfFormat.JSON_LD)


def test_a_hub_nodes_json_ld_page_is_answered_and_whole(live_server: LiveServer) -> None:
    """A node with 10,000 links each way (a plan shared by many runs reaches the page's cap):
    its JSON-LD page took 100 s of a request thread on the server, past every time limit, as
    pyld's RDF-to-JSON-LD took time in the square of a node's values of one property (a hostile
    probe, 20th session). It is answered now (well within the client's 30 s) and reads back
    as the page's triples."""
    hub = BASE + "plan/shared"
    triples = " ".join(f"<{BASE}run/r{i}> <{PROV.used.value}> <{hub}> . <{hub}> <{BASE}p> \"v{i}\" ."
                       for i in range(10_000))
    wrote = live_server("POST", "/sparql", data={"update": f"INSERT DATA {{ {triples} }}"}, headers=AUTH)
    assert wrote.status_code == 204, wrote.text
    for accept in ("application/ld+json", 'application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded"'):
        page = live_server("GET", "/id/plan/shared", headers={"Accept": accept})  # (30 s)
        assert page.status_code == 200
        got = {q.triple for q in ox.parse(page.content, format=ox.RdfFormat.JSON_LD)}
        assert len(got) == 20_000
        assert ox.Triple(ox.NamedNode(BASE + "run/r9999"), PROV.used, ox.NamedNode(hub)) in got


def test_an_iri_with_a_script_scheme_is_shown_not_linked(live_server: LiveServer) -> None:
    """A `javascript:` IRI in the data (anyone with the write token can write one) became a
    link on the resource page, and a node of the lineage graph navigated to it (a hostile probe,
    20th session). Such IRIs are shown, not linked, and every page says which scripts may run."""
    node = BASE + "run/xss/train"
    for iri in ("javascript:alert(document.domain)", "JavaScript:alert(1)", "data:text/html;base64,PHNjcmlwdD4="):
        wrote = live_server("POST", "/sparql", headers=AUTH, data={
            "update": f"INSERT DATA {{ <{node}> <{PROV.used.value}> <{iri}> }}"})
        assert wrote.status_code == 204, wrote.text
    page = live_server("GET", "/id/run/xss/train", headers=HTML)
    assert page.status_code == 200 and "alert(document.domain)" in page.text  # shown ...
    hrefs = re.findall(r'href="([^"]*)"', page.text)
    assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:")) or not h], hrefs  # ... not linked
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_several_byte_ranges_get_the_whole_file(client: FlaskClient) -> None:
    """Werkzeug serves one range: several satisfiable ranges got a 416 (a hostile probe, 20th
    session). A server may ignore Range: the whole file, 200; one range stays a 206."""
    whole = client.get("/static/provml.css")
    for ranges in ("bytes=0-10,20-30", "bytes=0-10, 5-8"):
        with client.get("/static/provml.css", headers={"Range": ranges}) as answer:
            assert answer.status_code == 200 and answer.data == whole.data
    with client.get("/static/provml.css", headers={"Range": "bytes=0-10"}) as one:
        assert one.status_code == 206 and one.data == whole.data[:11]
    whole.close()
