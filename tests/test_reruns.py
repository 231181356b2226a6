"""A run id used twice (:mod:`provml.ingest.reruns`): a second run under the run id of one stored
before has the first run's execution IRIs. Before, each batch conformed alone and the store took
the second run into the first — one execution with two ``prov:startedAtTime`` and two
``prov:endedAtTime`` (a finding of the twenty-ninth session). Now every ingest path refuses the
batch that would do so, and leaves the store as it was; a bag delivered again as it was is
stored as before. Real on-disk stores, the real CLI, a real ``redis-server`` with the broker's real worker and writer."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pyoxigraph import Literal, NamedNode, Quad
from redis_server import RedisServer
from test_broker import data, send
from test_cli_kg import run as run_cli

from provml.capture.broker import DEAD, connect
from provml.errors import ValidationFailed
from provml.ingest.reruns import refuse_reruns, same_time, stored_times
from provml.ingest.streams import ensure_groups, lag
from provml.ingest.worker import Worker
from provml.ingest.writer import Writer
from provml.knowledge import KnowledgeGraph, open_kg
from provml.store.base import Store
from provml.store.oxigraph import OxigraphStore
from provml.vocab import PROV, XSD

T0 = 1_767_225_600.0
STARTS = f"SELECT (COUNT(?t) AS ?n) WHERE {{ ?e <{PROV.NS}startedAtTime> ?t }}"
STARTED = f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e <{PROV.NS}startedAtTime> ?t }}"
ENDS = f"SELECT (COUNT(?t) AS ?n) WHERE {{ ?e <{PROV.NS}endedAtTime> ?t }}"
ENDED = f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e <{PROV.NS}endedAtTime> ?t }}"


def learning(run: str, *, later_s: float = 0.0, batches: int = 3) -> list[dict[str, Any]]:
    """A learning run (benchmarks/workload.py); ``later_s``: the same run id, run that much later."""
    import workload  # (on the path test_broker sets)

    return workload.learning_run(run, epochs=1, batches=batches, t0=T0 + later_s)


def count(kg: KnowledgeGraph, query: str) -> int:
    [row] = list(kg.query(query))
    return int(row[0].value)


def once_each(kg: KnowledgeGraph) -> None:
    """Every execution of the store started once and ended once."""
    assert count(kg, STARTS) == count(kg, STARTED) > 0
    assert count(kg, ENDS) == count(kg, ENDED) > 0


def time_literal(t: str) -> Literal:
    return Literal(t, datatype=XSD.dateTime)


# -- in process --------------------------------------------------------------------------------
def test_a_second_run_under_a_stored_run_id_is_refused_and_the_store_left_as_it_was(tmp_path: Path) -> None:
    with open_kg(tmp_path / "store") as kg:
        kg.ingest_events(learning("twice"))
        before = data(kg)
        with pytest.raises(ValidationFailed) as refused:
            kg.ingest_events(learning("twice", later_s=3600))
        assert data(kg) == before
        once_each(kg)
        messages = {r.message for r in refused.value.report.results if r.severity == "Violation"}
        assert any("more than one start time" in m for m in messages), messages
        focus = {r.focus_node for r in refused.value.report.results}
        assert "https://w3id.org/provml/id/run/twice" in focus


def test_a_later_batch_that_begins_a_stored_task_again_is_refused(tmp_path: Path) -> None:
    """No workflow_begin in the batch: the second run's first bag was elsewhere (or refused)."""
    first = learning("tasks")
    second = [e for e in learning("tasks", later_s=60) if e["kind"] != "workflow_begin"]
    with open_kg(tmp_path / "store") as kg:
        kg.ingest_events(first)
        before = data(kg)
        with pytest.raises(ValidationFailed):
            kg.ingest_events(second)
        assert data(kg) == before


