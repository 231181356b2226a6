"""The summary update and the late stage links planned before the write
(provml.ingest.summary_plan) write what the recomputation after the write
(provml.ingest.summaries.update_summaries, provml.ingest.shortcuts.late_links) writes: the same
store, quad for quad, on disk and in memory, whatever order the bags come in and when they are
delivered twice; values it cannot read as SPARQL would go the old way."""

from __future__ import annotations

import random
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pyoxigraph import BlankNode, Literal, NamedNode, Quad, RdfFormat, parse

import provml.ingest.node_filters as node_filters
import provml.ingest.plan_reads as plan_reads
import provml.ingest.summary_plan as summary_plan
from provml.ingest.plan_reads import Future, Reads
from provml.ingest.summaries import summary_node
from provml.ingest.translation import translate
from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore
from provml.vocab import PROV, PROVML, RDF, XSD

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


#: the defaults; every kept subjects list merged with a batch through its set
#: (``Reads.members``); that and every execution's summaries kept as running totals (Tally)
_MODES = ["default", "sets", "sets+totals"]


def _mode(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    if "sets" in mode:
        monkeypatch.setattr(plan_reads, "_LONG", 1)
    if "totals" in mode:
        monkeypatch.setattr(summary_plan, "TALLY_MIN_SECTIONS", 1)


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("on_disk", [True, False])
def test_the_planned_update_writes_what_the_recomputation_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool, mode: str
) -> None:
    _mode(monkeypatch, mode)
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


@pytest.mark.parametrize("value", [123456789012345678901234567890, 9223372036854775808, -9223372036854775809,
                                   9223372036854775807, "1.0000000000000000000001", "1.000000000000000001"])
def test_a_number_past_what_the_store_reads_as_one_is_summarized_as_sparql_counts_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: int | str) -> None:
    """An xsd:integer past 64 bits (a 30-digit loss) is not numeric to Oxigraph's ``isNumeric``;
    the plan counted it all the same, so the summaries (max 1.2e29, count 2) depended on the
    path that made them (the recomputation: max 0.5, count 1; a correctness audit, twentieth
    session). Such lexical forms go to the recomputation now: both paths write the same store,
    and the count is SPARQL's."""
    events = workload.learning_run("p4", epochs=1, batches=2)
    for event in events:
        for item in event.get("generated", ()):
            if item.get("name") == "loss" and event.get("iteration") == 0 and "value" in item:
                item["value"] = value if isinstance(value, int) else item["value"]
    stores = []
    for planned in (True, False):
        if not planned:
            monkeypatch.setattr(summary_plan, "plan", lambda *a, **k: None)
        kg = KnowledgeGraph(OxigraphStore(tmp_path / f"store-{planned}"), validate=False)
        kg.ingest_events(events)
        if isinstance(value, str):  # an xsd:decimal (a capture client sends floats): added as RDF
            batch = kg.iris.execution("p4", "train/epoch-0/batch-1")
            graph = next(q.graph_name for q in kg.store.quads() if q.subject == batch)
            kg.ingest_rdf(f"""@prefix prov: <http://www.w3.org/ns/prov#> .
                @prefix provml: <https://w3id.org/provml#> . @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
                <{batch.value}/extra> a prov:Entity, provml:Evaluation ; prov:wasGeneratedBy <{batch.value}> ;
                    provml:attributeName "loss" ; prov:value "{value}"^^xsd:decimal .""".encode(),
                format=RdfFormat.TURTLE, graph=graph)  # type: ignore[arg-type]
        epoch = kg.iris.execution("p4", "train/epoch-0")
        numeric = next(iter(kg.store.query(f"""SELECT (COUNT(*) AS ?n) WHERE {{
            ?v <{PROV.wasGeneratedBy.value}>/<{PROV.wasInformedBy.value}> <{epoch.value}> ;
               <{PROVML.attributeName.value}> "loss" ; <{PROV.value.value}> ?x . FILTER(isNumeric(?x)) }}""",
            use_default_graph_as_union=True)))["n"].value
        count = next(q.object for q in kg.store.quads()
                     if q.subject == summary_node(epoch, "loss") and q.predicate == PROVML.valueCount)
        assert count.value == numeric
        stores.append(set(kg.store.quads()))
        kg.close()
    assert stores[0] == stores[1]


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("on_disk", [True, False])
def test_a_whole_run_delivered_twice_counts_each_value_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool, mode: str
) -> None:
    """A client's retry or a rerun of ``provml load`` delivers a whole run again: its losses
    (``1.0`` in the batch, ``"1"`` as the store keeps that double) must not be counted twice."""
    _mode(monkeypatch, mode)
    run = workload.learning_run("p1", epochs=3, batches=6)
    planned, summaries = _store(tmp_path / "planned" if on_disk else None, [run, run])
    monkeypatch.setattr(summary_plan, "plan", lambda *a, **k: None)
    monkeypatch.setattr(summary_plan, "plan_late_links", lambda *a, **k: None)
    recomputed, _ = _store(tmp_path / "recomputed" if on_disk else None, [run])
    assert summaries > 3
    assert planned == recomputed


