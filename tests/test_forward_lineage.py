"""The forward-lineage queries (``impact``, ``og_well_impact``, ``og_models_by_field``) were
rewritten for speed (sub-selects walked backwards instead of a property path walked forwards from
the raw file; docs/queries.md). Their answers must not change: on the paper-shaped synthetic
workload (``benchmarks/paper_workload.py``, through the whole ingest pipeline) each returns the
same rows as its former text (kept here, verbatim), for every source, well and field and with no
parameter; and the models it finds are the generator's own record of what derives from the well.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyoxigraph import NamedNode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import paper_workload as pw  # noqa: E402
from forward_lineage import FORMER  # noqa: E402

from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.query.named import NamedQuery, get_query, run_query  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402

DATA = "https://w3id.org/provml/id/data/sha256-"
Row = tuple[str | None, ...]


@pytest.fixture(scope="module")
def case() -> Iterator[tuple[KnowledgeGraph, pw.Truth]]:
    runs, truth = pw.generate(3, runs_per_selection=3, epochs=2, batches=3, wells=6)
    kg = KnowledgeGraph(OxigraphStore())
    kg.load_ontologies()
    for run in runs:
        kg.ingest_events(run)
    kg.store.add(pw.domain_quads(truth, NamedNode("https://w3id.org/provml/id/graph/domain/bench")))
    yield kg, truth


def answer(kg: KnowledgeGraph, name: str, text: str, params: dict[str, str]) -> list[Row]:
    q = get_query(name)
    query = NamedQuery(name=name, title=q.title, description=q.description, paper=q.paper,
                       parameters=q.parameters, text=text, source="test")
    out: list[Row] = []
    result = run_query(kg, query, params)
    names = [v.value for v in result.variables]
    for s in result:
        row = tuple(None if s[n] is None else s[n].value for n in names)
        if name == "og_models_by_field":  # GROUP_CONCAT's order is unspecified: compare the wells as a set
            wells = row[3]
            row = row[:3] + (None if wells is None else ", ".join(sorted(wells.split(", "))),) + row[4:]
        out.append(row)
    return sorted(out, key=repr)


def same(kg: KnowledgeGraph, name: str, params: dict[str, str]) -> list[Row]:
    new = answer(kg, name, get_query(name).text, params)
    assert new == answer(kg, name, FORMER[name], params), (name, params)
    return new


def test_impact_same_rows_as_the_property_path(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, truth = case
    assert len(same(kg, "impact", {})) > 0
    for well, digest in truth.raw.items():
        got = same(kg, "impact", {"source": DATA + digest})
        models = {r[1] for r in got if r[2] == "model"}
        derived = {DATA + m for t in truth.trainings if well in truth.selections[t.selection] for m in t.models}
        assert derived <= models, well  # every model trained on a selection with the well
    # a curated (derived) item given as the source
    assert same(kg, "impact", {"source": DATA + next(iter(truth.train_set.values()))})


def test_og_well_impact_same_rows_as_the_property_path(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, truth = case
    assert len(same(kg, "og_well_impact", {})) > 0
    for well in truth.wells.values():
        got = same(kg, "og_well_impact", {"well": well.iri})
        derived = {DATA + m for t in truth.trainings if well.id in truth.selections[t.selection] for m in t.models}
        assert derived <= {r[4] for r in got if r[3] == "model"}, well.id


def test_og_models_by_field_same_rows_as_the_property_path(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, truth = case
    assert len(same(kg, "og_models_by_field", {})) > 0
    for field in {w.field for w in truth.wells.values()}:
        got = same(kg, "og_models_by_field", {"field": field})
        wells = {w.id for w in truth.wells.values() if w.field == field}
        derived = {DATA + t.models[-1] for t in truth.trainings if wells & set(truth.selections[t.selection])}
        assert derived <= {r[2] for r in got}, field
