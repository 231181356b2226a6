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
from provml.ingest.plan_reads import Reads
from provml.ingest.summaries import summary_node
from provml.ingest.translation import translate
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


# -- what the plans read, kept from one batch to the next (Reads) ------------------

_PREFIXES = """@prefix prov: <http://www.w3.org/ns/prov#> . @prefix provml: <https://w3id.org/provml#> .
    @prefix xsd: <http://www.w3.org/2001/XMLSchema#> ."""


def _epoch_loss(kg: KnowledgeGraph, run: str, epoch: int) -> dict[str, str]:
    node = summary_node(kg.iris.execution(run, f"train/epoch-{epoch}"), "loss")
    return {q.predicate.value.rsplit("#", 1)[1]: q.object.value for q in kg.store.quads() if q.subject == node}


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The store's pattern reads the plans make, counted (three entries per batch: the planners
    each ask for the store; the first one's view is the one they all read)."""
    counts: list[int] = []
    raw_of = summary_plan._raw

    class Counting:
        def __init__(self, raw: Any) -> None:
            self.raw = raw
            counts.append(0)

        def quads_for_pattern(self, *pattern: Any) -> Any:
            counts[-1] += 1
            return self.raw.quads_for_pattern(*pattern)

    monkeypatch.setattr(summary_plan, "_raw", lambda store: None if (r := raw_of(store)) is None else Counting(r))
    return counts


