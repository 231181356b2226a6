"""Shared fixtures. Keep each block small and say what it builds.

Store fixtures (``tests/test_store.py`` and anything that needs a store):
- ``oxigraph_server``: one real ``oxigraph serve`` on 127.0.0.1 for the whole session;
- ``remote_store``: a :class:`provml.store.remote.RemoteStore` on it, emptied before each test;
- ``store``: parametrised over the backends — in-memory and on-disk ``OxigraphStore`` and the
  ``RemoteStore`` — so a test that takes ``store`` runs against all three.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import OxigraphServer, oxigraph_binary

from provml.store import OxigraphStore, RemoteStore, Store

# -- stores -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oxigraph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OxigraphServer]:
    """A real ``oxigraph serve`` process, started once per session and stopped at the end."""
    if oxigraph_binary() is None:
        pytest.skip("the oxigraph server binary is not installed (pip install oxigraph)")
    with OxigraphServer(tmp_path_factory.mktemp("oxigraph") / "db") as server:
        yield server


@pytest.fixture
def remote_store(oxigraph_server: OxigraphServer) -> Iterator[RemoteStore]:
    """A RemoteStore on the session's server, emptied (``DROP ALL``) before each test."""
    store = RemoteStore(oxigraph_server.url, timeout_s=30)
    store.update("DROP ALL")
    with store:
        yield store


@pytest.fixture(params=["memory", "disk", "remote"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each backend: in memory, on disk (in ``tmp_path``), remote."""
    if request.param == "remote":
        yield request.getfixturevalue("remote_store")
        return
    path = tmp_path / "store" if request.param == "disk" else None
    with OxigraphStore(path) as embedded:
        yield embedded