def test_a_run_stated_again_as_it_was_and_an_end_after_its_begin_are_stored(tmp_path: Path) -> None:
    events = learning("again")
    begins = [e for e in events if not e["kind"].endswith("_end")]
    ends = [e for e in events if e["kind"].endswith("_end")]
    with open_kg(tmp_path / "store") as kg:
        kg.ingest_events(begins)  # the ends in a later batch: the store holds the starts only
        kg.ingest_events(ends)
        stored = data(kg)
        kg.ingest_events(events)  # delivered again, whole
        kg.ingest_events(ends)
        assert data(kg) == stored
        once_each(kg)
        reference = KnowledgeGraph(OxigraphStore())
        reference.ingest_events(events)
        assert stored == data(reference)


def test_an_end_at_another_time_is_refused(tmp_path: Path) -> None:
    events = learning("ends")
    with open_kg(tmp_path / "store") as kg:
        kg.ingest_events(events)
        before = data(kg)
        late_end = [{**e, "t": e["t"] + 5} for e in events if e["kind"] == "workflow_end"]
        with pytest.raises(ValidationFailed) as refused:
            kg.ingest_events(late_end)
        assert any("more than one end time" in r.message for r in refused.value.report.results)
        assert data(kg) == before


def test_stored_times_reads_only_the_other_times(store: Store) -> None:
    """Each backend: the embedded store read by pattern, a remote one by SPARQL."""
    e, f = NamedNode("https://w3id.org/provml/id/run/e"), NamedNode("https://w3id.org/provml/id/run/f")
    store.add([Quad(e, PROV.startedAtTime, time_literal("2026-01-01T00:00:00+00:00")),
               Quad(f, PROV.startedAtTime, time_literal("2026-01-01T00:00:00Z"))])
    batch = [Quad(e, PROV.startedAtTime, time_literal("2026-01-01T00:00:00.000200Z")),  # one time
             Quad(f, PROV.startedAtTime, time_literal("2026-01-01T00:00:01Z")),  # another
             Quad(f, PROV.endedAtTime, time_literal("2026-01-01T00:00:02Z"))]  # nothing stored
    assert [(q.subject, q.object.value) for q in stored_times(store, batch)] == [(f, "2026-01-01T00:00:00Z")]
    with pytest.raises(ValueError, match=r"run/f started at 2026-01-01T00:00:00Z already.*2026-01-01T00:00:01Z"):
        refuse_reruns(store, batch)
    with pytest.raises(ValueError, match="run/e started"):  # two times in the group itself
        refuse_reruns(store, [batch[0], Quad(e, PROV.startedAtTime, time_literal("2026-01-02T00:00:00Z"))])
    refuse_reruns(store, batch[:1] + batch[2:])  # the same time, and a time not stored: nothing raised


def test_many_executions_are_read_in_several_queries(store: Store) -> None:
    nodes = [NamedNode(f"https://w3id.org/provml/id/run/r/t{i}") for i in range(2_500)]
    store.add(Quad(n, PROV.startedAtTime, time_literal("2026-01-01T00:00:00Z")) for n in nodes)
    batch = [Quad(n, PROV.startedAtTime, time_literal("2026-01-01T00:00:00Z" if i % 2 else "2026-01-01T01:00:00Z"))
             for i, n in enumerate(nodes)]
    assert sorted(q.subject.value for q in stored_times(store, batch)) == sorted(n.value for n in nodes[::2])


@pytest.mark.parametrize(("a", "b", "same"), [
    ("2026-01-01T00:00:00.123456Z", "2026-01-01T00:00:00.123Z", True),  # a store that keeps ms
    ("2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z", True),
    ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.002Z", False),
    ("2026-01-01T00:00:00", "2026-01-01T00:00:00", True),  # no timezone: as literals
    ("2026-01-01T00:00:00", "2026-01-01T00:00:00Z", False),
    ("2025-12-31T24:00:00Z", "2026-01-01T00:00:00Z", True),  # XSD's end of a day: the next one's start
    ("2025-12-31T24:00:00.000+01:00", "2025-12-31T23:00:00.0005Z", True),
    ("2025-12-31T24:00:00Z", "2025-12-31T00:00:00Z", False),
    ("9999-12-31T24:00:00Z", "9999-12-31T23:59:59Z", False),  # past Python's dates: as literals
])
def test_times_are_one_when_they_are_one_instant_to_the_millisecond(a: str, b: str, same: bool) -> None:
    assert same_time(time_literal(a), time_literal(b)) is same
    assert same_time(Literal(a), Literal(a)) and not same_time(Literal(a), time_literal(a))



