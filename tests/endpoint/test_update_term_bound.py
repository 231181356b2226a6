"""A SPARQL update whose ``INSERT`` template would write a text longer than the store's terms
may be (``provml.store.term_bound``: 7 MiB as written, so certainly past 7 Mi characters) is
refused, 400, the store unchanged: the counting query each ``WHERE`` already runs under the
query limits also reads the longest text each variable of the template is bound to. Before, a
``CONCAT`` of a stored text stored a literal that no JSON-LD export of the store could read back
(past 16 MiB, no N-Quads export either). Covered: a ``WHERE`` counted on the store as it is
(in-memory and on-disk), and one after an ``INSERT DATA`` of the same request (counted on the
backup the update is first tried on)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pyoxigraph import Literal, NamedNode, Quad

from provml.endpoint.app import create_app
from provml.events import MAX_WRITTEN
from provml.knowledge import KnowledgeGraph
from provml.store import open_store

EX = "http://example.org/"
AUTH = {"Authorization": "Bearer w"}
TEXT = "x" * (2 << 20)  # 2 Mi characters: four of them are past the bound, two within it


def _client(path: Path | None) -> Iterator[tuple[FlaskClient, KnowledgeGraph]]:
    kg = KnowledgeGraph(open_store(path))
    kg.store.add([Quad(NamedNode(EX + "s"), NamedNode(EX + "text"), Literal(TEXT), NamedNode(EX + "g"))])
    app = create_app({"TOKEN": "w", "QUERY_WORKERS": 1, "TIMEOUT_S": 20}, kg=kg)
    try:
        yield app.test_client(), kg
    finally:
        app.extensions["provml.close"]()
        kg.close()


@pytest.fixture(params=["memory", "disk"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FlaskClient, KnowledgeGraph]]:
    yield from _client(None if request.param == "memory" else tmp_path / "kg")


@pytest.fixture
def disk_client(tmp_path: Path) -> Iterator[tuple[FlaskClient, KnowledgeGraph]]:
    yield from _client(tmp_path / "kg")


def _concat(times: int) -> str:
    return (f"INSERT {{ GRAPH <{EX}out> {{ ?s <{EX}long> ?long }} }} WHERE {{ GRAPH <{EX}g> "
            f"{{ ?s <{EX}text> ?t }} BIND(CONCAT({', '.join(['?t'] * times)}) AS ?long) }}")


def test_an_insert_of_a_text_past_the_bound_is_400_and_the_store_is_unchanged(
        client: tuple[FlaskClient, KnowledgeGraph]) -> None:
    app, kg = client
    before = set(kg.store.quads())
    answer = app.post("/sparql", data={"update": _concat(4)}, headers=AUTH)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:500]
    error = answer.get_json()["error"]
    assert f"{4 * len(TEXT):,} characters" in error and f"{MAX_WRITTEN:,}" in error
    assert set(kg.store.quads()) == before
    # within it, the same update is applied
    assert app.post("/sparql", data={"update": _concat(2)}, headers=AUTH).status_code == 204
    stored = [q.object.value for q in kg.store.quads() if q.predicate == NamedNode(EX + "long")]
    assert stored == [TEXT * 2]


def test_a_text_built_after_an_insert_data_of_the_same_request_is_refused_on_disk(
        disk_client: tuple[FlaskClient, KnowledgeGraph]) -> None:
    """The second operation's WHERE reads what the first wrote: counted on the backup the
    update is tried on first (an on-disk store; in memory there is none, docs/events.md)."""
    app, kg = disk_client
    seed = "y" * 900_000
    update = (f'INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}n> <{EX}seed> "{seed}" }} }} ;\n'
              f"INSERT {{ GRAPH <{EX}out> {{ ?s <{EX}long> ?long }} }} WHERE {{ GRAPH <{EX}g> "
              f"{{ ?s <{EX}seed> ?t }} BIND(CONCAT({', '.join(['?t'] * 9)}) AS ?long) }}")
    before = set(kg.store.quads())
    answer = app.post("/sparql", data={"update": update}, headers=AUTH)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:500]
    assert f"{9 * len(seed):,} characters" in answer.get_json()["error"]
    assert set(kg.store.quads()) == before


def test_only_a_text_the_where_builds_is_measured() -> None:
    """A variable matched in the store holds a term the store holds (within the bound): a copy
    costs its count alone; a variable bound with AS (BIND, a sub-select) is measured."""
    from provml.endpoint.sparql.updates import where_parts

    [copy] = where_parts(f"INSERT {{ GRAPH <{EX}out> {{ ?s ?p ?o }} }} WHERE {{ ?s ?p ?o }}")
    assert "STRLEN" not in copy.query
    [built] = where_parts(_concat(2))
    assert "STRLEN(STR(?long))" in built.query and "STR(?s)" not in built.query


def test_an_insert_data_of_a_literal_past_the_bound_is_400(client: tuple[FlaskClient, KnowledgeGraph]) -> None:
    """An update is bounded by the body limit (64 MiB), not by the query length: a 9 MiB literal
    in an INSERT DATA was stored (a review). Its string is read as written, escapes applied: a
    literal of 1.5 Mi characters (past MAX_TEXT, within MAX_WRITTEN) is stored."""
    app, kg = client
    before = set(kg.store.quads())
    over = f'INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}s> <{EX}big> """{"x" * (9 << 20)}""" }} }}'
    answer = app.post("/sparql", data={"update": over}, headers=AUTH)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert f"{9 << 20:,} bytes as written" in answer.get_json()["error"]
    escaped = f'INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}s> <{EX}big> "{chr(92) + "n"}{"x" * (MAX_WRITTEN - 1)}" }} }}'
    assert app.post("/sparql", data={"update": escaped}, headers=AUTH).status_code == 400  # 7 MiB + 1 written
    iri = f"INSERT DATA {{ <{EX}{'i' * (1 << 20)}> <{EX}p> 1 }}"
    answer = app.post("/sparql", data={"update": iri}, headers=AUTH)
    assert answer.status_code == 400 and "an IRI of" in answer.get_json()["error"]
    assert set(kg.store.quads()) == before
    within = f'INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}s> <{EX}big> "{"y" * (3 << 19)}" }} }}'
    assert app.post("/sparql", data={"update": within}, headers=AUTH).status_code == 204
    assert [q.object.value for q in kg.store.quads() if q.predicate == NamedNode(EX + "big")] == ["y" * (3 << 19)]


_W = f"GRAPH <{EX}g> {{ ?s <{EX}text> ?t }}"
_EIGHT = ", ".join(["?t"] * 8)


@pytest.mark.parametrize("built", [
    # a language tag, a datatype IRI and an IRI of more than 1 Mi characters; a triple term's object
    'STRLANG("x", CONCAT("en-x", REPLACE(?t, "xxxxxxxx", "-abcdefgh")))',
    'STRDT("x", IRI(CONCAT("http://e.org/", ?t)))',
    'IRI(CONCAT("http://e.org/", ?t))',
    f"TRIPLE(?s, <{EX}p>, CONCAT({_EIGHT}))",
    f'TRIPLE(?s, <{EX}p>, IRI(CONCAT("http://e.org/", ?t)))',
])
def test_a_built_name_or_triple_term_past_the_bound_is_400(client: tuple[FlaskClient, KnowledgeGraph],
                                                           built: str) -> None:
    """The counting query read only a built term's lexical form: a long language tag, datatype
    IRI or IRI (bounded at 1 MiB of characters) and a triple term's object were stored (a review)."""
    app, kg = client
    before = set(kg.store.quads())
    update = f"INSERT {{ GRAPH <{EX}out> {{ ?s <{EX}long> ?long }} }} WHERE {{ {_W} BIND({built} AS ?long) }}"
    answer = app.post("/sparql", data={"update": update}, headers=AUTH)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert "a term of the store may take" in answer.get_json()["error"]
    assert set(kg.store.quads()) == before


def test_a_built_text_after_an_insert_data_is_measured_without_a_row_limit(tmp_path: Path) -> None:
    """With MAX_ROWS 0 (no row limit) the trial on the backup skipped the counts, and with them
    the lengths (a review): the update stored 8,100,000 characters."""
    kg = KnowledgeGraph(open_store(tmp_path / "kg"))
    app = create_app({"TOKEN": "w", "QUERY_WORKERS": 1, "TIMEOUT_S": 20, "MAX_ROWS": 0}, kg=kg)
    try:
        seed = "y" * 900_000
        update = (f'INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}n> <{EX}seed> "{seed}" }} }} ;\n'
                  f"INSERT {{ GRAPH <{EX}out> {{ ?s <{EX}long> ?long }} }} WHERE {{ GRAPH <{EX}g> "
                  f"{{ ?s <{EX}seed> ?t }} BIND(CONCAT({', '.join(['?t'] * 9)}) AS ?long) }}")
        answer = app.test_client().post("/sparql", data={"update": update}, headers=AUTH)
        assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
        assert len(kg.store) == 0
    finally:
        app.extensions["provml.close"]()
        kg.close()