# -- what the plans read, kept from one batch to the next (Reads) ------------------

_PREFIXES = """@prefix prov: <http://www.w3.org/ns/prov#> . @prefix provml: <https://w3id.org/provml#> .
    @prefix xsd: <http://www.w3.org/2001/XMLSchema#> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> ."""


def _epoch_loss(kg: KnowledgeGraph, run: str, epoch: int) -> dict[str, str]:
    node = summary_node(kg.iris.execution(run, f"train/epoch-{epoch}"), "loss")
    return {q.predicate.value.rsplit("#", 1)[1]: q.object.value for q in kg.store.quads() if q.subject == node}


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The store's pattern reads the plans make, counted (four entries per batch: the planners
    each ask for the store, the first one's view is the one they all read; then ``apply``
    reads the summaries it replaces)."""
    counts: list[int] = []
    raw_of = summary_plan._raw

    class Counting:
        def __init__(self, raw: Any) -> None:
            self.raw = raw
            counts.append(0)

        def quads_for_pattern(self, *pattern: Any) -> Any:
            counts[-1] += 1
            return self.raw.quads_for_pattern(*pattern)

        def __contains__(self, quad: Quad) -> bool:
            counts[-1] += 1
            return quad in self.raw

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
    assert len(kept_reads) == len(counts) == 4 * len(bags)
    # the last bags: the stage's summary reads the run's 12 epochs from the store each time
    assert sum(counts[-20:]) > 2 * sum(kept_reads[-20:]), (kept_reads, counts)


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


@pytest.mark.parametrize("limit", [60, 200])
def test_past_its_limit_only_the_last_batchs_reads_stay_and_none_past_it_alone(tmp_path: Path, limit: int) -> None:
    """Bags of 10 events read ≈ 60–130 entries each: under a limit of 200 the last batch's reads
    stay; under 60 every batch after the first reads past it alone, and none is kept (a large
    group's reads are mostly its own nodes', which the next does not read again: twenty-ninth
    session). The store is the same either way."""
    run = workload.learning_run("k5", epochs=8, batches=4)
    bags = [run[i:i + 10] for i in range(0, len(run), 10)]
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "small"))
    kg._reads = Reads(limit=limit)
    sizes = []
    for bag in bags:
        kg.ingest_events(bag)
        sizes.append(len(kg._reads))
    small = set(kg.store.quads())
    kg.close()
    large, _ = _store(tmp_path / "large", bags)
    assert small == large
    assert max(sizes) < limit
    if limit == 200:
        assert min(sizes[3:]) > 0
    else:
        assert sizes[0] > 0 and sizes[1:] == [0] * (len(sizes) - 1)


# -- a long run's stage: its summaries kept as running totals (Tally) -----------------


def _steps(path: Path, steps: list[tuple[str, Any]]) -> set[Quad]:
    """The store after ``steps``: ("events", a bag), ("rdf", Turtle in the run's graph) or
    ("update", SPARQL by someone else)."""
    kg = KnowledgeGraph(OxigraphStore(path), validate=False)  # the summaries only
    for kind, step in steps:
        if kind == "events":
            kg.ingest_events(step)
        else:
            graph = next(q.graph_name for q in kg.store.quads() if q.predicate == PROV.wasInformedBy)
            if kind == "rdf":
                kg.ingest_rdf(f"{_PREFIXES} {step}".encode(), format=RdfFormat.TURTLE, graph=graph)  # type: ignore[arg-type]
            else:
                kg.store.update(f"{_PREFIXES.replace('@prefix', 'PREFIX').replace(' .', '')} "
                                f"INSERT DATA {{ GRAPH {graph} {{ {step} }} }}")
    quads = set(kg.store.quads())
    kg.close()
    return quads


def _both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: list[tuple[str, Any]]) -> set[Quad]:
    """The store planned (running totals kept) and recomputed by SPARQL after each write: the same."""
    planned = _steps(tmp_path / "planned", steps)
    with monkeypatch.context() as m:
        m.setattr(summary_plan, "plan", lambda *a, **k: None)
        recomputed = _steps(tmp_path / "recomputed", steps)
    assert planned == recomputed
    return planned


def _stage_summary(quads: set[Quad], run: str, name: str) -> dict[str, str]:
    node = summary_node(KnowledgeGraph(OxigraphStore(None)).iris.execution(run, "train"), name)
    return {q.predicate.value.rsplit("#", 1)[1]: q.object.value for q in quads
            if q.subject == node and q.predicate != RDF.type}


def test_a_long_runs_stage_is_recomputed_from_the_epochs_a_batch_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Late in a run of 48 epochs a bag's plan reads the parts of the epochs it changed, not all
    48 (before: every epoch, for every bag); the store is what SPARQL's recomputation writes."""
    run = workload.learning_run("t1", epochs=48, batches=2)
    bags = [run[i:i + 3] for i in range(0, len(run), 3)]
    calls: list[int] = []
    contribution = summary_plan._contribution

    def counted(f: Any, c: Any) -> Any:
        calls[-1] += 1
        return contribution(f, c)

    monkeypatch.setattr(summary_plan, "_contribution", counted)
    monkeypatch.setattr(summary_plan, "TALLY_MIN_SECTIONS", 16)  # (a run of 48 epochs here)
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "kept"), validate=False)
    for bag in bags:
        calls.append(0)
        kg.ingest_events(bag)
    kept = set(kg.store.quads())
    stage = kg.iris.execution("t1", "train")
    assert stage in kg._reads.tallies  # type: ignore[union-attr]
    kg.close()
    monkeypatch.setattr(summary_plan, "_contribution", contribution)
    monkeypatch.setattr(summary_plan, "TALLY_MIN_SECTIONS", 10**9)  # none kept: every epoch read
    calls.append(0)
    assert kept == _both_ways(tmp_path, monkeypatch, [("events", bag) for bag in bags])
    assert max(calls[-20:-1]) <= 8, calls  # the epoch, its batches, the stage's changed epoch
    assert _stage_summary(kept, "t1", "accuracy")["valueCount"] == "48"


