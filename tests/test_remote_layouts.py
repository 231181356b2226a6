"""`--remote` against real servers with different URL layouts: `oxigraph serve` (its own
layout), Virtuoso Open Source 7 (`virtuoso+URL`: /sparql, /sparql-graph-crud, form posts, no
unnamed default graph) and explicit endpoint URLs. The same CLI commands as with --store;
results compared with an embedded store loaded from the same spool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import paper_fixture as pf
import pytest
from click.testing import CliRunner
from pyoxigraph import NamedNode
from servers import OxigraphServer
from virtuoso_server import VirtuosoServer, virtuoso_binary

from provml.cli import main
from provml.store.remote import RemoteStore

TRAIN_A = "https://w3id.org/provml/id/bundle/train-a"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spool") / "spool.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in pf.all_events()))
    return path


@pytest.fixture(scope="module")
def reference(spool: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the embedded store answers: stats, q4 and one graph, for comparison."""
    store = str(tmp_path_factory.mktemp("ref") / "store")
    assert run("load", str(spool), "--store", store)[0] == 0
    return {"stats": run("stats", "--store", store, "--format", "json")[1],
            "q4": run("query", "q4", "--store", store, "--format", "csv")[1],
            "graph": run("export", "--store", store, "--graph", TRAIN_A, "--format", "nquads")[1]}


@pytest.fixture(scope="module")
def virtuoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtuosoServer]:
    """One Virtuoso Open Source 7 server for this module (the only one that needs it)."""
    if virtuoso_binary() is None:
        pytest.fail("virtuoso-t is missing: make system-deps installs virtuoso-opensource")
    with VirtuosoServer(tmp_path_factory.mktemp("virtuoso")) as server:
        yield server


def rows(csv_text: str) -> list[tuple[object, ...]]:
    def cell(text: str) -> object:
        try:
            return float(text)
        except ValueError:
            return text

    return sorted(tuple(cell(c) for c in line.split(",")) for line in csv_text.splitlines()[1:])


def same_answers(remote: str, spool: Path, reference: dict[str, str]) -> None:
    code, out, err = run("load", str(spool), "--remote", remote)
    assert code == 0, (out, err)
    stats = json.loads(run("stats", "--remote", remote, "--format", "json")[1])
    expected = json.loads(reference["stats"])
    assert stats["runs"] == expected["runs"] == 4
    assert stats["classes"] == expected["classes"]
    code, q4, err = run("query", "q4", "--remote", remote, "--format", "csv")
    assert code == 0, err
    assert rows(q4) == rows(reference["q4"])  # numbers compared as numbers (Virtuoso: 2.0 for 2)
    code, graph, err = run("export", "--remote", remote, "--graph", TRAIN_A, "--format", "nquads")
    assert code == 0, err
    assert len(graph.splitlines()) == len(reference["graph"].splitlines())


@pytest.mark.slow
def test_oxigraph_layout(oxigraph_server: OxigraphServer, spool: Path,
                         reference: dict[str, str]) -> None:
    RemoteStore(oxigraph_server.url).update("DROP ALL")
    same_answers(oxigraph_server.url, spool, reference)


@pytest.mark.slow
def test_explicit_endpoint_urls(oxigraph_server: OxigraphServer, spool: Path,
                                reference: dict[str, str]) -> None:
    url = oxigraph_server.url
    RemoteStore(url).update("DROP ALL")
    same_answers(f"query={url}/query;update={url}/update;store={url}/store;union=emulate",
                 spool, reference)


@pytest.mark.slow
def test_virtuoso_layout(virtuoso: VirtuosoServer, spool: Path, reference: dict[str, str]) -> None:
    spec = f"virtuoso+{virtuoso.url}"
    same_answers(spec, spool, reference)
    store = RemoteStore.from_spec(spec)
    # the measure summaries were recomputed through Virtuoso's SPARQL Update too
    assert store.query("ASK { ?x <https://w3id.org/provml#summary> ?s . ?s <https://w3id.org/provml#valueCount> ?n }")
    graphs = {g.value for g in store.named_graphs()}
    assert {TRAIN_A, "https://w3id.org/provml"} <= graphs
    store.drop_graph(NamedNode(TRAIN_A))
    assert not store.contains_graph(NamedNode(TRAIN_A))


def test_unknown_layout_exits_2(tmp_path: Path) -> None:
    code, _, err = run("stats", "--remote", "nosuch+http://127.0.0.1:1")
    assert code == 2 and "unknown remote layout" in err
