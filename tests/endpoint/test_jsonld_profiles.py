"""Which JSON-LD profile is served, and when none can be: over HTTP, on every route that
serves JSON-LD (``/sparql`` CONSTRUCT and the Service Description, the Graph Store, ``/id/``
pages, VoID, the ontologies).

JSON-LD 1.1 (section "IANA Considerations") names the forms by the ``profile`` parameter of
``application/ld+json``: each answer's ``Content-Type`` names the form it holds. A client that
takes compacted JSON-LD only, for an answer that compaction cannot write (an IRI whose scheme is
a prefix of the context: ``<skos:thing>``), is answered 406 in the one error shape, saying why
and what to ask for; one whose ``Accept`` also takes expanded JSON-LD or another type gets its
next choice by quality."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from endpoint_servers import AUTH, LiveServer
from pyoxigraph import (
    CanonicalizationAlgorithm,
    Dataset,
    Literal,
    NamedNode,
    Quad,
    RdfFormat,
    parse,
)

from provml.vocab import PROVML, PROVML_NS, RDF

NS = "http://www.w3.org/ns/json-ld#"
COMPACTED = f'application/ld+json; profile="{NS}compacted"'
EXPANDED = f'application/ld+json; profile="{NS}expanded"'
#: what a client sends to ask for compacted JSON-LD only
ONLY_COMPACTED = f'application/ld+json;profile="{NS}compacted"'
RUN = NamedNode("https://w3id.org/provml/id/run/r1")
#: an IRI of the scheme ``skos``, a prefix of the context: compaction cannot write it
CONFUSED = NamedNode("skos:thing")
P = NamedNode("http://ex.org/p")
GOOD, BAD = NamedNode("urn:good"), NamedNode("urn:bad")
QUERY = "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <%s> { ?s ?p ?o } }"


@pytest.fixture
def live(live_server: LiveServer) -> LiveServer:
    """The endpoint holding a graph compaction can write (``urn:good``), one it cannot
    (``urn:bad``), and a resource page that links to the confusing IRI."""
    live_server.store.add([
        Quad(RUN, RDF.type, PROVML.WorkflowExecution, GOOD),
        Quad(CONFUSED, P, Literal("x"), BAD),
        Quad(RUN, P, CONFUSED, NamedNode("urn:page")),
    ])
    return live_server


def _construct(live: LiveServer, graph: NamedNode, accept: str, *, lean: bool) -> requests.Response:
    """A CONSTRUCT of ``graph``: by ``GET`` with the query alone (the lean path), or by a form
    ``POST`` (the Flask view)."""
    query = QUERY % graph.value
    if lean:
        return live("GET", "/sparql", params={"query": query}, headers={"Accept": accept})
    return live("POST", "/sparql", data={"query": query}, headers={"Accept": accept})


def _refused(response: requests.Response) -> str:
    """The message of a 406 in the one error shape, which says why and what to ask for."""
    assert response.status_code == 406, response.text[:300]
    body = response.json()
    assert body["ok"] is False and body["status"] == 406
    message: str = body["error"]
    assert "compacted JSON-LD" in message and f"<{CONFUSED.value}>" in message
    assert f"{NS}expanded" in message  # what to ask for instead
    return message


def _document(response: requests.Response, content_type: str) -> Any:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == content_type
    return json.loads(response.content)


@pytest.mark.parametrize("lean", [True, False])
def test_sparql_construct_names_the_profile_it_sent(live: LiveServer, lean: bool) -> None:
    compacted = _document(_construct(live, GOOD, "application/ld+json", lean=lean), COMPACTED)
    assert compacted["@context"]["provml"] == PROVML_NS and compacted["@type"] == "provml:WorkflowExecution"
    expanded = _document(_construct(live, GOOD, f'application/ld+json;profile="{NS}expanded"',
                                    lean=lean), EXPANDED)
    assert isinstance(expanded, list) and expanded[0]["@type"] == [PROVML.WorkflowExecution.value]
    # compaction cannot write <skos:thing>: plain application/ld+json takes the expanded form
    fallen = _document(_construct(live, BAD, "application/ld+json", lean=lean), EXPANDED)
    assert [node["@id"] for node in fallen] == [CONFUSED.value]


@pytest.mark.parametrize("lean", [True, False])
def test_sparql_construct_asked_for_compacted_only_is_406_when_it_cannot_be_compacted(
        live: LiveServer, lean: bool) -> None:
    message = _refused(_construct(live, BAD, ONLY_COMPACTED, lean=lean))
    assert "application/n-quads" in message and "application/trig" in message
    # the same request for a graph compaction can write is answered compacted
    assert _document(_construct(live, GOOD, ONLY_COMPACTED, lean=lean), COMPACTED)["@context"]


@pytest.mark.parametrize(("accept", "served"), [
    (f"{ONLY_COMPACTED};q=0.1, application/ld+json;profile=\"{NS}expanded\"", EXPANDED),
    (f"{ONLY_COMPACTED};q=0, application/ld+json;q=0.5", EXPANDED),  # q=0: not compacted
    (f'application/ld+json;profile="{NS}flattened"', COMPACTED),  # a profile not served: ignored
    (f'application/ld+json;profile="{NS}expanded {NS}compacted"', COMPACTED),  # either: ours
])
def test_the_form_is_the_one_the_client_rates_highest(live: LiveServer, accept: str, served: str) -> None:
    document = _document(_construct(live, GOOD, accept, lean=True), served)
    assert isinstance(document, list) == (served == EXPANDED)


@pytest.mark.parametrize(("accept", "served"), [
    (f"{ONLY_COMPACTED}, application/ld+json;q=0.5", EXPANDED),  # any JSON-LD, second
    (f"{ONLY_COMPACTED}, */*;q=0.1", EXPANDED),  # ties: the JSON-LD asked for, expanded
    (f'{ONLY_COMPACTED}, application/ld+json;profile="{NS}expanded";q=0.2, text/turtle;q=0.1', EXPANDED),
    (f"{ONLY_COMPACTED}, text/turtle;q=0.8, application/ld+json;q=0.5", "text/turtle; charset=utf-8"),
    (f"{ONLY_COMPACTED}, application/n-quads;q=0.3", "application/n-quads"),
])
def test_sparql_construct_that_cannot_be_compacted_gets_the_clients_next_choice(
        live: LiveServer, accept: str, served: str) -> None:
    response = _construct(live, BAD, accept, lean=True)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == served
    fmt = RdfFormat.JSON_LD if served.startswith("application/ld+json") else RdfFormat.from_media_type(
        served.split(";")[0])
    assert fmt is not None
    assert [(q.subject, q.predicate) for q in parse(response.content, format=fmt)] == [(CONFUSED, P)]


def test_a_query_worker_refuses_or_names_the_profile_too(
        make_disk_server: Callable[..., LiveServer]) -> None:
    """Over an on-disk store the answer is written in a worker process: the same 406 and the
    same Content-Type come back from it."""
    live = make_disk_server()
    wrote = live("POST", "/sparql", headers=AUTH, data={
        "update": f"INSERT DATA {{ GRAPH <{BAD.value}> {{ <{CONFUSED.value}> <{P.value}> 'x' }} }}"})
    assert wrote.status_code == 204, wrote.text
    for lean in (True, False):
        _refused(_construct(live, BAD, ONLY_COMPACTED, lean=lean))
        assert isinstance(_document(_construct(live, BAD, "application/ld+json", lean=lean), EXPANDED), list)
    graph = live("GET", "/store", params={"graph": BAD.value}, headers={"Accept": ONLY_COMPACTED})
    _refused(graph)
    graph = live("GET", "/store", params={"graph": "http://example.org/g"},
                 headers={"Accept": "application/ld+json"})
    assert "@context" in _document(graph, COMPACTED)


def test_graph_store_names_the_profile_and_refuses_compacted_only(live: LiveServer) -> None:
    def get(graph: NamedNode | None, accept: str) -> requests.Response:
        params = {"graph": graph.value} if graph is not None else {}
        return live("GET", "/store", params=params, headers={"Accept": accept})

    assert _document(get(GOOD, "application/ld+json"), COMPACTED)["@context"]["provml"] == PROVML_NS
    assert isinstance(_document(get(GOOD, f'application/ld+json;profile="{NS}expanded"'), EXPANDED), list)
    assert isinstance(_document(get(BAD, "application/ld+json"), EXPANDED), list)
    message = _refused(get(BAD, ONLY_COMPACTED))
    assert "application/n-quads" in message and "application/trig" in message
    turtle = get(BAD, f"{ONLY_COMPACTED}, text/turtle;q=0.5")
    assert turtle.status_code == 200 and turtle.headers["Content-Type"] == "text/turtle; charset=utf-8"
    # the whole dataset holds <skos:thing> too
    _refused(get(None, ONLY_COMPACTED))
    assert isinstance(_document(get(None, "application/ld+json"), EXPANDED), list)
    nquads = get(None, f"{ONLY_COMPACTED}, application/n-quads;q=0.1")
    assert nquads.status_code == 200 and nquads.headers["Content-Type"] == "application/n-quads"


def test_resource_pages_refuse_compacted_only_when_it_cannot_be_written(live: LiveServer) -> None:
    """``/id/run/r1`` links to ``<skos:thing>``: asked for as compacted JSON-LD only (by
    ``Accept``, or by ``.jsonld`` and ``Accept``), 406; the client's next choice otherwise."""
    for path in ("/id/run/r1", "/id/run/r1.jsonld"):
        message = _refused(live("GET", path, headers={"Accept": ONLY_COMPACTED}))
        assert ("text/turtle" in message) == (path == "/id/run/r1")  # a suffix names one format
        assert isinstance(_document(live("GET", path, headers={"Accept": "application/ld+json"}),
                                    EXPANDED), list)
    turtle = live("GET", "/id/run/r1", headers={"Accept": f"{ONLY_COMPACTED}, text/turtle;q=0.5"})
    assert turtle.status_code == 200 and turtle.headers["Content-Type"] == "text/turtle; charset=utf-8"
    assert CONFUSED.value in turtle.text


