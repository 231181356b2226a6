"""/.well-known/void describes the dataset; /dump.nq.gz streams all of it."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pyoxigraph as ox
import pytest
from endpoint_servers import AUTH, LiveServer
from flask import Flask
from flask.testing import FlaskClient
from test_events_api import batch

from provml.endpoint.app import create_app
from provml.endpoint.linked_data.void import dump_nquads_gz, void_description
from provml.knowledge import KnowledgeGraph
from provml.store import open_store
from provml.vocab import MLS, PROV, PROVML, RDF, VOID, VOID_CLASS

PUBLIC = "http://kg.example.org"
DATASET = ox.NamedNode(f"{PUBLIC}/.well-known/void#dataset")


@pytest.fixture(scope="module")
def kg() -> Iterator[KnowledgeGraph]:
    graph = KnowledgeGraph(open_store())
    graph.ingest_events(batch("v-1"))
    graph.ingest_events(batch("v-2"))
    yield graph
    graph.close()


@pytest.fixture(scope="module")
def app(kg: KnowledgeGraph) -> Iterator[Flask]:
    application = create_app({"TOKEN": "t", "BASE_URL": PUBLIC}, kg=kg)
    yield application
    application.extensions["provml.close"]()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def described(data: bytes, fmt: ox.RdfFormat = ox.RdfFormat.TURTLE) -> ox.Store:
    store = ox.Store()
    store.load(data, format=fmt)
    return store


def value(store: ox.Store, predicate: ox.NamedNode) -> int:
    [quad] = list(store.quads_for_pattern(DATASET, predicate, None))
    return int(quad.object.value)


def partitions(store: ox.Store) -> dict[str, int]:
    out = {}
    for quad in store.quads_for_pattern(DATASET, VOID.classPartition, None):
        [cls] = list(store.quads_for_pattern(quad.object, VOID_CLASS, None))
        [entities] = list(store.quads_for_pattern(quad.object, VOID.entities, None))
        out[cls.object.value] = int(entities.object.value)
    return out


def test_void_is_turtle_by_default(client: FlaskClient, kg: KnowledgeGraph) -> None:
    response = client.get("/.well-known/void")
    assert response.status_code == 200 and response.mimetype == "text/turtle"
    assert "Accept" in response.headers["Vary"]
    store = described(response.data)
    assert ox.Quad(DATASET, RDF.type, VOID.Dataset) in store
    assert ox.Quad(DATASET, VOID.sparqlEndpoint, ox.NamedNode(f"{PUBLIC}/sparql")) in store
    assert ox.Quad(DATASET, VOID.dataDump, ox.NamedNode(f"{PUBLIC}/dump.nq.gz")) in store
    assert ox.Quad(DATASET, VOID.uriSpace, ox.Literal("https://w3id.org/provml/id/")) in store
    assert value(store, VOID.triples) == len(kg.store)
    assert value(store, VOID.distinctSubjects) > 10
    vocabularies = {q.object.value for q in store.quads_for_pattern(DATASET, VOID.vocabulary, None)}
    assert {PROV.NS, PROVML.NS} <= vocabularies


def test_class_partitions_count_instances(client: FlaskClient) -> None:
    counts = partitions(described(client.get("/.well-known/void").data))
    assert counts[PROVML.LearningProcessExecution.value] == 2  # two runs
    assert counts[PROVML.TrainingExecution.value] == 2
    assert counts[MLS.Run.value] == 2  # the ML Schema alignment, entailed at ingest
    assert counts[PROVML.Model.value] == 2
    assert all(not iri.startswith(str(RDF.NS)) for iri in counts)


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [("application/ld+json", ox.RdfFormat.JSON_LD), ("application/n-triples", ox.RdfFormat.N_TRIPLES),
     ("application/rdf+xml", ox.RdfFormat.RDF_XML)],
)
def test_void_by_content_negotiation(client: FlaskClient, accept: str, fmt: ox.RdfFormat) -> None:
    response = client.get("/.well-known/void", headers={"Accept": accept})
    assert response.status_code == 200 and response.mimetype == accept
    assert ox.Quad(DATASET, RDF.type, VOID.Dataset) in described(response.data, fmt)


def test_void_406(client: FlaskClient) -> None:
    response = client.get("/.well-known/void", headers={"Accept": "image/png"})
    assert response.status_code == 406 and response.get_json()["status"] == 406


def test_dump_is_the_whole_store_as_gzipped_nquads(client: FlaskClient, kg: KnowledgeGraph) -> None:
    with client.get("/dump.nq.gz") as response:  # (closing it removes its temporary file)
        assert response.status_code == 200 and response.mimetype == "application/gzip"
        assert response.is_streamed
        data = response.data
        assert response.content_length == len(data)
    quads = set(ox.parse(gzip.decompress(data), format=ox.RdfFormat.N_QUADS))
    assert quads == set(kg.store.quads())


def test_dump_streams_in_pieces(kg: KnowledgeGraph) -> None:
    pieces = list(dump_nquads_gz(kg.store, chunk_quads=10))
    assert len(pieces) > 2
    assert len(gzip.decompress(b"".join(pieces)).splitlines()) == len(kg.store)


def test_void_of_an_empty_store() -> None:
    triples = void_description(open_store(), base_url="http://x.org/")
    assert ox.Triple(ox.NamedNode("http://x.org/.well-known/void#dataset"), VOID.triples,
                     ox.Literal("0", datatype=ox.NamedNode(
                         "http://www.w3.org/2001/XMLSchema#integer"))) in triples
    assert not [t for t in triples if t.predicate == VOID.classPartition]
    assert gzip.decompress(b"".join(dump_nquads_gz(open_store()))) == b""


def test_void_and_dump_over_a_real_socket(live_server: LiveServer) -> None:
    assert live_server("POST", "/api/events", json=batch("v-live"), headers=AUTH).status_code == 202
    void = live_server("GET", "/.well-known/void")
    assert void.status_code == 200 and void.headers["Content-Type"].startswith("text/turtle")
    store = ox.Store()
    store.load(void.content, format=ox.RdfFormat.TURTLE)
    [dump_link] = [q.object.value for q in store.quads_for_pattern(None, VOID.dataDump, None)]
    assert dump_link == f"{live_server.url}/dump.nq.gz"
    dump = live_server.session.get(dump_link, timeout=30)
    assert dump.status_code == 200
    quads = set(ox.parse(gzip.decompress(dump.content), format=ox.RdfFormat.N_QUADS))
    assert quads == set(live_server.store.quads())


def test_the_void_counts_are_kept_whatever_the_host_asked(kg: KnowledgeGraph,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached by the request's URL too, clients alternating Host headers had the store counted
    again on every request (a hostile probe, 20th session). Counted once per version of the
    store now, and each answer still names its own host's endpoint."""
    import provml.endpoint.linked_data.resources as resources

    counted: list[str] = []
    real = resources.void_description

    def counting(*args: object, **kwargs: object) -> list[ox.Triple]:
        counted.append(str(kwargs.get("base_url")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(resources, "void_description", counting)
    application = create_app({"TOKEN": "t"}, kg=kg)  # no BASE_URL: the request's own
    try:
        client = application.test_client()
        for host in ("a.example", "b.example", "a.example", "c.example:8080"):
            answer = described(client.get("/.well-known/void", headers={"Host": host}).data)
            dataset = ox.NamedNode(f"http://{host}/.well-known/void#dataset")
            assert ox.Quad(dataset, VOID.sparqlEndpoint, ox.NamedNode(f"http://{host}/sparql")) in answer
            [triples] = list(answer.quads_for_pattern(dataset, VOID.triples, None))
            assert int(triples.object.value) == len(kg.store)
        assert len(counted) == 1
    finally:
        application.extensions["provml.close"]()


def test_head_of_the_dump_makes_no_dump(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """HEAD /dump.nq.gz made the whole dump (a worker, a temporary file, one of the 4 places)
    to send its headers (a hostile probe, 20th session)."""
    from provml.endpoint.context import RUNNER_KEY

    runner = app.extensions[RUNNER_KEY]
    made: list[int] = []
    real = runner.dump
    monkeypatch.setattr(runner, "dump", lambda *a, **k: made.append(1) or real(*a, **k))
    head = app.test_client().head("/dump.nq.gz")
    assert head.status_code == 200 and head.mimetype == "application/gzip"
    assert head.headers.get("Content-Length") in (None, "") and not made
    with app.test_client().get("/dump.nq.gz") as whole:
        assert whole.status_code == 200 and made == [1]
        assert int(whole.headers["Content-Length"]) == len(whole.data) > 0