def test_the_running_totals_follow_writes_they_do_not_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the totals cannot follow makes them be built again from every epoch: a SPARQL
    update by someone else (the store's generation), a value stated of a stored node without
    the node that generated it, a summary stated of a stored epoch (the batch's plan recomputes
    nothing in both). Each would leave the stage's maximum behind, three bags later, if the
    totals were kept."""
    run = workload.learning_run("t2", epochs=40, batches=2)
    bags = [run[i:i + 4] for i in range(0, len(run), 4)]
    half = len(bags) // 2
    e3 = KnowledgeGraph(OxigraphStore(None)).iris.execution("t2", "train/epoch-3")
    steps: list[tuple[str, Any]] = [("events", bag) for bag in bags[:half]]
    phases = [
        ("update", f'<{e3.value}/u> prov:wasGeneratedBy {e3} ; provml:attributeName "accuracy" ; prov:value 77.0 .'),
        ("rdf", f"<{e3.value}/generated/accuracy> prov:value 88.0 ."),  # (stored in the first half)
        ("rdf", f'{e3} provml:summary <{e3.value}/summary/s> . <{e3.value}/summary/s> provml:attributeName '
                f'"accuracy" ; provml:minimumValue 0.0e0 ; provml:maximumValue 99.0e0 ; provml:meanValue 1.0e0 ; '
                f"provml:valueCount 1 ."),
    ]
    for n, (phase, expected) in enumerate(zip(phases, (77.0, 88.0, 99.0), strict=True)):
        steps += [phase, *(("events", bag) for bag in bags[half + 3 * n:half + 3 * n + 3])]
        for tally_min in (summary_plan.TALLY_MIN_SECTIONS, 1):
            monkeypatch.setattr(summary_plan, "TALLY_MIN_SECTIONS", tally_min)
            quads = _both_ways(tmp_path / f"{n}-{tally_min}", monkeypatch, steps)
            assert float(_stage_summary(quads, "t2", "accuracy")["maximumValue"]) == expected


def test_a_batch_that_states_a_summarys_own_fields_uses_no_running_totals() -> None:
    store = OxigraphStore(None)
    node = NamedNode("https://e.org/x/summary/loss")
    for p in (PROVML.minimumValue, PROVML.valueCount):
        f = Future(store.raw, [Quad(node, p, Literal("1", datatype=XSD.integer), NamedNode("https://e.org/g"))],
                   Reads())
        assert f.tallies is not None
        assert f.changed_sections(NamedNode("https://e.org/x")) is None
        assert f.tallies is None


# -- apply: only what changed is written ----------------------------------------------


def test_the_summaries_replaced_are_written_only_where_they_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bag that adds a batch to a stored epoch changes its summary's count and mean, not its
    types or name: those are not written again. A bag delivered again changes nothing: no
    update at all. And what else a summary node holds goes with it, as SPARQL's DELETE … WHERE
    does (a comment someone added)."""
    run = workload.learning_run("a1", epochs=3, batches=6)
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)
    updates: list[str] = []
    update = kg.store.update

    def recorded(sparql: str, **kwargs: Any) -> Any:
        updates.append(sparql)
        return update(sparql, **kwargs)

    monkeypatch.setattr(kg.store, "update", recorded)
    last = next(i for i, e in enumerate(run) if e.get("task") == "train/epoch-2/batch-5")
    kg.ingest_events(run[:last])
    updates.clear()
    kg.ingest_events(run[last:last + 2])  # the epoch's last batch: its summary and the stage's change
    assert len(updates) == 1 and "DELETE DATA" in updates[0] and "valueCount" in updates[0]
    assert str(RDF.type) not in updates[0] and "attributeName" not in updates[0]
    updates.clear()
    generation = kg.store.generation
    kg.ingest_events(run[last:last + 2])  # again: the same summaries
    assert updates == [] and kg.store.generation == generation + 1  # the batch's own write only
    kg.close()
    stage = KnowledgeGraph(OxigraphStore(None)).iris.execution("a1", "train")
    steps: list[tuple[str, Any]] = [("events", run[:last]),
                                    ("rdf", f'<{summary_node(stage, "loss").value}> rdfs:comment "kept?" .'),
                                    ("events", run[last:])]
    quads = _both_ways(tmp_path / "both", monkeypatch, steps)
    assert not any(q.object.value == "kept?" for q in quads)
    # a blank node on it (DELETE DATA takes none): SPARQL's DELETE … WHERE instead, the same store
    # but for the blank node's own label, which neither deletes (its label differs in each store)
    steps[1] = ("rdf", f'<{summary_node(stage, "loss").value}> rdfs:seeAlso [ rdfs:label "b" ] .')
    planned = _steps(tmp_path / "blank-planned", steps)
    with monkeypatch.context() as m:
        m.setattr(summary_plan, "plan", lambda *a, **k: None)
        recomputed = _steps(tmp_path / "blank-recomputed", steps)
    named = [{q for q in quads if not isinstance(q.subject, BlankNode)} for quads in (planned, recomputed)]
    assert named[0] == named[1] and len(planned) == len(recomputed)
    assert not any(q.predicate.value.endswith("seeAlso") for q in planned)


