"""The summary update and the late stage links planned before the write
(provml.ingest.summary_plan) write what the recomputation after the write
(provml.ingest.summaries.update_summaries, provml.ingest.shortcuts.late_links) writes: the same
store, quad for quad, on disk and in memory, whatever order the bags come in and when they are
delivered twice; values it cannot read as SPARQL would go the old way."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest
from pyoxigraph import Quad, RdfFormat, parse

import provml.ingest.summary_plan as summary_plan
from provml.ingest.summaries import summary_node
from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore
from provml.vocab import PROVML

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import workload  # noqa: E402


def _bag_orders() -> list[list[list[dict[str, Any]]]]:
    evs = workload.learning_run("p1", epochs=3, batches=6) + workload.learning_run("p2", epochs=2, batches=4)
    bags = [evs[i:i + 5] for i in range(0, len(evs), 5)]  # every epoch spans several bags
    shuffled = bags[:]
    random.Random(7).shuffle(shuffled)
    return [bags, bags[::-1], shuffled, [b for b in bags for _ in range(2)], bags + bags[:4]]


def _store(path: Path | None, bags: list[list[dict[str, Any]]]) -> tuple[set[Quad], int]:
    kg = KnowledgeGraph(OxigraphStore(path))
    for bag in bags:
        kg.ingest_events(bag)
    quads = set(kg.store.quads())
    kg.close()
    return quads, sum(1 for q in quads if q.predicate == PROVML.summary)


@pytest.mark.parametrize("on_disk", [True, False])
def test_the_planned_update_writes_what_the_recomputation_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool
) -> None:
    planned_calls: list[bool] = []
    late: list[int] = []
    plan, plan_late_links = summary_plan.plan, summary_plan.plan_late_links

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = plan(*args, **kwargs)
        planned_calls.append(result is not None)
        return result

    def counted_links(*args: Any, **kwargs: Any) -> Any:
        result = plan_late_links(*args, **kwargs)
        late.append(-1 if result is None else len(result))
        return result

    for n, bags in enumerate(_bag_orders()):
        monkeypatch.setattr(summary_plan, "plan", counted)
        monkeypatch.setattr(summary_plan, "plan_late_links", counted_links)
        planned, summaries = _store(tmp_path / f"planned-{n}" if on_disk else None, bags)
        # the recomputation and the late links after the write
        monkeypatch.setattr(summary_plan, "plan", lambda *a, **k: None)
        monkeypatch.setattr(summary_plan, "plan_late_links", lambda *a, **k: None)
        recomputed, _ = _store(tmp_path / f"recomputed-{n}" if on_disk else None, bags)
        assert summaries > 10
        assert planned == recomputed
    assert planned_calls and all(planned_calls)
    assert min(late) >= 0 and max(late) > 0  # bags in reverse order: sections stored before their parent


def test_a_value_of_another_numeric_datatype_is_left_to_the_recomputation(tmp_path: Path) -> None:
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)  # the summaries only
    kg.ingest_events(workload.learning_run("p3", epochs=1, batches=2))
    epoch = kg.iris.execution("p3", "train/epoch-0")
    batch = kg.iris.execution("p3", "train/epoch-0/batch-0")
    value = f"{batch.value}/extra"
    turtle = f"""@prefix prov: <http://www.w3.org/ns/prov#> . @prefix provml: <https://w3id.org/provml#> .
        @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
        <{value}> a prov:Entity, provml:Evaluation ; prov:wasGeneratedBy <{batch.value}> ;
            provml:attributeName "loss" ; prov:value "7"^^xsd:int ."""
    graph = next(q.graph_name for q in kg.store.quads() if q.subject == batch)
    assert summary_plan.plan(kg.store, [Quad(q.subject, q.predicate, q.object, graph) for q in
                                        parse(turtle.encode(), format=RdfFormat.TURTLE)]) is None
    kg.ingest_rdf(turtle.encode(), format=RdfFormat.TURTLE, graph=graph)  # type: ignore[arg-type]
    count = next(q.object for q in kg.store.quads()
                 if q.subject == summary_node(epoch, "loss") and q.predicate == PROVML.valueCount)
    assert count.value == "3"  # the two batch losses and the xsd:int one, as SPARQL counts it
    kg.close()


@pytest.mark.parametrize("on_disk", [True, False])
def test_a_whole_run_delivered_twice_counts_each_value_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool
) -> None:
    """A client's retry or a rerun of ``provml load`` delivers a whole run again: its losses
    (``1.0`` in the batch, ``"1"`` as the store keeps that double) must not be counted twice."""
    run = workload.learning_run("p1", epochs=3, batches=6)
    planned, summaries = _store(tmp_path / "planned" if on_disk else None, [run, run])
    monkeypatch.setattr(summary_plan, "plan", lambda *a, **k: None)
    monkeypatch.setattr(summary_plan, "plan_late_links", lambda *a, **k: None)
    recomputed, _ = _store(tmp_path / "recomputed" if on_disk else None, [run])
    assert summaries > 3
    assert planned == recomputed
