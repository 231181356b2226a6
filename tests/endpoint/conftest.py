"""Endpoint fixtures, after flaskr's: a fresh in-memory knowledge graph per test, the ``app``
built on it, its test ``client``, and ``live_server`` — the real app behind the real server
(granian and the front) on a real loopback socket (a free port), for tests that must go over HTTP.

Tests that need other settings build their own: ``make_live_server(config)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from endpoint_servers import AUTH, TOKEN, LiveServer, start_live_server
from flask import Flask
from flask.testing import FlaskClient
from pyoxigraph import Literal, NamedNode, Quad

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph
from provml.store import open_store


@pytest.fixture
def kg() -> Iterator[KnowledgeGraph]:
    """An empty in-memory knowledge graph (no ontologies loaded: fast, and queries see only
    what the test writes)."""
    graph = KnowledgeGraph(open_store())
    yield graph
    graph.close()


@pytest.fixture
def app(kg: KnowledgeGraph) -> Iterator[Flask]:
    application = create_app({"TOKEN": TOKEN, "TIMEOUT_S": 10}, kg=kg)
    yield application
    application.extensions["provml.close"]()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_live_server() -> Iterator[Callable[..., LiveServer]]:
    """Start servers with a given config (``TOKEN`` defaults to :data:`TOKEN`); all stop at
    the end of the test."""
    stops: list[Callable[[], None]] = []
    graphs: list[KnowledgeGraph] = []

    def make(config: Mapping[str, Any] | None = None, *, path: Path | None = None,
             seed: Sequence[Quad] = ()) -> LiveServer:
        graph = KnowledgeGraph(open_store(path))
        graphs.append(graph)
        if seed:
            graph.store.add(seed)
        live, stop = start_live_server({"TOKEN": TOKEN, **(config or {})}, graph)
        stops.append(stop)
        return live

    yield make
    for stop in stops:
        stop()
    for graph in graphs:
        graph.close()


@pytest.fixture
def make_disk_server(make_live_server: Callable[..., LiveServer],
                     tmp_path: Path) -> Callable[..., LiveServer]:
    """Servers over on-disk stores (queries in worker processes, one of them) holding three
    triples ``<http://example.org/s{i}> <http://example.org/p> i`` in the graph
    ``<http://example.org/g>``; keyword arguments override the config."""
    count = itertools.count()
    ex = "http://example.org/"
    seed = [Quad(NamedNode(f"{ex}s{i}"), NamedNode(f"{ex}p"), Literal(i), NamedNode(f"{ex}g"))
            for i in range(3)]

    def make(**config: Any) -> LiveServer:
        return make_live_server({"TIMEOUT_S": 20, "QUERY_WORKERS": 1, **config},
                                path=tmp_path / f"kg{next(count)}", seed=seed)

    return make


@pytest.fixture
def live_server(make_live_server: Callable[..., LiveServer]) -> LiveServer:
    """The endpoint over a real loopback socket, token :data:`TOKEN`, empty in-memory store."""
    return make_live_server({"TIMEOUT_S": 10})


@pytest.fixture(scope="module")
def module_live_server() -> Iterator[LiveServer]:
    """One live server for a whole module (conformance suites; each test uses its own graphs)."""
    graph = KnowledgeGraph(open_store())
    live, stop = start_live_server({"TOKEN": TOKEN, "TIMEOUT_S": 10}, graph)
    yield live
    stop()
    graph.close()



@pytest.fixture
def auth() -> dict[str, str]:
    """The ``Authorization`` header carrying the write token of every fixture server."""
    return dict(AUTH)
