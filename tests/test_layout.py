"""Every fact once: each triple in exactly one graph, so the union default graph counts right;
and the migration of stores written with the earlier layout (one shared node's description in
every run's bundle).

``tests/data/layout-v1-paper.nq.gz`` is the paper fixture's events as provml 0.x (layout 1)
stored them, dumped before the layout changed.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import paper_fixture as pf
import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from provml.cli import main
from provml.errors import StoreReadOnly
from provml.ingest.migration import migrate, pending
from provml.knowledge import KnowledgeGraph
from provml.store.base import Store
from provml.store.oxigraph import OxigraphStore

OLD = Path(__file__).parent / "data" / "layout-v1-paper.nq.gz"
BATCHES = (pf.curation_events, pf.preparation_events, lambda: pf.training_events("train-a"),
           lambda: pf.training_events("train-b"))


def count(kg: KnowledgeGraph, text: str) -> int:
    result = kg.query(text)
    assert isinstance(result, ox.QuerySolutions)
    return int(next(iter(result))["n"].value)


def union_count(kg: KnowledgeGraph) -> tuple[int, int]:
    """(COUNT(*) over the union default graph, number of distinct triples)."""
    return (count(kg, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"),
            count(kg, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"))


def fresh(store: Store) -> KnowledgeGraph:
    kg = KnowledgeGraph(store)
    kg.load_ontologies()
    for batch in BATCHES:
        kg.ingest_events(batch())
    return kg


def old_layout() -> KnowledgeGraph:
    kg = KnowledgeGraph(OxigraphStore())
    kg.load_ontologies()
    kg.store.add(ox.parse(gzip.decompress(OLD.read_bytes()), format=ox.RdfFormat.N_QUADS))
    return kg


def no_blank(quads: set[ox.Quad]) -> set[ox.Quad]:
    return {q for q in quads if not isinstance(q.subject, ox.BlankNode) and not isinstance(q.object, ox.BlankNode)}


def test_each_triple_is_in_exactly_one_graph(store: Store) -> None:
    kg = fresh(store)
    per_triple = Counter((q.subject, q.predicate, q.object) for q in kg.store.quads())
    assert [t for t, n in per_triple.items() if n > 1] == []
    total, distinct = union_count(kg)
    assert total == distinct == len(kg.store)


def test_shared_nodes_are_described_once_and_runs_keep_their_links() -> None:
    kg = fresh(OxigraphStore())
    train = kg.iris.data({"sha256": pf.TRAIN_SHA, "location": "x"})
    about = [q for q in kg.store.quads() if q.subject == train]
    # its description is in the shared graph; only its generation (a link to a run) is a bundle's
    assert {q.graph_name for q in about if q.predicate != ox.NamedNode("http://www.w3.org/ns/prov#wasGeneratedBy")} \
        == {kg.iris.shared_graph}
    assert {q.graph_name for q in about if q.graph_name != kg.iris.shared_graph} == {kg.iris.bundle("prep-1")}
    # the datasets each training used, read with its own bundle only: the link is the run's
    for run in ("train-a", "train-b"):
        used = kg.store.query(
            f"ASK {{ GRAPH {kg.iris.bundle(run)} {{ ?x <http://www.w3.org/ns/prov#used> {train} }} }}",
            use_default_graph_as_union=False)
        assert bool(used), run
    # the paper's counting question: one training set, counted once
    n = count(kg, f"SELECT (COUNT(*) AS ?n) WHERE {{ {train} <https://w3id.org/provml#location> ?l }}")
    assert n == 1


def test_reingesting_adds_nothing() -> None:
    kg = fresh(OxigraphStore())
    before = set(kg.store.quads())
    for batch in BATCHES:
        kg.ingest_events(batch())
    assert set(kg.store.quads()) == before


def test_old_layout_counts_wrongly_and_migration_fixes_it() -> None:
    kg = old_layout()
    total, distinct = union_count(kg)
    assert total > distinct  # the bug the migration repairs
    assert pending(kg) > 0
    result = migrate(kg)
    assert result.moved > 0 and result.after == len(kg.store)
    after, after_distinct = union_count(kg)
    assert after == after_distinct == len(kg.store)
    # the migrated store is what the current version writes for the same events
    assert no_blank(set(kg.store.quads())) == no_blank(set(fresh(OxigraphStore()).store.quads()))
    assert pending(kg) == 0
    again = migrate(kg)
    assert again.moved == 0 and again.before == again.after


def test_migration_of_a_read_only_store_fails_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with OxigraphStore(path) as disk:
        disk.add(old_layout().store.quads())
        before = set(disk.quads())
    with OxigraphStore(path, read_only=True) as ro:
        kg = KnowledgeGraph(ro)
        with pytest.raises(StoreReadOnly):
            migrate(kg)
        assert set(ro.quads()) == before


def test_cli_migrate(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with OxigraphStore(path) as disk:
        disk.add(old_layout().store.quads())
    runner = CliRunner()
    check = runner.invoke(main, ["migrate", "--check", "--store", str(path)])
    assert check.exit_code == 1 and "to move or drop" in check.output
    done = runner.invoke(main, ["migrate", "--store", str(path)])
    assert done.exit_code == 0 and "moved" in done.output, done.output
    assert runner.invoke(main, ["migrate", "--check", "--store", str(path)]).exit_code == 0
    assert "nothing to do" in runner.invoke(main, ["migrate", "--store", str(path)]).output
    missing = runner.invoke(main, ["migrate", "--store", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no store" in missing.output


# -- query shortcuts (docs/ontology.md) ----------------------------------------------------------


def test_shortcuts_agree_with_the_plain_prov_edges_even_across_batches() -> None:
    kg = KnowledgeGraph(OxigraphStore())
    kg.load_ontologies()
    for batch in BATCHES:
        for event in batch():  # one event per ingest: every section's stage is in an earlier batch
            kg.ingest_events([event])
    # every section's stage: its nearest ancestor without an iteration (followed by PROV edges)
    expected = {(r["x"].value, r["s"].value) for r in kg.query(
        """PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX provml: <https://w3id.org/provml#>
           SELECT ?x ?s WHERE { ?x provml:iteration ?i ; prov:wasInformedBy* ?y .
             ?y provml:iteration ?j ; prov:wasInformedBy ?s . FILTER NOT EXISTS { ?s provml:iteration ?k } }""")}
    got = {(r["x"].value, r["s"].value) for r in kg.query(
        "SELECT ?x ?s WHERE { ?x <https://w3id.org/provml#stageExecution> ?s ; <https://w3id.org/provml#iteration> ?i }")}
    assert got == expected and len(got) > 10
    # a task is its own stage
    tasks = {r["x"].value for r in kg.query(
        """SELECT ?x WHERE { ?x <http://www.w3.org/ns/prov#wasInformedBy> ?p .
             FILTER NOT EXISTS { ?x <https://w3id.org/provml#iteration> ?i } }""")}
    own = {r["x"].value for r in kg.query("SELECT ?x WHERE { ?x <https://w3id.org/provml#stageExecution> ?x }")}
    assert own == tasks and tasks
    assert all(s.endswith(("/train", "/validate")) for _, s in got)
    # every nested execution's run; every run value's attribute name
    missing = kg.query(
        """PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX provml: <https://w3id.org/provml#>
           SELECT ?x WHERE { ?x prov:wasInformedBy ?p . ?x prov:wasInformedBy+ ?run .
             ?run a provml:WorkflowExecution . FILTER NOT EXISTS { ?x provml:workflowExecution ?run } }""")
    assert list(missing) == []
    wrong = kg.query(
        """PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX provml: <https://w3id.org/provml#>
           PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
           SELECT ?v WHERE { ?v a provml:AttributeValue ; prov:wasDerivedFrom/rdfs:label ?name .
             FILTER(STRSTARTS(STR(?v), "https://w3id.org/provml/id/run/"))
             FILTER NOT EXISTS { ?v provml:attributeName ?name } }""")
    assert list(wrong) == []
    # and the store is what one batch per workflow gives
    assert no_blank(set(kg.store.quads())) == no_blank(set(fresh(OxigraphStore()).store.quads()))
