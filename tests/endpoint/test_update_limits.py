"""Updates under the row limit also when an earlier operation of the same request changes what
a later ``WHERE`` matches (the backup trial counts each operation's ``WHERE`` on what the ones
before it left), and a server fault that happens to be a ``SyntaxError`` (a module that fails to
compile on import) is a 500, not the client's "syntax error"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from provml.endpoint.app import create_app
from provml.endpoint.sparql.evaluation import QueryRunner
from provml.knowledge import KnowledgeGraph
from provml.store import open_store

EX = "http://example.org/"
AUTH = {"Authorization": "Bearer w"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[FlaskClient, KnowledgeGraph]]:
    kg = KnowledgeGraph(open_store(tmp_path / "kg"))
    app = create_app({"TOKEN": "w", "MAX_ROWS": 50, "QUERY_WORKERS": 1, "TIMEOUT_S": 20}, kg=kg)
    try:
        yield app.test_client(), kg
    finally:
        app.extensions["provml.close"]()
        kg.close()


def _seed_then_join(n: int) -> str:
    seed = " ".join(f"<{EX}s{i}> <{EX}p> {i} ." for i in range(n))
    return (f"INSERT DATA {{ GRAPH <{EX}g> {{ {seed} }} }} ;\n"
            f"INSERT {{ GRAPH <{EX}out> {{ ?a <{EX}x> ?b }} }} "
            f"WHERE {{ GRAPH <{EX}g> {{ ?a ?p ?o . ?b ?q ?r }} }}")


def test_a_where_after_an_insert_is_held_to_the_row_limit(
        client: tuple[FlaskClient, KnowledgeGraph]) -> None:
    app, kg = client
    # counted on the store as it is, the join matches nothing; after the INSERT DATA, 400 rows
    answer = app.post("/sparql", data={"update": _seed_then_join(20)}, headers=AUTH)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["ok"] is False and "400 solutions" in body["error"]
    assert "row limit" in body["error"]
    assert len(kg.store) == 0  # unchanged: the trial ran on a backup
    # within the limit (5 x 5 = 25 rows) the same update is applied
    answer = app.post("/sparql", data={"update": _seed_then_join(5)}, headers=AUTH)
    assert answer.status_code == 204, answer.get_data(as_text=True)
    count = app.get("/sparql", query_string={
        "query": f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{EX}out> {{ ?a ?x ?b }} }}"})
    assert count.get_json()["results"]["bindings"][0]["n"]["value"] == "25"


def test_prefixes_hold_for_the_operations_after_them(
        client: tuple[FlaskClient, KnowledgeGraph]) -> None:
    app, kg = client
    update = (f"PREFIX e: <{EX}> INSERT DATA {{ e:a e:p 1 }} ; "
              "INSERT { e:b e:p ?o } WHERE { e:a e:p ?o }")
    answer = app.post("/sparql", data={"update": update}, headers=AUTH)
    assert answer.status_code == 204, answer.get_data(as_text=True)
    assert len(kg.store) == 2


def _broken(*args: Any, **kwargs: Any) -> Any:
    compile("def (", "provml_broken_module.py", "exec")  # what a failing import raises


@pytest.mark.parametrize(("method", "patched", "request_args"), [
    ("post", "check_update", {"data": {"update": f"INSERT DATA {{ <{EX}a> <{EX}b> 1 }}"},
                              "headers": AUTH}),
    ("get", "render", {"query_string": {"query": "ASK {}"}}),  # the lean path
    ("post", "render", {"data": {"query": "ASK {}"}}),  # the Flask view
])
def test_a_module_that_fails_to_compile_is_the_servers_fault_not_a_syntax_error(
        client: tuple[FlaskClient, KnowledgeGraph], monkeypatch: pytest.MonkeyPatch,
        method: str, patched: str, request_args: dict[str, Any]) -> None:
    app, _ = client
    monkeypatch.setattr(QueryRunner, patched, _broken)
    answer = getattr(app, method)("/sparql", **request_args)
    assert answer.status_code == 500, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["ok"] is False and "syntax error" not in body["error"]


def test_an_app_without_a_store_caps_the_memory_of_its_queries() -> None:
    from provml.endpoint.context import RUNNER_KEY
    from provml.store.oxigraph import OxigraphStore

    app = create_app({"TOKEN": "w", "QUERY_MEMORY_MB": 256, "QUERY_WORKERS": 1,
                      "TIMEOUT_S": 30})
    store = app.extensions["provml.kg"].store
    try:
        # neither STORE nor REMOTE: a temporary on-disk store, its queries in worker processes
        assert isinstance(store, OxigraphStore) and store.path is not None
        assert app.extensions[RUNNER_KEY].isolated
        client = app.test_client()
        triples = " ".join(f"<{EX}s{i}> <{EX}p{i % 7}> \"value {i}\" ." for i in range(300))
        wrote = client.post("/sparql", data={"update": f"INSERT DATA {{ {triples} }}"},
                            headers=AUTH)
        assert wrote.status_code == 204
        # sorting a 3-way cross product (27 million rows) needs gigabytes: past 256 MiB the
        # worker ends, the request is refused, the app answers on
        hog = client.post("/sparql", data={
            "query": "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i"})
        assert hog.status_code == 400 and "memory" in hog.get_json()["error"]
        assert client.get("/health").status_code == 200
    finally:
        app.extensions["provml.close"]()
    assert not store.path.exists()  # deleted at close


def test_without_a_memory_limit_given_the_workers_share_half_the_machine(tmp_path: Path) -> None:
    """``--query-memory-mb`` was 2048 a worker whatever the machine: 4 workers could take 8 GiB
    of a laptop's 8. Not given, it is lowered so that the workers together stay within half the
    machine's memory — and each worker process runs under that limit."""
    from provml.endpoint.config import default_query_memory_mb, machine_memory_mb
    from provml.endpoint.context import RUNNER_KEY

    machine = machine_memory_mb()
    assert machine
    workers = min(12, machine // 4096 + 1)  # enough that 2048 each would pass half (7 here: 24 GiB)
    expected = default_query_memory_mb(workers, machine)
    assert expected * workers <= machine // 2
    app = create_app({"STORE": str(tmp_path / "kg"), "QUERY_WORKERS": workers, "TIMEOUT_S": 30})
    try:
        client = app.test_client()
        assert client.get("/sparql", query_string={"query": "ASK {}"}).status_code == 200
        processes = app.extensions[RUNNER_KEY].processes
        deadline = time.monotonic() + 60
        while len(processes._all) < workers:  # (they start one after another)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        limits = []
        for worker in processes._all:  # each worker process's own limit, as the kernel holds it
            line = next(li for li in Path(f"/proc/{worker.process.pid}/limits").read_text().splitlines()
                        if li.startswith("Max data size"))
            limits.append(int(line.split()[3]))
        assert limits == [expected * 2**20] * workers, (limits, expected)
    finally:
        app.extensions["provml.close"]()


def test_a_machine_that_does_not_say_its_memory_keeps_the_2048_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``sysconf`` answers -1 for what it does not know: the default became 512 (a review, 20th
    session). Not knowing, the default is 2048 a worker (the platform's answer cannot be had
    here otherwise, so it is patched)."""
    import os

    from provml.endpoint import config

    monkeypatch.setattr(os, "sysconf", lambda name: -1)
    known = config.machine_memory_mb()  # (a control group's limit, where there is one)
    assert known is None or known > 0
    if known is None:
        assert config.Config.from_mapping({}).query_memory_mb == 2048
