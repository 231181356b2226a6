"""Batches loaded together (``provml.ingest.loader.ingest_bags``) store and reject exactly what
the same batches loaded one at a time do, into a real on-disk store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paper_fixture as pf
import pytest
from spec_bags import spec_bags

from provml.errors import EventError, ValidationFailed
from provml.ingest.loader import ingest_bags
from provml.knowledge import ONTOLOGY_GRAPHS, open_kg
from provml.vocab import PROVML


def _bags(events: list[dict[str, Any]], size: int) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(f"bag {i // size}", events[i : i + size]) for i in range(0, len(events), size)]


def _load(tmp: Path, bags: list[tuple[str, list[dict[str, Any]]]], together: int) -> tuple[set[Any], list[Any]]:
    with open_kg(tmp) as kg:
        outcomes = [(source, type(result).__name__, getattr(result, "report", None))
                    for source, _, result in ingest_bags(kg, bags, together=together)]
        data = {q for q in kg.store.raw if q.graph_name not in ONTOLOGY_GRAPHS}
    return data, outcomes


def test_together_stores_what_one_at_a_time_stores(tmp_path: Path) -> None:
    bags = _bags(pf.all_events(), 5)
    alone, alone_outcomes = _load(tmp_path / "alone", bags, together=0)
    grouped, grouped_outcomes = _load(tmp_path / "together", bags, together=10_000)
    assert grouped == alone and len(alone) > 1000
    assert [o[1] for o in alone_outcomes] == ["IngestResult"] * len(bags)
    # one group: the result is reported on its last batch
    assert [o[1] for o in grouped_outcomes] == ["NoneType"] * (len(bags) - 1) + ["IngestResult"]


def test_a_broken_batch_in_a_group_is_rejected_alone_with_its_own_report(tmp_path: Path) -> None:
    events = pf.all_events()
    bags = _bags(events, 5)
    # a shapes violation (a validation stage inside an epoch) in one batch, a format error in another
    bad_shapes = {"v": 1, "kind": "task_begin", "t": pf.T0, "run": "train-a", "workflow": "seismic-training",
                  "task": "bad", "name": "v", "type": "validation", "parent": "train/epoch-187"}
    bags[3] = (bags[3][0], [*bags[3][1], bad_shapes])
    bags[5] = (bags[5][0], [*bags[5][1], {"v": 1, "kind": "no-such-kind"}])
    alone, alone_outcomes = _load(tmp_path / "alone", bags, together=0)
    grouped, grouped_outcomes = _load(tmp_path / "together", bags, together=10_000)
    rejected = {o[0]: o[1] for o in alone_outcomes if o[1] != "IngestResult"}
    # the event the format refuses alone (the sixth of bag 5), and the rest of its batch stored
    # (twenty-first session: the whole batch was rejected)
    assert rejected == {"bag 3": ValidationFailed.__name__, "bag 5 (event 6)": EventError.__name__}
    assert ("bag 5 (the rest)", "IngestResult") in [o[:2] for o in alone_outcomes]
    assert {o[0]: o[1] for o in grouped_outcomes if o[1] not in ("IngestResult", "NoneType")} == rejected
    assert [o[2] for o in grouped_outcomes if o[0] == "bag 3"] == [o[2] for o in alone_outcomes if o[0] == "bag 3"]
    assert grouped == alone


def _group_sizes(outcomes: list[Any], bag_events: int) -> list[int]:
    """The events of each group, from where its result is reported (on its last batch)."""
    sizes, batches = [], 0
    for _source, kind, _report in outcomes:
        batches += 1
        if kind != "NoneType":
            sizes.append(batches * bag_events)
            batches = 0
    return sizes


def test_groups_grow_to_half_of_what_was_sent_up_to_the_most(tmp_path: Path) -> None:
    """Later groups take half the events handed over so far, up to ``together_max`` (fewer,
    larger bulk loads: less compaction), and the store is still the one of one batch at a time."""
    events = pf.all_events()
    bags = _bags(events, 1)
    alone, _ = _load(tmp_path / "alone", bags, together=0)
    with open_kg(tmp_path / "growing") as kg:
        outcomes = [(source, type(result).__name__, None)
                    for source, _, result in ingest_bags(kg, bags, together=4, together_max=10)]
        grown = {q for q in kg.store.raw if q.graph_name not in ONTOLOGY_GRAPHS}
    sizes = _group_sizes(outcomes, 1)
    expected, sent = [], 0
    while sent < len(events):
        size = min(10, max(4, sent // 2), len(events) - sent)
        expected.append(size)
        sent += size
    assert sizes == expected and sizes[:6] == [4, 4, 4, 6, 9, 10]
    assert grown == alone
    # a most below the first size: every group is of the first size
    with open_kg(tmp_path / "fixed") as kg:
        fixed = [(s, type(r).__name__, None) for s, _, r in ingest_bags(kg, bags[:40], together=4, together_max=1)]
    assert _group_sizes(fixed, 1) == [4] * 10


@pytest.mark.parametrize("broken", [
    {"v": 1, "kind": "no-such-kind"},  # the group's translation fails
    {"v": 1, "kind": "task_begin", "t": pf.T0, "run": "train-a", "workflow": "seismic-training",  # its write
     "task": "bad", "name": "v", "type": "validation", "parent": "train/epoch-187"},
], ids=["format", "shapes"])
def test_a_failed_group_starts_the_growth_again(tmp_path: Path, broken: dict[str, Any]) -> None:
    """A failed group is taken batch by batch, which costs more the larger it is: the groups
    after it start again at ``together`` events — also the group translated beside a write that
    fails, which is regrouped (a review: it was sent whole at the grown size and counted)."""
    events = pf.all_events()
    bags = _bags(events, 1)
    bags.insert(20, ("broken", [broken]))
    alone, alone_outcomes = _load(tmp_path / "alone", bags, together=0)
    with open_kg(tmp_path / "s") as kg:
        outcomes = [(source, type(result).__name__, getattr(result, "report", None))
                    for source, _, result in ingest_bags(kg, bags, together=4, together_max=10)]
        grown = {q for q in kg.store.raw if q.graph_name not in ONTOLOGY_GRAPHS}
    sizes = _group_sizes(outcomes, 1)
    # 4 + 4 + 4 + 6 events, then a group of 9 that holds the broken batch: one by one
    assert sizes[:4] == [4, 4, 4, 6] and sizes[4:13] == [1] * 9
    assert alone_outcomes[20][:2] == ("broken", "EventError" if broken["kind"] != "task_begin" else "ValidationFailed")
    assert [o[:2] for o in outcomes[18:27] if o[1] != "IngestResult"] == [alone_outcomes[20][:2]]
    # (without the restart: 10 and 8 after a format error, 10, 5 and 3 after a write that fails)
    assert sizes[13:] == [4, 4, 4, 6]
    assert grown == alone
    assert [o for o in outcomes if o[1] not in ("IngestResult", "NoneType")] == [
        o for o in alone_outcomes if o[1] != "IngestResult"]


def test_provml_load_passes_together_max_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--together-max`` reaches the loader's groups (a review: nothing checked it)."""
    import json

    from click.testing import CliRunner

    import provml.ingest.loader as loader
    from provml.cli import main

    seen: list[int] = []
    init = loader._Group.__init__

    def spy(self: Any, kg: Any, together: int, done: Any, together_max: int = loader.TOGETHER_MAX) -> None:
        seen.append(together_max)
        init(self, kg, together, done, together_max)

    monkeypatch.setattr(loader._Group, "__init__", spy)
    spool = tmp_path / "s.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in pf.all_events()))
    result = CliRunner().invoke(main, ["load", str(spool), "--store", str(tmp_path / "st"), "--together-max", "123"])
    assert result.exit_code == 0, result.output
    assert seen == [123]