def test_an_end_of_day_written_t24_is_the_stored_midnight(tmp_path: Path) -> None:
    """A run that ended at midnight, loaded again as RDF whose end says ``T24:00:00`` of the day
    before (the same instant; the store holds it as the next day's ``T00:00:00``): stored as it
    was, not refused as a second end."""
    from pyoxigraph import RdfFormat, serialize

    midnight = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    events = [{"v": 1, "kind": "workflow_begin", "t": midnight - 5, "run": "midnight", "workflow": "w"},
              {"v": 1, "kind": "workflow_end", "t": midnight, "run": "midnight", "workflow": "w", "status": "finished"}]
    with open_kg(tmp_path / "store") as kg:
        kg.ingest_events(events)
        before = data(kg)
        text = serialize(kg.store.quads(), format=RdfFormat.N_QUADS)
        assert text is not None and b'"2026-01-01T00:00:00Z"' in text
        kg.ingest_rdf(text.replace(b'"2026-01-01T00:00:00Z"', b'"2025-12-31T24:00:00Z"'), format=RdfFormat.N_QUADS)
        assert data(kg) == before
        once_each(kg)


# -- provml load ------------------------------------------------------------------------------
def test_provml_load_rejects_the_second_run_and_exits_1(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    for name, later in (("first", 0.0), ("second", 3600.0)):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps(e) + "\n" for e in learning("cli-twice", later_s=later)))
    code, out, err = run_cli("load", str(tmp_path / "first.jsonl"), "--store", store)
    assert code == 0, (out, err)
    code, out, err = run_cli("load", str(tmp_path / "first.jsonl"), "--store", store)  # again: as it was
    assert code == 0, (out, err)
    code, out, err = run_cli("load", str(tmp_path / "second.jsonl"), "--store", store)
    assert code == 1, (out, err)
    assert "rejected" in err and "run/cli-twice" in err
    with open_kg(store) as kg:
        once_each(kg)
        assert data(kg) == data(_reference(learning("cli-twice")))


def _reference(events: list[dict[str, Any]]) -> KnowledgeGraph:
    kg = KnowledgeGraph(OxigraphStore())
    kg.ingest_events(events)
    return kg


# -- the broker -------------------------------------------------------------------------------
@pytest.fixture
def redis_server(tmp_path: Path) -> Any:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def _through_the_broker(url: str, kg: KnowledgeGraph, bags: list[list[dict[str, Any]]]) -> None:
    """Each bag through a real worker (its own entry), then the writer until nothing is behind."""
    redis = connect(url)
    ensure_groups(redis)
    worker = Worker(url, batch=1, block_s=0.05)
    for bag in bags:
        send(url, bag, bag=len(bag))
        assert worker.step() == 1
    worker.close()
    writer = Writer(url, kg, block_s=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,))
    thread.start()
    try:
        while (now := lag(redis)).behind or now.unwritten_quads:
            assert thread.is_alive()
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
        writer.close()
        redis.close()


