"""/sparql: the SPARQL 1.1 Protocol beyond the W3C suite — exact statuses, every result format,
q-values, dataset parameters that really restrict, UTF-8 round trips, the Service Description."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from endpoint_servers import LiveServer
from flask.testing import FlaskClient
from pyoxigraph import (
    NamedNode,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    RdfFormat,
    parse,
    parse_query_results,
)

from provml.knowledge import KnowledgeGraph

G1, G2 = "http://example.org/g1", "http://example.org/g2"
DATA = f"""
<{G1}> {{ <http://example.org/a> <http://example.org/p> "in g1" . }}
<{G2}> {{ <http://example.org/b> <http://example.org/p> "in g2" . }}
"""
SELECT = "SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o } ORDER BY ?s"
UPDATE = "application/sparql-update"


@pytest.fixture
def loaded(kg: KnowledgeGraph) -> KnowledgeGraph:
    kg.store.load(DATA.encode(), format=RdfFormat.TRIG)
    return kg


def _rows(response: object, fmt: QueryResultsFormat = QueryResultsFormat.JSON) -> list[str]:
    if fmt == QueryResultsFormat.CSV:  # lossy: pyoxigraph does not parse it; read it plainly
        lines = response.data.decode().split("\r\n")  # type: ignore[attr-defined]
        assert lines[0] == "s,o" and lines[-1] == ""
        return [line.split(",")[1] for line in lines[1:-1]]
    result = parse_query_results(response.data, format=fmt)  # type: ignore[attr-defined]
    assert isinstance(result, QuerySolutions)
    return [row["o"].value for row in result]


# -- query: the three ways in ------------------------------------------------------------------


def test_query_by_get_post_form_and_post_direct_agree(client: FlaskClient, loaded: object) -> None:
    by_get = client.get("/sparql", query_string={"query": SELECT})
    by_form = client.post("/sparql", data={"query": SELECT})
    by_body = client.post("/sparql", data=SELECT,
                          headers={"Content-Type": "application/sparql-query"})
    assert [r.status_code for r in (by_get, by_form, by_body)] == [200, 200, 200]
    assert _rows(by_get) == _rows(by_form) == _rows(by_body) == ["in g1", "in g2"]
    assert by_get.headers["Vary"] == "Accept"


@pytest.mark.parametrize(("accept", "media", "fmt"), [
    (None, "application/sparql-results+json", QueryResultsFormat.JSON),
    ("application/sparql-results+xml", "application/sparql-results+xml", QueryResultsFormat.XML),
    ("text/csv", "text/csv", QueryResultsFormat.CSV),
    ("text/tab-separated-values", "text/tab-separated-values", QueryResultsFormat.TSV),
    ("application/json", "application/json", QueryResultsFormat.JSON),
])
def test_select_in_every_results_format(client: FlaskClient, loaded: object, accept: str | None,
                                        media: str, fmt: QueryResultsFormat) -> None:
    headers = {"Accept": accept} if accept else {}
    response = client.get("/sparql", query_string={"query": SELECT}, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == media
    assert _rows(response, fmt) == ["in g1", "in g2"]


@pytest.mark.parametrize("accept", ["application/sparql-results+json",
                                    "application/sparql-results+xml"])
def test_ask_as_json_and_xml(client: FlaskClient, loaded: object, accept: str) -> None:
    response = client.get("/sparql", query_string={"query": "ASK { ?s ?p 'in g2' }"},
                          headers={"Accept": accept})
    fmt = QueryResultsFormat.JSON if accept.endswith("json") else QueryResultsFormat.XML
    result = parse_query_results(response.data, format=fmt)
    assert isinstance(result, QueryBoolean) and bool(result) is True


def test_ask_refuses_csv_with_406(client: FlaskClient) -> None:
    response = client.get("/sparql", query_string={"query": "ASK {}"}, headers={"Accept": "text/csv"})
    assert response.status_code == 406


@pytest.mark.parametrize(("accept", "fmt"), [
    (None, RdfFormat.TURTLE), ("text/turtle", RdfFormat.TURTLE),
    ("application/n-triples", RdfFormat.N_TRIPLES), ("application/rdf+xml", RdfFormat.RDF_XML),
    ("application/ld+json", RdfFormat.JSON_LD), ("application/n-quads", RdfFormat.N_QUADS),
    ("application/trig", RdfFormat.TRIG),
])
def test_construct_in_every_rdf_format(client: FlaskClient, loaded: object, accept: str | None,
                                       fmt: RdfFormat) -> None:
    headers = {"Accept": accept} if accept else {}
    response = client.get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                          headers=headers)
    assert response.status_code == 200
    assert response.mimetype == fmt.media_type
    objects = sorted(q.object.value for q in parse(response.data, format=fmt))
    assert objects == ["in g1", "in g2"]


def test_describe_answers_turtle(client: FlaskClient, loaded: object) -> None:
    response = client.get("/sparql", query_string={"query": "DESCRIBE <http://example.org/a>"})
    assert response.mimetype == "text/turtle"
    assert [q.object.value for q in parse(response.data, format=RdfFormat.TURTLE)] == ["in g1"]


def test_q_values_are_honoured(client: FlaskClient, loaded: object) -> None:
    accept = "application/sparql-results+json;q=0.5, text/csv;q=0.9, */*;q=0.1"
    assert client.get("/sparql", query_string={"query": SELECT},
                      headers={"Accept": accept}).mimetype == "text/csv"
    accept = "text/turtle;q=0.2, application/rdf+xml"
    assert client.get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                      headers={"Accept": accept}).mimetype == "application/rdf+xml"
    accept = "text/csv;q=0, */*"
    assert client.get("/sparql", query_string={"query": SELECT},
                      headers={"Accept": accept}).mimetype == "application/sparql-results+json"


def test_no_acceptable_format_is_406(client: FlaskClient) -> None:
    response = client.get("/sparql", query_string={"query": SELECT}, headers={"Accept": "image/png"})
    assert response.status_code == 406
    assert response.get_json()["status"] == 406


# -- dataset parameters ------------------------------------------------------------------------


def test_default_graph_uri_restricts_the_default_graph(client: FlaskClient, loaded: object) -> None:
    response = client.get("/sparql", query_string={"query": SELECT, "default-graph-uri": G2})
    assert _rows(response) == ["in g2"]


def test_named_graph_uri_restricts_graph_patterns(client: FlaskClient, loaded: object) -> None:
    query = "SELECT ?o WHERE { GRAPH ?g { ?s ?p ?o } }"
    response = client.post(f"/sparql?named-graph-uri={quote(G1, safe='')}", data=query,
                           headers={"Content-Type": "application/sparql-query"})
    assert _rows(response) == ["in g1"]
    # and the default graph is then empty (the protocol dataset replaces the union)
    response = client.get("/sparql", query_string={"query": SELECT, "named-graph-uri": G1})
    assert _rows(response) == []


def test_protocol_dataset_overrides_from(client: FlaskClient, loaded: object) -> None:
    query = f"SELECT ?o FROM <{G1}> WHERE {{ ?s ?p ?o }}"
    response = client.get("/sparql", query_string={"query": query, "default-graph-uri": G2})
    assert _rows(response) == ["in g2"]


def test_using_graph_uri_restricts_the_update(client: FlaskClient, loaded: KnowledgeGraph,
                                              auth: dict[str, str]) -> None:
    update = ("INSERT { GRAPH <http://example.org/out> { ?s <http://example.org/copied> ?o } } "
              "WHERE { ?s <http://example.org/p> ?o }")
    response = client.post(f"/sparql?using-graph-uri={quote(G1, safe='')}", data=update,
                           headers={**auth, "Content-Type": UPDATE})
    assert response.status_code == 204
    copied = loaded.store.query("SELECT ?o WHERE { ?s <http://example.org/copied> ?o }")
    assert [row["o"].value for row in copied] == ["in g1"]


def test_using_named_graph_uri_restricts_graph_patterns(
        client: FlaskClient, loaded: KnowledgeGraph, auth: dict[str, str]) -> None:
    update = ("INSERT { GRAPH <http://example.org/out> { ?s <http://example.org/seen> ?g } } "
              "WHERE { GRAPH ?g { ?s ?p ?o } }")
    response = client.post("/sparql", data={"update": update, "using-named-graph-uri": G2},
                           headers=auth)
    assert response.status_code == 204
    seen = loaded.store.query("SELECT ?g WHERE { ?s <http://example.org/seen> ?g }")
    assert [row["g"].value for row in seen] == [G2]



def test_an_updates_where_reads_the_default_graph_itself(
        client: FlaskClient, loaded: KnowledgeGraph, auth: dict[str, str]) -> None:
    """Unlike a query, an update's WHERE without ``USING`` reads the store's own default graph
    (SPARQL 1.1 Update §3.1.3), not the union of the graphs: the data in named graphs is matched
    with ``GRAPH`` or ``USING`` (docs/endpoint.md)."""
    copy = ("INSERT { GRAPH <http://example.org/out> { ?s <http://example.org/copied> ?o } } "
            "WHERE { ?s <http://example.org/p> ?o }")
    response = client.post("/sparql", data={"update": copy}, headers=auth)
    assert response.status_code == 204
    # the test data is all in named graphs: the WHERE matched nothing, where a query matches both
    assert not list(loaded.store.query("SELECT ?o WHERE { ?s <http://example.org/copied> ?o }",
                                       use_default_graph_as_union=True))
    assert len(_rows(client.get("/sparql", query_string={"query": SELECT}))) == 2
    using = client.post("/sparql", data={"update": copy.replace("WHERE", f"USING <{G1}> USING <{G2}> WHERE")},
                        headers=auth)
    assert using.status_code == 204
    copied = loaded.store.query("SELECT ?o WHERE { ?s <http://example.org/copied> ?o }", use_default_graph_as_union=True)
    assert sorted(row["o"].value for row in copied) == ["in g1", "in g2"]

# -- exact statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"query_string": {"query": "SELECT * {"}}, 400),
    ({"query_string": "query=ASK%7B%7D&query=ASK%7B%7D"}, 400),
    ({"query_string": {"default-graph-uri": G1}}, 400),
    ({"query_string": {"query": "ASK {}", "default-graph-uri": "not an iri"}}, 400),
    ({"query_string": {"update": "CLEAR ALL"}}, 405),
])
def test_get_statuses(client: FlaskClient, kwargs: dict[str, object], status: int) -> None:
    response = client.get("/sparql", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.get_json() == {"ok": False, "error": response.get_json()["error"],
                                   "status": status}


def test_get_update_says_allow_post(client: FlaskClient) -> None:
    assert client.get("/sparql?update=CLEAR%20ALL").headers["Allow"] == "POST"


@pytest.mark.parametrize(("body", "ctype", "status"), [
    ("query=ASK%7B%7D&update=CLEAR%20ALL", "application/x-www-form-urlencoded", 400),
    ("update=CLEAR%20NAMED&update=CLEAR%20DEFAULT", "application/x-www-form-urlencoded", 400),
    ("ASK {}", "text/plain", 415),
    ("ASK {}", None, 415),
    ("ASK {}", "application/sparql-query; charset=UTF-16", 415),
    ("CLEAR NAMED", "application/sparql-update; charset=ISO-8859-1", 415),
    ("query=ASK%7B%7D", "application/x-www-form-urlencoded; charset=latin1", 415),
    ("CLEAR XYZ", "application/sparql-update", 400),
    ("update=CLEAR%20XYZ", "application/x-www-form-urlencoded", 400),
    ("x=1", "application/x-www-form-urlencoded", 400),
    (b"ASK { ?s ?p '\xff' }", "application/sparql-query", 400),
])
def test_post_statuses(client: FlaskClient, auth: dict[str, str], body: str | bytes,
                       ctype: str | None, status: int) -> None:
    headers = dict(auth)
    if ctype:
        headers["Content-Type"] = ctype
    response = client.post("/sparql", data=body, headers=headers)
    assert response.status_code == status, response.data


def test_query_in_url_and_body_is_400(client: FlaskClient) -> None:
    response = client.post("/sparql?query=ASK%7B%7D", data="ASK {}",
                           headers={"Content-Type": "application/sparql-query"})
    assert response.status_code == 400


def test_update_with_own_using_and_protocol_using_is_400(
        client: FlaskClient, loaded: KnowledgeGraph, auth: dict[str, str]) -> None:
    before = set(loaded.store.quads())
    update = f"DELETE {{ ?s ?p ?o }} USING <{G1}> WHERE {{ ?s ?p ?o }}"
    response = client.post(f"/sparql?using-graph-uri={quote(G2, safe='')}", data=update,
                           headers={**auth, "Content-Type": UPDATE})
    assert response.status_code == 400
    assert set(loaded.store.quads()) == before


# -- UTF-8 -------------------------------------------------------------------------------------

TEXT = "Ünïcödé — 学習 🚀"


def test_utf8_round_trips_through_update_get_and_post(live_server: LiveServer,
                                                      auth: dict[str, str]) -> None:
    update = f'INSERT DATA {{ <http://example.org/u> <http://example.org/label> "{TEXT}" }}'
    response = live_server("POST", "/sparql", data=update.encode(),
                           headers={**auth, "Content-Type": UPDATE + "; charset=utf-8"})
    assert response.status_code == 204
    query = f'SELECT ?s WHERE {{ ?s <http://example.org/label> "{TEXT}" }}'
    by_get = live_server("GET", "/sparql", params={"query": query})
    by_post = live_server("POST", "/sparql", data={"query": query})
    for response in (by_get, by_post):
        assert response.json()["results"]["bindings"] == [
            {"s": {"type": "uri", "value": "http://example.org/u"}}]
    back = live_server("GET", "/sparql", params={
        "query": "SELECT ?o WHERE { <http://example.org/u> ?p ?o }"},
        headers={"Accept": "text/csv"})
    assert back.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert back.content.decode("utf-8").splitlines()[1] == TEXT
    assert json.loads(by_get.content)["results"]["bindings"][0]["s"]["value"].endswith("/u")


# -- Service Description -----------------------------------------------------------------------


def test_service_description_names_the_public_url(kg: KnowledgeGraph) -> None:
    from provml.endpoint.app import create_app

    app = create_app({"BASE_URL": "https://kg.example.org/prov/"}, kg=kg)
    kg.store.load(b"<http://e.org/s> <http://e.org/p> <http://e.org/o> .",
                  format=RdfFormat.N_TRIPLES, graph=NamedNode("http://e.org/g"))
    response = app.test_client().get("/sparql", headers={"Accept": "application/n-triples"})
    triples = list(parse(response.data, format=RdfFormat.N_TRIPLES))
    endpoint = [t.object for t in triples if t.predicate.value.endswith("#endpoint")]
    assert endpoint == [NamedNode("https://kg.example.org/prov/sparql")]
    names = [t.object for t in triples if t.predicate.value.endswith("#name")]
    assert names == [NamedNode("http://e.org/g")]
    languages = {t.object.value.rsplit("#")[-1] for t in triples
                 if t.predicate.value.endswith("#supportedLanguage")}
    assert languages == {"SPARQL11Query"}  # no token: no update offered


def test_service_description_by_accept(client: FlaskClient) -> None:
    for accept, media in [(None, "text/turtle"), ("application/rdf+xml", "application/rdf+xml"),
                          ("application/ld+json", "application/ld+json")]:
        response = client.get("/sparql", headers={"Accept": accept} if accept else {})
        assert response.status_code == 200
        assert response.mimetype == media
    assert client.get("/sparql", headers={"Accept": "image/png"}).status_code == 406