def test_void_the_service_description_and_the_ontologies_name_their_profile(live: LiveServer) -> None:
    """The Service Description and the ontologies are written expanded (as Oxigraph writes
    them) unless the client prefers the compacted profile; VoID compacted unless it prefers
    the expanded one."""
    void = _document(live("GET", "/.well-known/void", headers={"Accept": "application/ld+json"}), COMPACTED)
    assert "@context" in void
    for path in ("/sparql", "/ontology", "/ontology/oil-gas", "/ontology/oil-gas.jsonld"):
        expanded = _document(live("GET", path, headers={"Accept": "application/ld+json"}), EXPANDED)
        assert isinstance(expanded, list)
        compacted = _document(live("GET", path, headers={"Accept": ONLY_COMPACTED}), COMPACTED)
        assert "@context" in compacted
        assert _same_graph(expanded, compacted)


def _same_graph(*documents: Any) -> bool:
    """Whether JSON-LD documents hold the same triples (blank nodes canonicalized)."""
    graphs = []
    for document in documents:
        dataset = Dataset(parse(json.dumps(document).encode(), format=RdfFormat.JSON_LD))
        dataset.canonicalize(CanonicalizationAlgorithm.UNSTABLE)
        graphs.append(set(dataset))
    return all(graph == graphs[0] for graph in graphs) and len(graphs[0]) > 0