def test_the_brokers_writer_dead_letters_the_second_run_and_writes_the_others(
        redis_server: RedisServer, tmp_path: Path) -> None:
    first, second, other = learning("broker-twice"), learning("broker-twice", later_s=60), learning("broker-other")
    with open_kg(tmp_path / "store") as kg:
        # one group: the writer refuses it, then writes its entries one by one
        _through_the_broker(redis_server.url, kg, [first, second, other, first])
        once_each(kg)
        assert data(kg) == data(_reference(first)) | data(_reference(other))
        redis = connect(redis_server.url)
        [(_id, dead)] = redis.xrange(DEAD)
        assert json.loads(dead[b"bag"]) == second
        report = json.loads(dead[b"report"])
        assert report["stage"] == "writer" and report["error"] == "ValueError"
        assert "run/broker-twice started at" in report["message"] and "run id used twice" in report["message"]
        assert lag(redis).written_events == 2 * len(first) + len(other)
        redis.close()
        # in a group of its own, later
        _through_the_broker(redis_server.url, kg, [learning("broker-twice", later_s=120)])
        once_each(kg)
        assert connect(redis_server.url).xlen(DEAD) == 2


def test_a_node_the_filters_say_the_store_lacks_is_not_read(tmp_path: Path) -> None:
    """The one writer's filters (``Reads.lacks_times``) skip the reads of new executions; a node
    they take for stored is read. (Without the batch's timed executions added to the filters,
    the tests above fail: a stored run's workflow execution has no quad the plans read.)"""
    with open_kg(tmp_path / "store") as kg:
        kg.ingest_events(learning("filtered"))
        reads = kg._reads
        assert reads is not None and reads.nodes.stored is not None  # (a new store's: built at once)
        run = NamedNode("https://w3id.org/provml/id/run/filtered")
        assert not reads.lacks_times(run) and reads.lacks_times(NamedNode("https://w3id.org/provml/id/run/new"))
        batch = [Quad(run, PROV.startedAtTime, time_literal("2030-01-01T00:00:00Z"))]
        assert stored_times(kg.store, batch, lacks=reads.lacks_times)
        assert stored_times(kg.store, batch, lacks=lambda node: True) == []


def test_entries_of_workers_before_the_check_are_checked_from_their_nquads(
        redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker of the version before the check hands over keys without the times (and no
    ``timed`` mark): the writer reads the times from the entry's N-Quads. (Before, such an
    entry was not checked: the second run was written into the first.)"""
    import zlib

    from pyoxigraph import RdfFormat, parse

    from provml.ingest import handover, worker
    from provml.ingest.reruns import TIMES

    def earlier(quads: list[Quad]) -> dict[str, bytes]:
        fields = handover.hand_over(quads)
        fields.pop("timed", None)
        keys = parse(zlib.decompress(fields["keys"]), format=RdfFormat.N_QUADS)
        fields["keys"] = zlib.compress(handover.nquads(q for q in keys if q.predicate not in TIMES), 1)
        return fields

    monkeypatch.setattr(worker, "hand_over", earlier)
    first, second = learning("earlier-worker"), learning("earlier-worker", later_s=60)
    with open_kg(tmp_path / "store") as kg:
        _through_the_broker(redis_server.url, kg, [first])
        _through_the_broker(redis_server.url, kg, [second])
        once_each(kg)
        assert data(kg) == data(_reference(first))
        [(_id, dead)] = connect(redis_server.url).xrange(DEAD)
        assert json.loads(dead[b"bag"]) == second



def test_entries_whose_keys_hold_the_times_without_the_mark_are_not_parsed_again() -> None:
    """A worker of the thirtieth session put the times in the keys before the ``timed`` mark
    existed: its entry's times are read once, not from its N-Quads a second time."""
    from provml.ingest import handover
    from provml.ingest.reruns import TIMES
    from provml.ingest.translation import translate

    kg = KnowledgeGraph(OxigraphStore())
    quads = kg.prepare_batch(translate(learning("unmarked"), iris=kg.iris), links=False)
    fields = {k.encode(): v for k, v in handover.hand_over(quads).items()}
    marked = [q for q in handover.entry_keys(fields)[0] if q.predicate in TIMES]
    del fields[b"timed"]
    unmarked = [q for q in handover.entry_keys(fields)[0] if q.predicate in TIMES]
    assert marked and sorted(map(str, unmarked)) == sorted(map(str, marked))