# -- the nodes a store lacks, not read (Stored) -----------------------------------------


def test_the_nodes_a_store_lacks_are_not_read_and_the_store_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most nodes a batch states something of are new: with the filters their reads are
    skipped (a third of the plans' pattern reads and more here), and the store is the same,
    quad for quad, as with every node read."""
    run = workload.learning_run("f1", epochs=4, batches=6)
    bags = [run[i:i + 7] for i in range(0, len(run), 7)]
    counts = _counting_reads(monkeypatch)
    filtered, _ = _store(tmp_path / "filtered", bags)
    with_filters = sum(counts)
    counts.clear()
    monkeypatch.setattr(plan_reads, "FILTERS", False)
    everything, _ = _store(tmp_path / "everything", bags)
    assert filtered == everything
    assert with_filters < 0.67 * sum(counts), (with_filters, sum(counts))


def test_a_filter_holds_every_node_of_the_store_it_was_read_from(tmp_path: Path) -> None:
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)
    kg.ingest_events(workload.learning_run("f2", epochs=2, batches=3))
    stored = node_filters.Stored.scan(kg.store.raw, plan_reads.OUT, plan_reads.IN)
    quads = list(kg.store.quads())
    assert all(stored.has_subject(q.subject) for q in quads if q.predicate in plan_reads.OUT_SET)
    assert all(stored.has_object(q.object) for q in quads if q.predicate in plan_reads.IN_SET)
    absent = [NamedNode(f"https://e.org/absent/{i}") for i in range(1_000)]
    assert sum(stored.has_subject(n) for n in absent) < 50  # (1 % at its size)
    kg.close()
    # the text of a node in the query's results is the text the filters are asked with
    odd = OxigraphStore()
    g = NamedNode("https://e.org/g")
    nodes = [NamedNode("https://e.org/é/ü?a=b#c"), NamedNode("https://e.org/\u00a0x"), BlankNode("b1"), BlankNode()]
    odd.add([Quad(n, PROV.wasGeneratedBy, m, g) for n, m in zip(nodes, reversed(nodes), strict=True)])
    stored = node_filters.Stored.scan(odd.raw, plan_reads.OUT, plan_reads.IN)
    assert stored is not None
    assert all(stored.has_subject(n) and stored.has_object(n) for n in nodes)
    assert stored.has_object(Literal("1", datatype=XSD.integer))  # (never taken for absent)
    odd.close()


def test_a_store_written_before_is_read_until_its_scan_has_paid_then_filtered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that opens a store written before guesses what reading it whole would cost from
    its size, and reads each node until the reads it would have skipped have cost that much;
    then it builds the filters from the store, and what it writes is what the reads write."""
    run = workload.learning_run("f3", epochs=4, batches=5)
    bags = [run[i:i + 6] for i in range(0, len(run), 6)]
    half = len(bags) // 2
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)
    for bag in bags[:half]:
        kg.ingest_events(bag)
    kg.close()
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)  # a new writer: nothing kept
    monkeypatch.setattr(node_filters, "_CHEAP_S", 0.0)  # (this store is small: its scan would be made at once)
    guess = kg.store.size_on_disk(data_only=True) * node_filters._SCAN_S_A_BYTE
    built: list[int] = []
    for n, bag in enumerate(bags[half:]):
        kg.ingest_events(bag)
        reads = kg._reads
        assert reads is not None
        if reads.nodes.stored is None:
            assert reads.nodes.price is None and reads.nodes.rent > 0
        elif not built:
            assert reads.nodes.rent == 0
            built.append(n)
            assert reads.nodes.price is not None and reads.nodes.price > 0
    assert guess > 0 and built and built[0] > 0  # not at the first bag: its guessed price was paid by reads first
    filtered = set(kg.store.quads())
    kg.close()
    monkeypatch.setattr(plan_reads, "FILTERS", False)
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "unfiltered"), validate=False)
    for bag in bags:
        kg.ingest_events(bag)
    assert filtered == set(kg.store.quads())
    kg.close()