def test_provml_load_together_max_defaults_to_the_loaders_constant() -> None:
    from provml.cli import main
    from provml.ingest.loader import TOGETHER, TOGETHER_MAX

    options = {p.name: p.default for p in main.commands["load"].params}  # type: ignore[attr-defined]
    assert (options["together"], options["together_max"]) == (TOGETHER, TOGETHER_MAX)


def test_a_later_batchs_spec_gives_no_role_to_an_earlier_batch(tmp_path: Path) -> None:
    """A spec gives roles to the values of its own batch and later ones, never to a batch before
    it, whether the group is stored or fails and is retried batch by batch."""
    first, spec_bag, later = spec_bags()
    for tail in ([], [("broken", [{"v": 1, "kind": "no-such-kind"}])]):
        bags = [("first", first), ("spec", spec_bag), ("later", later), *tail]
        alone, alone_outcomes = _load(tmp_path / f"alone{len(tail)}", bags, together=0)
        grouped, grouped_outcomes = _load(tmp_path / f"together{len(tail)}", bags, together=10_000)
        hyper = {q.subject.value.rsplit("/", 3)[-3] for q in alone if q.object == PROVML.LearningHyperparameterValue}
        assert hyper == {"train2"}  # the first batch's lr came before the spec: a plain value
        assert grouped == alone
        assert [o[1] for o in grouped_outcomes if o[1] != "NoneType"][-1] == alone_outcomes[-1][1]