def test_what_the_plans_read_is_read_from_memory_by_the_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Late in a run a batch's plan reads every epoch of the run (its stage's summary): kept from
    the batches before, not read from the store again; the store is the same quad for quad."""
    run = workload.learning_run("k1", epochs=12, batches=4)
    bags = [run[i:i + 10] for i in range(0, len(run), 10)]
    counts = _counting_reads(monkeypatch)
    kept, _ = _store(tmp_path / "kept", bags)
    kept_reads = counts[:]
    monkeypatch.setattr(Reads, "keep", lambda self, *args: self.forget())
    counts.clear()
    forgotten, _ = _store(tmp_path / "forgotten", bags)
    assert kept == forgotten
    assert len(kept_reads) == len(counts) == 3 * len(bags)
    # the last bags: the stage's summary reads the run's 12 epochs from the store each time
    assert sum(counts[-15:]) > 2 * sum(kept_reads[-15:]), (kept_reads, counts)


def test_a_value_stated_by_itself_is_not_read_stale_later(tmp_path: Path) -> None:
    """A batch that changes what the plans read before, without the plan reading it again (a
    value's prov:value alone: no summary to recompute), is forgotten: the next recomputation
    of its epoch reads the value."""
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)  # the summaries only
    kg.ingest_events(workload.learning_run("k2", epochs=1, batches=2))
    b0, b1 = (kg.iris.execution("k2", f"train/epoch-0/batch-{b}") for b in range(2))
    graph = next(q.graph_name for q in kg.store.quads() if q.subject == b0)

    def rdf(text: str) -> None:
        kg.ingest_rdf(f"{_PREFIXES} {text}".encode(), format=RdfFormat.TURTLE, graph=graph)  # type: ignore[arg-type]

    rdf(f'<{b0.value}/x> prov:wasGeneratedBy <{b0.value}> ; provml:attributeName "loss" .')  # no value yet
    assert _epoch_loss(kg, "k2", 0)["valueCount"] == "2"
    rdf(f"<{b0.value}/x> prov:value 7.0 .")  # nothing to recompute: the plan reads nothing
    rdf(f'<{b1.value}/y> prov:wasGeneratedBy <{b1.value}> ; provml:attributeName "loss" ; prov:value 0.0 .')
    loss = _epoch_loss(kg, "k2", 0)
    assert (int(loss["valueCount"]), float(loss["maximumValue"]), float(loss["minimumValue"])) == (4, 7.0, 0.0)
    kg.close()


def test_a_write_by_someone_else_between_batches_is_read_from_the_store(tmp_path: Path) -> None:
    """A write that did not go through the plans (a SPARQL update) makes the next batch forget
    what the plans read: the epoch it touched is summarized with it."""
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)
    run = workload.learning_run("k3", epochs=2, batches=4)
    half = next(i for i, e in enumerate(run) if e.get("task") == "train/epoch-1/batch-2")
    kg.ingest_events(run[:half])
    b0 = kg.iris.execution("k3", "train/epoch-1/batch-0")
    graph = next(q.graph_name for q in kg.store.quads() if q.subject == b0)
    kg.store.update(f"""PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX provml: <https://w3id.org/provml#>
        INSERT DATA {{ GRAPH {graph} {{ <{b0.value}/x> prov:wasGeneratedBy {b0} ;
                                         provml:attributeName "loss" ; prov:value 100.0 }} }}""")
    kg.ingest_events(run[half:])  # the epoch's last batches: its summary recomputed
    assert float(_epoch_loss(kg, "k3", 1)["maximumValue"]) == 100.0
    kg.close()


def _two_batches(store: OxigraphStore) -> tuple[list[Quad], list[Quad]]:
    kg = KnowledgeGraph(store, validate=False)
    run = workload.learning_run("k4", epochs=2, batches=3)
    half = len(run) // 2
    return (kg.prepare_batch(translate(run[:half], iris=kg.iris)),
            kg.prepare_batch(translate(run[half:], iris=kg.iris)))


def test_a_write_by_someone_else_during_a_batch_or_a_failure_forgets_everything() -> None:
    store = OxigraphStore()
    first, second = _two_batches(store)
    reads = Reads()
    reads.begin(store)
    summary_plan.store_batch(store, first, reads=reads)
    assert len(reads) > 0 and reads.generation == store.generation

    def with_another_write(extra: Any) -> int:
        store.add([*second, *extra])
        store.update("INSERT DATA { <http://e.org/s> <http://e.org/p> 1 }")  # someone else's
        return 1

    reads.begin(store)
    summary_plan.store_batch(store, second, reads=reads, write=with_another_write)
    assert len(reads) == 0 and reads.generation is None

    def failing(extra: Any) -> int:
        raise OSError("disk full")

    reads.begin(store)
    summary_plan.store_batch(store, second, reads=reads)  # kept again
    assert len(reads) > 0
    reads.begin(store)
    with pytest.raises(OSError, match="disk full"):
        summary_plan.store_batch(store, second, reads=reads, write=failing)
    assert len(reads) == 0 and reads.generation is None
    store.close()


def test_late_links_written_with_a_batch_replace_what_was_read_of_their_sections() -> None:
    """Sections stored before their parent's stage link: the plans read that they have no
    ``provml:stageExecution``; the late links the batch writes replace that reading."""
    store = OxigraphStore()
    first, second = _two_batches(store)
    reads = Reads()
    for batch in (second, first):  # the epochs' batches first, the stage's events after
        reads.begin(store)
        summary_plan.store_batch(store, batch, reads=reads)
    links = {(q.subject, q.predicate): q for q in store.quads() if q.predicate == PROVML.stageExecution}
    assert links
    for key, quads in reads.out.items():
        if key[1] == PROVML.stageExecution:
            assert {q.object for q in quads} == {q.object for q in store.quads() if (q.subject, q.predicate) == key}
    store.close()


def test_past_its_limit_only_the_last_batchs_reads_stay(tmp_path: Path) -> None:
    run = workload.learning_run("k5", epochs=8, batches=4)
    bags = [run[i:i + 10] for i in range(0, len(run), 10)]
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "small"))
    kg._reads = Reads(limit=60)
    sizes = []
    for bag in bags:
        kg.ingest_events(bag)
        sizes.append(len(kg._reads))
    small = set(kg.store.quads())
    kg.close()
    large, _ = _store(tmp_path / "large", bags)
    assert small == large
    assert max(sizes) < 200 and min(sizes[3:]) > 0