def test_a_write_by_someone_else_drops_the_filter_until_reads_pay_for_a_new_scan(tmp_path: Path) -> None:
    """A write the filter did not see (a SPARQL update here) may hold nodes it lacks: it is
    dropped, the nodes are read again, and it is built again once those reads have cost as long
    as its last scan took. The value the update added is summarized (were the filter kept, the
    update's node would be taken for absent and its 100.0 left out)."""
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)
    run = workload.learning_run("f4", epochs=2, batches=6)
    half = next(i for i, e in enumerate(run) if e.get("task") == "train/epoch-1/batch-1")
    kg.ingest_events(run[:half])
    reads = kg._reads
    assert reads is not None and reads.nodes.stored is not None
    b0 = kg.iris.execution("f4", "train/epoch-1/batch-0")
    graph = next(q.graph_name for q in kg.store.quads() if q.subject == b0)
    kg.store.update(f"""PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX provml: <https://w3id.org/provml#>
        INSERT DATA {{ GRAPH {graph} {{ <{b0.value}/x> prov:wasGeneratedBy {b0} ;
                                         provml:attributeName "loss" ; prov:value 100.0 }} }}""")
    reads.nodes.price = 0.05  # a scan dearer than this test's reads (made on the spot: under _WAIT_S)
    kg.ingest_events(run[half:half + 2])
    assert reads.nodes.stored is None and 0 < reads.nodes.rent < reads.nodes.price
    reads.nodes.rent = reads.nodes.price  # paid
    kg.ingest_events(run[half + 2:])
    assert reads.nodes.stored is not None and reads.nodes.price < 0.05
    assert float(_epoch_loss(kg, "f4", 1)["maximumValue"]) == 100.0
    kg.close()


