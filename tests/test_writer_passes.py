"""The broker writer's passes (provml.ingest.handover.write_passes): planned before the write
(entries of this version's hand_over, whose keys hold every quad the plan reads) they store what
the late links and summary recomputation through SPARQL after the write store, quad for quad,
whatever order the groups come in, when one is delivered twice, on disk and in memory."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pyoxigraph import Quad, RdfFormat, parse

import provml.ingest.handover as handover
import provml.ingest.plan_reads as plan_reads
import provml.ingest.summary_plan as summary_plan
from provml.ingest.plan_reads import Reads
from provml.ingest.shortcuts import stage_links, store_lookup
from provml.ingest.translation import translate
from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore
from provml.vocab import PROVML

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import workload  # noqa: E402


def _groups() -> list[list[list[dict[str, Any]]]]:
    evs = workload.learning_run("w1", epochs=3, batches=5) + workload.learning_run("w2", epochs=2, batches=4)
    bags = [evs[i:i + 7] for i in range(0, len(evs), 7)]  # epochs span bags
    shuffled = bags[:]
    random.Random(11).shuffle(shuffled)
    return [bags, bags[::-1], shuffled, bags + bags[2:5]]


def _write(path: Path | None, bags: list[list[dict[str, Any]]], *, complete: bool) -> set[Quad]:
    """The bags as the writer gets them from workers: N-Quads bytes and the keys it reads;
    ``complete``: written as the writer writes a group (what the plans read kept from one group
    to the next), else through SPARQL after the write."""
    kg = KnowledgeGraph(OxigraphStore(path))
    reads = Reads()
    for bag in bags:
        quads = kg.prepare_batch(translate(bag, iris=kg.iris), links=False)  # a worker's part
        fields = handover.hand_over(quads)
        entry = {k.encode(): v for k, v in fields.items()}
        if complete:
            entry[b"n"] = str(len(bag)).encode()  # (the worker's count of the entry's events)
            handover.write_group(kg.store, [entry], atomic=False, reads=reads)
            continue
        data, (read, _types) = handover.entry_nquads(entry), handover.entry_keys(entry)
        links = stage_links(read, store_lookup(kg.store))
        if links:
            data += handover.nquads(links)
            read += links
        handover.write_passes(kg.store, data, read, atomic=False, complete=False)
    assert (len(reads) > 0) == complete  # kept from group to group, and read by the next
    stored = set(kg.store.quads())
    kg.close()
    return stored


@pytest.mark.parametrize("every_entry_kept_long", [False, True])
@pytest.mark.parametrize("on_disk", [True, False])
def test_planned_passes_store_what_the_passes_after_the_write_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool, every_entry_kept_long: bool) -> None:
    """``every_entry_kept_long``: every kept subjects list merged with the group through its set
    (``Reads.members``) — on disk the plan runs while the group's N-Quads load on another
    thread, so the store cannot say what it held before the group."""
    if every_entry_kept_long:
        monkeypatch.setattr(plan_reads, "_LONG", 1)
    for n, bags in enumerate(_groups()):
        planned = _write(tmp_path / f"planned-{n}" if on_disk else None, bags, complete=True)
        after = _write(tmp_path / f"after-{n}" if on_disk else None, bags, complete=False)
        assert sum(1 for q in planned if q.predicate == PROVML.summary) > 10
        assert sum(1 for q in planned if q.predicate == PROVML.stageExecution) > 10
        assert planned == after


def test_the_keys_hold_what_the_plan_reads_and_say_so() -> None:
    """A worker's keys carry the values and their names (the plan reads them from the group);
    an entry without the ``plan`` mark (an earlier worker's) goes the SPARQL way."""
    kg = KnowledgeGraph(OxigraphStore())
    quads = kg.prepare_batch(translate(workload.learning_run("w3", epochs=1, batches=2), iris=kg.iris), links=False)
    fields = handover.hand_over(quads)
    assert fields["plan"] == handover.STORED_KEYS
    import zlib

    from provml.store.oxigraph import as_stored

    keys = set(parse(zlib.decompress(fields["keys"]), format=RdfFormat.N_QUADS))
    wanted = {q for q in quads if q.predicate in (PROVML.attributeName,) or q.predicate.value.endswith("#value")}
    assert wanted and set(as_stored(wanted)) <= keys  # the literals as the store gives them back
    assert any(q.object.value == "1.0" for q in wanted) and not any(q.object.value == "1.0" for q in keys)
    kg.close()


@pytest.mark.parametrize("every_entry_kept_long", [False, True])
@pytest.mark.parametrize("on_disk", [True, False])
def test_a_group_written_again_counts_its_values_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool, every_entry_kept_long: bool) -> None:
    """A loss of 1.0 is stored as ``"1"^^xsd:double``: a redelivered group whose keys say
    ``"1.0"`` must not count it a second time (it did: ``valueCount`` 4 for 3 batches)."""
    if every_entry_kept_long:
        monkeypatch.setattr(plan_reads, "_LONG", 1)
    bag = workload.learning_run("w4", epochs=2, batches=3)  # the first batch's loss is 1.0
    once = _write(tmp_path / "once" if on_disk else None, [bag], complete=False)
    twice = _write(tmp_path / "twice" if on_disk else None, [bag, bag], complete=True)
    assert {q.object.value for q in once if q.predicate == PROVML.valueCount} == {"2", "3", "6"}
    assert twice == once


