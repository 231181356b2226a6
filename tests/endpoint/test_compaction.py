"""An endpoint that writes the ontologies into an on-disk store at start compacts it before it
serves (``endpoint/app.py``: left in the write-ahead log or as a small flushed file over the
store's others, the write made every later read slower: docs/benchmarks.md, "A store the server
wrote at start"); a store that already holds them is not written, so not compacted."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, serialize

from provml.endpoint.app import create_app
from provml.store import OxigraphStore
from provml.vocab import OILGAS_ONTOLOGY_IRI, ONTOLOGY_IRI

EX = "http://example.org/"


def _bulk_store(path: Path) -> None:
    """An on-disk store as a bulk load leaves it (as ``oxigraph load`` would): no ontologies."""
    data = serialize([Quad(NamedNode(f"{EX}s{i}"), NamedNode(f"{EX}p"), Literal(i), NamedNode(f"{EX}g"))
                      for i in range(2_000)], format=RdfFormat.N_QUADS)
    store = OxigraphStore(path)
    store.raw.bulk_load(data, format=RdfFormat.N_QUADS)
    store.close()


def test_the_ontologies_written_at_start_are_compacted_once(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kg"
    _bulk_store(path)
    compactions: list[int] = []
    real = OxigraphStore.optimize

    def counted(store: OxigraphStore) -> None:
        compactions.append(len(store))
        real(store)

    monkeypatch.setattr(OxigraphStore, "optimize", counted)
    for expected in (1, 1):  # the second start finds the ontologies: nothing written, no compaction
        app = create_app({"STORE": str(path), "TOKEN": "t", "TIMEOUT_S": 10})
        try:
            store = app.extensions["provml.kg"].store
            assert store.contains_graph(ONTOLOGY_IRI) and store.contains_graph(OILGAS_ONTOLOGY_IRI)
            answer = app.test_client().get("/sparql", query_string={
                "query": f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{EX}g> {{ ?s ?p ?o }} }}"},
                headers={"Accept": "application/sparql-results+json"})
            assert answer.status_code == 200
            assert answer.get_json()["results"]["bindings"][0]["n"]["value"] == "2000"
        finally:
            app.extensions["provml.close"]()
        assert len(compactions) == expected
    assert compactions[0] > 2_000  # compacted with the ontologies in it


def test_a_compaction_that_fails_leaves_the_store_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "kg"
    _bulk_store(path)

    def full(store: OxigraphStore) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(OxigraphStore, "optimize", full)
    app = create_app({"STORE": str(path), "TOKEN": "t", "TIMEOUT_S": 10})
    try:
        answer = app.test_client().get("/sparql", query_string={
            "query": f"ASK {{ GRAPH <{ONTOLOGY_IRI.value}> {{ ?s ?p ?o }} }}"},
            headers={"Accept": "application/sparql-results+json"})
        assert answer.status_code == 200 and answer.get_json()["boolean"] is True
    finally:
        app.extensions["provml.close"]()
    assert "could not compact the store" in caplog.text


def test_a_store_too_large_to_compact_at_start_is_served_with_a_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Over ``AUTO_COMPACT_BYTES`` the server does not wait for a compaction (it rewrites the
    whole store): it serves at once and says how to compact it."""
    from provml.endpoint import app as endpoint_app

    path = tmp_path / "kg"
    _bulk_store(path)
    compactions: list[int] = []
    monkeypatch.setattr(OxigraphStore, "optimize", lambda store: compactions.append(1))
    monkeypatch.setattr(endpoint_app, "AUTO_COMPACT_BYTES", 1024)
    app = create_app({"STORE": str(path), "TOKEN": "t", "TIMEOUT_S": 10})
    try:
        assert app.extensions["provml.kg"].store.contains_graph(ONTOLOGY_IRI)
    finally:
        app.extensions["provml.close"]()
    assert compactions == []
    assert f"provml compact --store {path}" in caplog.text