def _holds_every_node_and_stores_what_the_reads_store(
    kg: KnowledgeGraph, stored: Any, bags: list[list[dict[str, Any]]], unfiltered_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The filters hold every node of the store ``kg`` wrote (closed here), and the store is the
    one the same bags make with every node read."""
    quads = set(kg.store.quads())
    assert all(stored.has_subject(q.subject) for q in quads if q.predicate in plan_reads.OUT_SET)
    assert all(stored.has_object(q.object) for q in quads if q.predicate in plan_reads.IN_SET)
    kg.close()
    monkeypatch.setattr(plan_reads, "FILTERS", False)
    unfiltered, _ = _store(unfiltered_path, bags)
    assert quads == unfiltered


def test_a_filter_grows_without_reading_the_store_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the nodes it was sized for, a filter twice as large takes the next ones: no scan of
    the store again (one, at the first bag), every node written still found, the store the same."""
    monkeypatch.setattr(node_filters, "_FLOOR", 16)
    scans: list[int] = []
    scan = node_filters.Stored.scan.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(node_filters.Stored, "scan", classmethod(lambda cls, *args: scans.append(1) or scan(cls, *args)))
    run = workload.learning_run("f5", epochs=3, batches=6)
    bags = [run[i:i + 5] for i in range(0, len(run), 5)]
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "small"), validate=False)
    for bag in bags:
        kg.ingest_events(bag)
    stored = kg._reads.nodes.stored if kg._reads is not None else None
    assert stored is not None and len(stored.subjects) == len(stored.objects) >= 2
    assert len(scans) == 1
    _holds_every_node_and_stores_what_the_reads_store(kg, stored, bags, tmp_path / "unfiltered", monkeypatch)