def test_as_stored_gives_the_literals_the_store_gives_back() -> None:
    from pyoxigraph import Literal, NamedNode

    from provml.store.oxigraph import as_stored
    from provml.vocab import XSD

    s, p, g = NamedNode("http://e.org/s"), NamedNode("http://e.org/p"), NamedNode("http://e.org/g")
    quads = [Quad(s, p, Literal("1.0", datatype=XSD.double), g), Quad(s, p, Literal("01", datatype=XSD.integer), g),
             Quad(s, p, NamedNode("http://e.org/o"), g), Quad(s, p, Literal("x"), g)]
    store = OxigraphStore()
    store.add(quads)
    assert set(as_stored(quads)) == set(store.quads())
    assert Quad(s, p, Literal("1", datatype=XSD.double), g) in as_stored(quads)


def _group(kg: KnowledgeGraph, run: str) -> tuple[bytes, list[Quad], bool]:
    quads = kg.prepare_batch(translate(workload.learning_run(run, epochs=2, batches=4), iris=kg.iris), links=False)
    fields = handover.hand_over(quads)
    entry = {k.encode(): v for k, v in fields.items()}
    data, (read, _types) = handover.entry_nquads(entry), handover.entry_keys(entry)
    return data, read, fields["plan"] == handover.STORED_KEYS


def test_on_disk_a_write_that_fails_on_its_thread_fails_the_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On disk the group's N-Quads are written on a thread of their own while the passes are
    planned: its failure is raised by ``_write_passes`` (so the writer acknowledges nothing) and
    the summaries are not replaced."""
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"))
    data, read, stored = _group(kg, "w5")
    real = handover.load

    def failing(store: Any, nquads: bytes, *, atomic: bool) -> None:
        if nquads == data:
            raise OSError("disk full")
        real(store, nquads, atomic=atomic)

    monkeypatch.setattr(handover, "load", failing)
    with pytest.raises(OSError, match="disk full"):
        handover.write_passes(kg.store, data, read, atomic=False, complete=True, stored=stored)
    assert not any(q.predicate == PROVML.summary for q in kg.store.quads())
    monkeypatch.setattr(handover, "load", real)  # written again (redelivered): complete
    handover.write_passes(kg.store, data, read, atomic=False, complete=True, stored=stored)
    assert sum(1 for q in kg.store.quads() if q.predicate == PROVML.summary) >= 3
    kg.close()


def test_on_disk_a_planning_error_returns_only_once_the_write_is_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planning failing while the write runs: ``_write_passes`` waits for the write, so no
    write is under way behind the error (the writer's next try starts from a quiet store)."""
    import threading

    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"))
    data, read, stored = _group(kg, "w6")
    real = handover.load
    started = threading.Event()

    def slow(store: Any, nquads: bytes, *, atomic: bool) -> None:
        started.set()
        time.sleep(0.3)
        real(store, nquads, atomic=atomic)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        assert started.wait(5)
        raise RuntimeError("planning broke")

    monkeypatch.setattr(handover, "load", slow)
    monkeypatch.setattr(summary_plan, "plan", broken)
    with pytest.raises(RuntimeError, match="planning broke"):
        handover.write_passes(kg.store, data, read, atomic=False, complete=True, stored=stored)
    assert not any(t.name == "provml-writer-load" for t in threading.enumerate())
    assert len(kg.store) >= data.count(b"\n")  # the write ran to its end
    kg.close()


def test_on_disk_a_failed_write_fails_the_group_even_when_the_plan_never_asks_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the planner return without calling its ``write`` (it calls it once today), the
    group's write under way still decides: its failure is raised, never acknowledged."""
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"))
    data, read, stored = _group(kg, "w7")

    def failing(store: Any, nquads: bytes, *, atomic: bool) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(handover, "load", failing)
    monkeypatch.setattr(summary_plan, "store_batch", lambda *args, **kwargs: None)
    with pytest.raises(OSError, match="disk full"):
        handover.write_passes(kg.store, data, read, atomic=False, complete=True, stored=stored)
    kg.close()