def test_provml_load_together_option(tmp_path: Path) -> None:
    """``provml load --together N`` groups batches; ``--together 0`` loads each alone: the same
    store either way, and the exit code and rejection count of a bad batch are the same."""
    import json

    from click.testing import CliRunner

    from provml.cli import main

    events = pf.all_events()
    bad = {"v": 1, "kind": "task_begin", "t": pf.T0, "run": "train-a", "workflow": "seismic-training",
           "task": "bad", "name": "v", "type": "validation", "parent": "train/epoch-187"}
    spool = tmp_path / "spool.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in [*events[:20], bad, *events[20:]]))
    stores = {}
    for together in ("0", "10000"):
        store = tmp_path / f"store-{together}"
        result = CliRunner().invoke(main, ["load", str(spool), "--store", str(store), "--batch-size", "5",
                                           "--together", together, "--format", "json"])
        assert result.exit_code == 1, result.output
        summary = json.loads(result.stdout)
        assert [r["events"] for r in summary["rejected"]] == [5]
        with open_kg(store) as kg:
            stores[together] = {q for q in kg.store.raw if q.graph_name not in ONTOLOGY_GRAPHS}
    assert stores["0"] == stores["10000"] and stores["0"]


def test_a_batch_holding_a_non_object_is_rejected_in_a_group(tmp_path: Path) -> None:
    bags = [("good", pf.all_events()[:5]), ("broken", [["not", "an", "event"]])]  # type: ignore[list-item]
    _, outcomes = _load(tmp_path / "s", bags, together=10_000)  # type: ignore[arg-type]
    assert [o[1] for o in outcomes] == ["IngestResult", "EventError"]


#: an event whose translation fails with an error that is no rejection (a store or a disk gone:
#: ``_failing``), marked by its run; a spec that does not load was such an error until the
#: twenty-sixth session, and is now a batch the format rejects
BROKEN = {"v": 1, "kind": "workflow_begin", "t": 0, "run": "broken-disk", "workflow": "wf"}