def test_the_summaries_a_batch_writes_are_in_the_filter_once_out_of_the_kept_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A summary node is written by the plans, never stated by a batch: the filter learns of it
    from what the batch's plans wrote. Read again after the kept reads lost it (another run's
    batches in between, a low limit, no running totals), it is read from the store, and the
    stage's summary is what the reads of every node give."""
    monkeypatch.setattr(summary_plan, "TALLY_MIN_SECTIONS", 10**9)  # every epoch's summary read
    a = workload.learning_run("f6", epochs=4, batches=3)
    b = workload.learning_run("f7", epochs=4, batches=3)
    cut = len(a) // 2
    bags = [a[:cut], *(b[i:i + 5] for i in range(0, len(b), 5)), a[cut:]]

    def store(path: Path) -> set[Quad]:
        kg = KnowledgeGraph(OxigraphStore(path), validate=False)
        kg._reads = Reads(limit=40)
        for bag in bags:
            kg.ingest_events(bag)
        assert kg._reads.nodes.skipped > 0 or not kg._reads.nodes.enabled
        quads = set(kg.store.quads())
        kg.close()
        return quads

    filtered = store(tmp_path / "filtered")
    monkeypatch.setattr(plan_reads, "FILTERS", False)
    assert filtered == store(tmp_path / "unfiltered")
    assert _stage_summary(filtered, "f6", "loss")["valueCount"] == str(4 * 3)


def _slow_scans(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Every scan on a thread of its own (``_WAIT_S`` 0), reading its snapshot at once and then
    waiting for ``release`` (or its stop) before it returns; ``read`` is set once it has read."""
    read, release = threading.Event(), threading.Event()
    scan = node_filters.Stored.scan.__func__  # type: ignore[attr-defined]

    def slow(cls: Any, raw: Any, out: Any, into: Any, stop: threading.Event | None = None) -> Any:
        found = scan(cls, raw, out, into, stop)
        read.set()
        while not release.wait(0.01):
            if stop is not None and stop.is_set():
                return None
        return found

    monkeypatch.setattr(node_filters, "_WAIT_S", 0.0)
    monkeypatch.setattr(node_filters.Stored, "scan", classmethod(slow))
    return read, release


def test_a_long_scan_runs_beside_the_batches_and_takes_the_nodes_they_wrote_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan expected to take long runs on a thread of its own: the batches go on, reading the
    store. Its snapshot lacks what they wrote meanwhile; those nodes are added when its filters
    are taken (else the next batches would take them for absent), and the store is the same."""
    read, release = _slow_scans(monkeypatch)
    run = workload.learning_run("f8", epochs=3, batches=5)
    bags = [run[i:i + 6] for i in range(0, len(run), 6)]
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)
    reads = kg._reads = Reads()
    kg.ingest_events(bags[0])  # its begin starts the scan (a new store: no rent to pay)
    assert read.wait(30) and reads.nodes.stored is None and reads.nodes._scan is not None
    for bag in bags[1:4]:  # written after the scan's snapshot
        kg.ingest_events(bag)
    assert reads.nodes.stored is None
    release.set()
    reads.nodes._scan.thread.join(30)
    for bag in bags[4:]:
        kg.ingest_events(bag)
    stored = reads.nodes.stored
    assert stored is not None and reads.nodes._scan is None and reads.nodes.skipped > 0
    _holds_every_node_and_stores_what_the_reads_store(kg, stored, bags, tmp_path / "unfiltered", monkeypatch)


def test_closing_stops_a_scan_under_way_and_lets_go_of_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read, _release = _slow_scans(monkeypatch)  # (never released: only its stop ends it)
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"), validate=False)
    kg.ingest_events(workload.learning_run("f9", epochs=1, batches=2))
    assert read.wait(30)
    kg.close()
    reopened = OxigraphStore(tmp_path / "store")  # (StoreLocked while the scan held it)
    assert len(reopened) > 0
    reopened.close()