def _failing(kg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    translate = kg.translate_events

    def failing(events: Any, **options: Any) -> Any:
        if any(e.get("run") == BROKEN["run"] for e in events):
            raise OSError("the disk is gone")
        return translate(events, **options)

    monkeypatch.setattr(kg, "translate_events", failing)


def test_an_error_that_is_no_rejection_stops_the_load_after_the_batches_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error that is not a rejection stops loading at its batch, the batches before it
    stored, with or without groups."""
    events = pf.all_events()
    for together in (0, 10_000):
        bags = [("first", events[:5]), ("second", [*events[5:10], BROKEN])]
        with open_kg(tmp_path / f"s{together}") as kg:
            _failing(kg, monkeypatch)
            seen = []
            with pytest.raises(OSError, match="disk is gone"):
                for source, _, result in ingest_bags(kg, bags, together=together):
                    seen.append((source, type(result).__name__))
            assert seen == [("first", "IngestResult")]
            assert kg.query(f"ASK {{ ?x ?p ?o . FILTER(CONTAINS(STR(?x), '{events[0]['run']}')) }}")


def test_batches_stored_before_an_error_are_reported_before_it_when_groups_are_written_beside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups of two batches: the second group is still being reported when an error that is
    no rejection stops the load; every batch stored before the error is reported before it."""
    events = pf.all_events()
    bags = [("a", events[:2]), ("b", events[2:4]), ("c", events[4:6]), ("d", events[6:8]),
            ("broken", [BROKEN]), ("e", events[8:10])]
    with open_kg(tmp_path / "s") as kg:
        _failing(kg, monkeypatch)
        seen = []
        with pytest.raises(OSError, match="disk is gone"):
            for source, _, result in ingest_bags(kg, bags, together=4):
                seen.append((source, type(result).__name__))
        assert seen == [("a", "NoneType"), ("b", "IngestResult"), ("c", "NoneType"), ("d", "IngestResult")]


def _watched(monkeypatch: pytest.MonkeyPatch, *, group: int, fail: set[int] = frozenset(),  # type: ignore[assignment]
             fail_after: set[int] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    """Watch the loader's groups: each write is held 0.2 s and a translation waits until the
    write handed over before it has begun (so the next group is translated beside it); how
    many translations ran beside a write and on which threads the writes ran are recorded; the
    writes counted in ``fail`` (1 for the first) raise ``OSError``, as a store that fails would.
    ``group``: the fewest events of a group (fewer: a batch alone); ``fail_after``: writes that
    raise once the group is stored (its batches are then ingested again, one by one)."""
    import threading
    import time

    from provml.knowledge import KnowledgeGraph

    seen: dict[str, Any] = {"writing": 0, "beside": 0, "writes": 0, "threads": set()}
    translate, write = KnowledgeGraph.translate_events, KnowledgeGraph.ingest_translated
    begun = threading.Event()  # a write handed to its thread has begun

    def watched_translate(self: KnowledgeGraph, events: Any, **options: Any) -> Any:
        if len(events) >= group:  # a group's, not a batch's taken alone (ingest_events)
            begun.wait(0.5)  # (none under way: the first group, one after a batch alone)
            begun.clear()
        seen["beside"] += seen["writing"] > 0
        return translate(self, events, **options)

    def watched_write(self: KnowledgeGraph, quads: Any, *, events: int) -> Any:
        seen["writes"] += 1
        seen["threads"].add(threading.current_thread().name)
        seen["writing"] += 1
        begun.set()
        try:
            time.sleep(0.2)
            if seen["writes"] in fail:
                raise OSError("the store failed (test)")
            result = write(self, quads, events=events)
            if seen["writes"] in fail_after:
                raise OSError("the store failed after the group was written (test)")
            return result
        finally:
            seen["writing"] -= 1

    monkeypatch.setattr(KnowledgeGraph, "translate_events", watched_translate)
    monkeypatch.setattr(KnowledgeGraph, "ingest_translated", watched_write)
    return seen


def test_groups_written_beside_the_next_groups_translation_store_what_one_at_a_time_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bags = _bags(pf.all_events(), 2)  # 22 batches, in groups of 3
    bad_shapes = {"v": 1, "kind": "task_begin", "t": pf.T0, "run": "train-a", "workflow": "seismic-training",
                  "task": "bad", "name": "v", "type": "validation", "parent": "train/epoch-187"}
    bags[9] = (bags[9][0], [*bags[9][1], bad_shapes])
    bags[16] = (bags[16][0], [*bags[16][1], {"v": 1, "kind": "no-such-kind"}])
    alone, alone_outcomes = _load(tmp_path / "alone", bags, together=0)
    assert {o[1] for o in alone_outcomes} == {"IngestResult", ValidationFailed.__name__, EventError.__name__}
    for name, fail, fail_after in (("none", set(), set()), ("before", {2, 5}, set()), ("after", set(), {3})):
        seen = _watched(monkeypatch, group=6, fail=fail, fail_after=fail_after)
        grouped, outcomes = _load(tmp_path / name, bags, together=6)
        monkeypatch.undo()
        assert grouped == alone
        # every batch reported once, in order; each rejected batch with the report it gets alone
        assert [o[0] for o in outcomes] == [o[0] for o in alone_outcomes]
        assert {o[0]: o[1:] for o in outcomes if o[1] not in ("IngestResult", "NoneType")} == \
               {o[0]: o[1:] for o in alone_outcomes if o[1] != "IngestResult"}
        assert seen["threads"] == {"provml-load_0"} and seen["writes"] >= 5
        assert seen["beside"] >= 3  # the next group translated while one was being written


def test_a_spec_reaches_no_batch_before_it_when_groups_are_written_beside_translation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, spec_bag, later = spec_bags()
    bags = [("first a", first[:1]), ("first b", first[1:]), ("spec", spec_bag), ("later", later)]
    for fail in (set(), {1}):  # {1}: the first group's write fails while the spec's group is translated
        _watched(monkeypatch, group=2, fail=fail)
        data, outcomes = _load(tmp_path / f"specs{len(fail)}", bags, together=2)
        monkeypatch.undo()
        hyper = {q.subject.value.rsplit("/", 3)[-3] for q in data if q.object == PROVML.LearningHyperparameterValue}
        assert hyper == {"train2"}  # the first batch's lr came before the spec: a plain value
        assert [o[1] for o in outcomes if o[1] != "NoneType"][-1] == "IngestResult"


def test_closing_the_graph_waits_for_a_group_being_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller that leaves ``ingest_bags`` unfinished and closes the graph while a group is
    being written (on the loader's thread): ``close`` waits until the group is written whole,
    its late links and summaries included; the store then reopens at once (review, 17th
    session: the summaries failed on a closed store, silently, and the store stayed locked)."""
    import threading

    from provml.knowledge import KnowledgeGraph

    bags = _bags(pf.all_events(), 2)
    alone, _ = _load(tmp_path / "alone", bags[:4], together=0)
    writing, release = threading.Event(), threading.Event()
    prepare = KnowledgeGraph.prepare_batch
    writes: list[str] = []

    def held(self: KnowledgeGraph, quads: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith("provml-load"):
            writes.append("write")
            if len(writes) == 2:  # the second group's write, under way once bag 0 is reported
                writing.set()
                release.wait(10)
        return prepare(self, quads, **kwargs)

    monkeypatch.setattr(KnowledgeGraph, "prepare_batch", held)
    kg = open_kg(tmp_path / "s")
    outcomes = ingest_bags(kg, bags, together=4)
    first = next(outcomes)  # the first group is written, the second handed to the loader's thread
    assert first[0] == "bag 0" and writing.wait(10)  # (inside its write)
    closing = threading.Thread(target=kg.close)
    closing.start()
    closing.join(0.3)
    assert closing.is_alive()  # waits for the group
    release.set()
    closing.join(30)
    assert not closing.is_alive()
    monkeypatch.undo()
    with open_kg(tmp_path / "s") as again:  # not locked
        data = {q for q in again.store.raw if q.graph_name not in ONTOLOGY_GRAPHS}
    assert data == alone  # the group whole: its late links and summaries too


def test_a_ctrl_c_while_a_group_is_awaited_still_reports_the_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt that lands where the caller waits for a group's write (on disk,
    most of its time): the group, stored, is reported before the interrupt (review, 17th
    session: it was stored and never reported)."""
    from concurrent.futures import Future

    bags = _bags(pf.all_events(), 2)[:4]
    result = Future.result
    interrupted: list[bool] = []

    def interrupted_once(self: Future[Any], timeout: float | None = None) -> Any:
        if not interrupted and self.done() is False:
            self.exception()  # (the write ends: the interrupt comes once the group is stored)
            interrupted.append(True)
            raise KeyboardInterrupt
        return result(self, timeout)

    monkeypatch.setattr(Future, "result", interrupted_once)
    seen = []
    with open_kg(tmp_path / "s") as kg, pytest.raises(KeyboardInterrupt):
        for source, _, outcome in ingest_bags(kg, bags, together=4):
            seen.append((source, type(outcome).__name__))
    assert interrupted and seen[:2] == [("bag 0", "NoneType"), ("bag 1", "IngestResult")]


def test_an_error_thrown_into_the_outcomes_repeats_none(tmp_path: Path) -> None:
    bags = _bags(pf.all_events(), 2)[:6]
    with open_kg(tmp_path / "s") as kg:
        outcomes = ingest_bags(kg, bags, together=4)
        seen = [next(outcomes)[0]]
        with pytest.raises(RuntimeError):
            while True:
                seen.append(outcomes.throw(RuntimeError("the caller stops (test)"))[0])
    assert len(seen) == len(set(seen))  # (bag 0 was yielded twice)


def test_closing_from_inside_a_write_on_the_same_thread_does_not_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal handler that closes the graph while the same thread is writing (a SIGTERM
    handler around a long ingest): close does not wait for itself; the interrupted write then
    fails, the store is closed (review, 17th session: it hung)."""
    import threading

    from provml.knowledge import KnowledgeGraph

    kg = open_kg(tmp_path / "s")
    prepare = KnowledgeGraph.prepare_batch

    def closing(self: KnowledgeGraph, quads: Any, **kwargs: Any) -> Any:
        self.close()  # as a handler running on this thread would
        return prepare(self, quads, **kwargs)

    monkeypatch.setattr(KnowledgeGraph, "prepare_batch", closing)
    done = threading.Event()

    def ingest() -> None:
        import contextlib

        with contextlib.suppress(Exception):  # the store was closed under the write
            kg.ingest_events(pf.all_events()[:4])
        done.set()

    threading.Thread(target=ingest, daemon=True).start()
    assert done.wait(20), "close() waited for the write of its own thread"
