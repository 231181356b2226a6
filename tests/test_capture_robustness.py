"""Nothing captured is lost silently: odd names, permanent sink errors, a failing flusher, and
events after ``close()`` (issue 14)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import provml
from provml.capture.encoding import expand
from provml.capture.flusher import Flusher
from provml.capture.spool import read_events
from provml.errors import MissingExtra
from provml.ingest.spec import SpecError
from provml.knowledge import open_kg
from provml.vocab import PROV, RDFS

COUNT_ENDED = f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e {PROV.endedAtTime} ?t }}"


def labels(store: Path) -> set[str]:
    kg = open_kg(store)
    try:
        rows = kg.query(f"SELECT ?l WHERE {{ ?e {PROV.endedAtTime} ?t ; {RDFS.label} ?l }}")
        return {row["l"].value for row in rows}
    finally:
        kg.close()


def test_names_with_spaces_are_stored_not_rejected(tmp_path: Path) -> None:
    store = tmp_path / "kg"
    with (
        provml.Client(store=store, install_signal_handler=False) as client,
        client.workflow("my workflow", meta=False) as wf,
    ):
        with wf.task("load data") as t:
            t.generated(provml.value("rows", 3))
        with wf.stage("train the model") as tr, tr.cycle("val epoch", 0) as ep, \
                ep.cycle("mini batch/é", 1):
            pass
    stats = client.stats()
    assert stats.rejected == 0 and stats.sent == stats.processed == 10
    assert not client.rejected_path.exists()
    assert labels(store) - {wf.run_id} == {
        "load-data", "train-the-model", "train-the-model/val-epoch-0",
        "train-the-model/val-epoch-0/mini-batch--1",
    }


def test_ids_keep_names_and_stay_unique(tmp_path: Path) -> None:
    with (
        provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False) as client,
        client.workflow("wf", meta=False) as wf,
    ):
        with wf.task("load data") as a, a.cycle("val epoch", 2) as c:
            pass
        with wf.task("load-data") as b:
            pass
    assert (a.id, b.id, c.id) == ("load-data", "load-data-2", "load-data/val-epoch-2")
    assert client.spool_path is not None
    events = list(read_events(client.spool_path))
    assert [e["name"] for e in events if e["kind"] == "task_begin"] == ["load data", "load-data"]
    assert client.stats().rejected == 0


def test_ids_stay_unique_when_threads_make_tasks_of_one_name(tmp_path: Path) -> None:
    """A workflow's count of a name was read and written in two steps: 8 threads making tasks
    named alike got the same id (a probe: 163 ids begun twice or thrice in 12,000 tasks, and
    provml load refused the batches that held them)."""
    import sys

    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    wf = client.workflow("wf", meta=False)
    ids: list[list[str]] = [[] for _ in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: the window between a read and a write shows
    try:
        threads = [threading.Thread(target=lambda got=got: got.extend(wf.task("step").id for _ in range(2000)))
                   for got in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        client.close()
    made = [i for got in ids for i in got]
    assert len(made) == len(set(made)) == 16_000
    assert set(made) == {"step"} | {f"step-{n}" for n in range(2, 16_001)}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda wf: wf.task("x", id="has space"), "task id 'has space' must be"),
        (lambda wf: wf.task(""), "a task name must be a string of 1-200"),
        (lambda wf: wf.task("x" * 201), "of 201 characters"),
        (lambda wf: wf.stage("s").cycle("epoch", -1), "iteration must be an integer >= 0"),
        (lambda wf: wf.stage("s").cycle("epoch", 1.5), "iteration must be an integer >= 0"),
        (lambda wf: wf.spec({"workflow": "wf", "transformations": [{"nam": "x"}]}),
         "transformations[0] needs a 'name'"),
    ],
)
def test_what_the_wire_format_refuses_raises_at_the_call(tmp_path: Path, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False) as client:
        with client.workflow("wf", meta=False) as wf:
            with pytest.raises((ValueError, SpecError)) as caught:
                call(wf)
            assert message in str(caught.value)
        with pytest.raises(ValueError, match="run id 'a b' must be"):
            client.workflow("wf", run_id="a b")
    assert client.stats().rejected == 0


# -- permanent and transient sink errors -----------------------------------------------------


class PickySink:
    """A sink that refuses events named ``bad`` with a KeyError (a bug, a malformed event) and,
    with ``missing``, fails every bag as a missing dependency would."""

    name = "picky sink"

    def __init__(self, *, missing: bool = False) -> None:
        self.missing = missing
        self.stored: list[dict[str, object]] = []

    def send(self, lines: list[str]) -> None:
        if self.missing:
            raise MissingExtra(feature="the picky sink", package="picky", extra="picky")
        events = [json.loads(line) for line in lines]
        if any(e.get("name") == "bad" for e in events):
            raise KeyError("spec")
        self.stored.extend(events)

    def close(self) -> None:
        return None


def flusher(tmp_path: Path, sink: object, **options: object) -> Flusher:
    settings: dict[str, object] = {"sink": sink, "spool_dir": tmp_path, "diskful": False,
                                   "bag_size": 4, "max_queue": 1000, "flush_interval_s": 0.05,
                                   "name": "t"}
    settings.update(options)
    return Flusher(**settings)  # type: ignore[arg-type]


def event(i: int, name: str = "ok") -> dict[str, object]:
    return {"v": 1, "kind": "task_begin", "t": 1.0, "run": "r", "workflow": "w", "task": f"t{i}",
            "name": name, "type": "generic"}


def rejected(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_permanent_sink_error_rejects_the_event_and_later_bags_flow_on(tmp_path: Path) -> None:
    sink = PickySink()
    f = flusher(tmp_path, sink)
    for i in range(10):
        f.put(event(i, "bad" if i == 2 else "ok"))
    assert f.flush(timeout_s=30)
    for i in range(10, 14):
        f.put(event(i))
    assert f.close(timeout_s=30)
    assert sorted(int(str(e["task"])[1:]) for e in sink.stored) == [i for i in range(14) if i != 2]
    stats = f.stats()
    assert (stats.sent, stats.rejected, stats.pending) == (13, 1, 0)
    (record,) = rejected(f.rejected_path)
    assert record["report"] == {"error": "KeyError", "message": "'spec'"}
    assert [e["task"] for e in record["events"]] == ["t2"]  # type: ignore[union-attr]
    assert not f.pending_path.exists()


def test_a_missing_dependency_rejects_each_bag_with_the_reason(tmp_path: Path) -> None:
    f = flusher(tmp_path, PickySink(missing=True))
    for i in range(8):
        f.put(event(i))
    assert f.close(timeout_s=30)
    stats = f.stats()
    assert (stats.rejected, stats.pending, stats.sent) == (8, 0, 0)
    records = rejected(f.rejected_path)
    assert len(records) == 2  # one record per bag of 4, not one per event
    assert "pip install 'provml[picky]'" in str(records[0]["report"])


def test_a_malformed_spec_does_not_stall_a_real_store(tmp_path: Path) -> None:
    store = tmp_path / "kg"
    client = provml.Client(store=store, spool_dir=tmp_path / "spool", bag_size=5,
                           install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf:
        # what an older client, or a hand-edited spool, can still send
        client._flusher.put({"v": 1, "kind": "spec", "t": 1.0, "run": wf.run_id, "workflow": "wf",
                             "spec": {"workflow": "wf", "transformations": [{"nam": "x"}]}})
        with wf.task("t") as t:
            t.generated(provml.value("n", 1))
    assert client.flush(timeout_s=60)
    with client.workflow("wf2", meta=False) as wf2, wf2.task("u"):
        pass
    client.close()
    stats = client.stats()
    assert (stats.rejected, stats.pending, stats.sent) == (1, 0, 8)
    (record,) = rejected(client.rejected_path)
    # a spec that does not load breaks the event format (an EventError naming the spec event)
    assert record["report"]["error"] == "EventError"  # type: ignore[index]
    assert "field 'spec'" in record["report"]["message"]  # type: ignore[index]
    kg = open_kg(store)
    try:
        assert int(next(iter(kg.query(COUNT_ENDED)))["n"].value) == 4
    finally:
        kg.close()


# -- the flusher thread survives -------------------------------------------------------------


def test_the_flusher_survives_a_disk_that_refuses_and_flush_says_so(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    client = provml.Client(spool_dir=spool, online=False, bag_size=5, flush_interval_s=0.05,
                           install_signal_handler=False)
    assert client.spool_path is not None
    client.spool_path.mkdir(parents=True)  # opening the spool file fails (IsADirectoryError)
    with client.workflow("wf", meta=False) as wf, wf.task("t") as t:
        for i in range(6):
            with t.cycle("c", i):
                pass
    assert client.flush(timeout_s=30) is False  # held in memory, not on disk: not True
    assert client.stats().held == 16
    client.spool_path.rmdir()  # the disk takes events again
    with client.workflow("wf2", meta=False):
        pass
    assert client.flush(timeout_s=30) is True
    client.close()
    assert client.stats().held == 0
    events = list(read_events(client.spool_path))
    assert len(events) == 18 and len({(e["run"], e["kind"], e.get("task")) for e in events}) == 18


def test_a_corrupt_pending_line_is_rejected_and_the_rest_replayed(tmp_path: Path) -> None:
    store = tmp_path / "kg"
    holder = open_kg(store)  # the store is locked: the client's sink is "down"
    client = provml.Client(store=store, spool_dir=tmp_path / "spool", bag_size=3,
                           flush_interval_s=0.05, install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf:
        with wf.task("a"):
            pass
        assert client.flush(timeout_s=30)
        with client.pending_path.open("a") as handle:
            handle.write('{"v": 1, "kind": "task_b\n')  # a torn line in the middle
        with wf.task("b"):
            pass
    assert client.flush(timeout_s=30)
    holder.close()
    client.close(timeout_s=60)
    stats = client.stats()
    assert stats.pending == 0 and stats.rejected == 1 and stats.errors == 0
    (record,) = rejected(client.rejected_path)
    assert record["report"]["error"] == "corrupt line"  # type: ignore[index]
    assert record["text"] == '{"v": 1, "kind": "task_b'
    kg = open_kg(store)
    try:
        assert int(next(iter(kg.query(COUNT_ENDED)))["n"].value) == 3
    finally:
        kg.close()


class ExitingSink(PickySink):
    """A sink whose send ends its thread (``sys.exit`` in a library): the thread dies."""

    def send(self, lines: list[str]) -> None:
        raise SystemExit(3)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_if_the_thread_dies_flush_says_so_and_events_go_to_disk(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = flusher(tmp_path, ExitingSink())
    for i in range(4):
        f.put(event(i))  # a full bag wakes the thread, which dies sending it
    f._thread.join(30)
    assert not f._thread.is_alive()
    for i in range(4, 6):
        f.put(event(i))
    assert f.flush(timeout_s=5) is True  # written on this thread
    assert "provml-flusher-t thread has stopped" in caplog.text
    f.put(event(6))  # straight to disk on the caller's thread
    assert sorted(e["task"] for e in read_events(f.pending_path)) == [f"t{i}" for i in range(7)]


# -- after close() ---------------------------------------------------------------------------


def test_events_after_close_are_written_to_the_pending_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    wf = client.workflow("wf", meta=False).begin()
    t = wf.task("t").begin()
    client.close()
    t.end()
    wf.end()
    with client.workflow("late", meta=False):
        pass
    assert client.flush() is True
    assert client.stats().late == 4
    assert "captured after close()" in caplog.text
    late = [e["kind"] for e in read_events(client.pending_path)]
    assert late == ["task_end", "workflow_end", "workflow_begin", "workflow_end"]
    assert client.spool_path is not None
    assert [e["kind"] for e in read_events(client.spool_path)] == ["workflow_begin", "task_begin"]


def test_cycles_after_close_reach_the_pending_file_in_order(tmp_path: Path) -> None:
    # a cycle's begin goes straight onto the queue: after close, its end (or a later close,
    # as at interpreter exit) writes it to the pending file, before what follows
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    wf = client.workflow("wf", meta=False).begin()
    t = wf.task("t").begin()
    client.close()
    with t.cycle("epoch", 0) as ep:
        ep.generated(provml.evaluation("loss", 0.5))
    left_open = t.cycle("epoch", 1).__enter__()
    client.close()  # what atexit does
    late = [(e["kind"], e.get("task")) for e in read_events(client.pending_path)]
    assert late == [("cycle_begin", "t/epoch-0"), ("cycle_end", "t/epoch-0"),
                    ("cycle_begin", "t/epoch-1")]
    assert client.stats().late == 3 and left_open.iteration == 1


def test_the_queue_stays_within_its_bound_while_the_flusher_sleeps(tmp_path: Path) -> None:
    client = provml.Client(spool_dir=tmp_path / "spool", online=False, bag_size=10_000,
                           max_queue=10, flush_interval_s=3600, install_signal_handler=False)
    longest = 0
    with client.workflow("wf") as wf, wf.task("t") as t:
        for i in range(100):
            with t.cycle("loop", i) as c:
                longest = max(longest, len(client._flusher._queue))
                c.generated(provml.evaluation("loss", i))
            longest = max(longest, len(client._flusher._queue))
    client.close()
    assert longest <= 10 + 1  # max_queue, and the begin of the one cycle open
    events = [e for f in sorted((tmp_path / "spool").glob("*.jsonl")) for e in read_events(f)]
    ends = [e for e in events if e["kind"] == "cycle_end"]
    assert sorted(e["generated"][0]["value"] for e in ends) == list(range(100))
    assert len(events) == 204


def test_cycles_alone_wake_the_flusher_when_a_bag_is_full(tmp_path: Path) -> None:
    # cycles append to the queue directly; their end checks the gate that wakes the thread
    client = provml.Client(spool_dir=tmp_path, online=False, flush_interval_s=3600,
                           install_signal_handler=False)
    wf = client.workflow("wf", meta=False).begin()
    t = wf.task("t").begin()
    for i in range(1100):  # 1,100 records (a batch's begin and end are one): more than one
        with t.cycle("batch", i):  # spool write's worth (1,000 records)
            pass
    deadline = time.monotonic() + 20
    while client.stats().processed < 2000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.stats().processed >= 2000  # written without flush() or the interval
    t.end()
    wf.end()
    client.close()
    assert client.stats().processed == 2204


def test_a_non_positive_flush_interval_is_refused(tmp_path: Path) -> None:
    # a zero or negative wait would spin or block the flusher thread forever
    for interval in (0, -1.0):
        with pytest.raises(ValueError, match="flush_interval_s must be a number of seconds above 0"):
            provml.Client(spool_dir=tmp_path, online=False, flush_interval_s=interval,
                          install_signal_handler=False)


def test_stats_report_the_flusher_threads_cpu_time(tmp_path: Path) -> None:
    with provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False) as client:
        with client.workflow("wf", meta=False) as wf, wf.task("t") as t:
            for i in range(200):
                with t.cycle("c", i):
                    pass
        assert client.flush()
        during = client.stats().thread_cpu_s
    after = client.stats().thread_cpu_s
    assert 0 < during <= after < 60


class FlakySink(PickySink):
    """A sink whose client library raises its own ConnectionError (not an OSError, like
    redis-py's) for the first bag: that is "down", not a bad bag."""

    class ConnectionError(Exception):  # noqa: A001 - the library's own name
        pass

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def send(self, lines: list[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise FlakySink.ConnectionError("connection refused")
        super().send(lines)


def test_a_library_connection_error_is_transient(tmp_path: Path) -> None:
    sink = FlakySink()
    f = flusher(tmp_path, sink)
    for i in range(4):
        f.put(event(i))
    assert f.close(timeout_s=30)
    stats = f.stats()
    assert (stats.rejected, stats.sent, stats.pending) == (0, 4, 0)
    assert sorted(e["task"] for e in sink.stored) == ["t0", "t1", "t2", "t3"]


# -- compact bags: several full bags found waiting go in one request --------------------------


class CompactSink:
    """A sink taking the compact form; its first request hangs until released, so events
    pile up in the queue meanwhile (a slow endpoint)."""

    name = "compact sink"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests: list[int] = []
        self.stored: list[dict[str, object]] = []

    def send(self, lines: list[str]) -> None:
        raise AssertionError("the compact form is sent")

    def send_compact(self, blob: bytes, count: int) -> None:
        self.release.wait(10)
        events = expand(json.loads(blob))
        assert len(events) == count
        self.requests.append(count)
        self.stored.extend(events)

    def close(self) -> None:
        return None


def test_full_bags_found_waiting_go_in_one_request_and_none_twice(tmp_path: Path) -> None:
    sink = CompactSink()
    f = flusher(tmp_path, sink, flush_interval_s=30.0)
    for i in range(4):  # a full bag wakes the thread; its request hangs
        f.put(event(i))
    deadline = time.monotonic() + 10
    while f._queue and time.monotonic() < deadline:
        time.sleep(0.001)
    for i in range(4, 15):  # 11 more: two full bags and 3 events
        f.put(event(i))
    sink.release.set()
    assert f.flush(timeout_s=20)
    f.close()
    assert sorted(e["task"] for e in sink.stored) == sorted(f"t{i}" for i in range(15))
    assert sink.requests[0] == 4
    assert sum(sink.requests) == 15
    assert f.stats().sent == 15


def _endpoint_client(sink: CompactSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> provml.Client:
    """A client of an endpoint (bags of 50, no interval flush) whose HTTP sink is ``sink``."""
    import provml.capture.client as client_module

    monkeypatch.setattr(client_module, "HttpSink", lambda endpoint, token=None: sink)
    monkeypatch.setenv("PROVML_HOME", str(tmp_path))
    return provml.Client(endpoint="http://127.0.0.1:9", bag_size=50, flush_interval_s=3600,
                         install_signal_handler=False)


def test_batches_check_the_gate_once_a_wake_up_and_full_bags_still_wake_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an endpoint's client wakes its thread every full bag (50 records); while the thread is
    # busy with a request, the bags that pile up must not cost each batch a Python call
    sink = CompactSink()
    client = _endpoint_client(sink, tmp_path, monkeypatch)
    f = client._flusher
    checks = 0
    check = f.gate.check

    def counted() -> None:
        nonlocal checks
        checks += 1
        check()

    f.gate.check = counted
    wf = client.workflow("wf", meta=False).begin()
    t = wf.task("t").begin()
    for i in range(50):  # a full bag: the thread takes it and its request hangs
        with t.cycle("batch", i):
            pass
    deadline = time.monotonic() + 10
    while (f._queue or f._inflight == []) and time.monotonic() < deadline:
        time.sleep(0.001)
    checks = 0
    for i in range(50, 550):  # ten more full bags pile up meanwhile
        with t.cycle("batch", i):
            pass
    assert checks <= 2, checks  # one wake-up due; was one call a batch (≈ 450)
    sink.release.set()
    for i in range(550, 650):  # the thread took the queue: full bags wake it again
        with t.cycle("batch", i):
            pass
    deadline = time.monotonic() + 20
    while client.stats().sent < 2 * 600 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.stats().sent >= 2 * 600  # without flush() or the interval
    t.end()
    wf.end()
    client.close()
    assert client.stats().sent == 2 * 650 + 4
    assert sorted(e["iteration"] for e in sink.stored if e["kind"] == "cycle_end") == list(range(650))


class HandshakeSink(CompactSink):
    """Its first request waits, under way, until the test has queued more bags; each request's
    time of return is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.under_way = threading.Event()
        self.returned: list[float] = []
        self.started: list[float] = []

    def send_compact(self, blob: bytes, count: int) -> None:
        self.started.append(time.monotonic())
        if not self.under_way.is_set():
            self.under_way.set()
            self.release.wait(10)
        events = expand(json.loads(blob))
        self.requests.append(count)
        self.stored.extend(events)
        self.returned.append(time.monotonic())


def test_bags_that_fill_during_a_request_wait_for_the_next_wake_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an endpoint's client sends at most one request a linger (1 s here): a slow endpoint gets
    # the bags of a whole second a request, not the few that came during its last answer
    sink = HandshakeSink()
    client = _endpoint_client(sink, tmp_path, monkeypatch)
    wf = client.workflow("wf", meta=False).begin()
    t = wf.task("t").begin()
    for i in range(50):  # a full bag: the thread sends it
        with t.cycle("batch", i):
            pass
    assert sink.under_way.wait(10)
    for i in range(50, 150):  # two full bags while the request is under way
        with t.cycle("batch", i):
            pass
    sink.release.set()
    deadline = time.monotonic() + 20
    while len(sink.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.requests[:2] == [98, 200]  # the begins of the workflow and task, 48 batches; 100
    assert sink.started[1] - sink.returned[0] >= 0.5  # it waited for the linger
    t.end()
    wf.end()
    client.close()
    assert client.stats().sent == 2 * 150 + 4


class _Unprintable:
    """A value whose ``repr`` raises (a detached ORM row)."""

    def __repr__(self) -> str:
        raise RuntimeError("instance is not bound to a Session")


def test_values_no_encoder_takes_lose_nothing_else(tmp_path: Path) -> None:
    """A torch tensor of two elements (``item()`` raised RuntimeError) and a value whose repr
    raises escaped the encoder: the flusher dropped every event it had taken in that round
    (606 captured, none on disk) while ``flush()`` said all was well (an audit, twenty-first
    session). The tensor is now written as its list, the other value as its type's name (since
    the twenty-seventh session; before, its event alone was set aside in the rejected file), and
    every event is on disk."""
    torch = pytest.importorskip("torch")
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    with client.workflow("odd values", meta=False) as wf, wf.stage("train") as tr, \
            tr.cycle("epoch", 0) as ep:
        for b in range(100):
            with ep.cycle("batch", b) as bt:
                extra = [provml.value("per_class", torch.tensor([0.5, 0.25]))] if b == 30 else \
                    [provml.value("row", _Unprintable())] if b == 60 else []
                bt.generated(provml.evaluation("loss", 0.1 * b), *extra)
    assert client.flush(timeout_s=30)
    client.close()
    events = [e for path in tmp_path.glob("provml-*.jsonl") for e in read_events(path)]
    batches = [e for e in events if e.get("kind") == "cycle_end" and e.get("name") == "batch"]
    assert len(batches) == 100
    per_class = [v for e in batches for v in e.get("generated", []) if v.get("name") == "per_class"]
    assert [v["value"] for v in per_class] == [[0.5, 0.25]]
    rows = [v for e in batches for v in e.get("generated", []) if v.get("name") == "row"]
    assert [v["value"] for v in rows] == ["<_Unprintable that cannot be written>"]
    assert not client.rejected_path.exists() and client.stats().rejected == 0


def test_a_run_id_is_begun_once_by_a_client(tmp_path: Path) -> None:
    """Two workflows under one explicit run id merged into one run (two starts, two ends, a
    hyperparameter with both values, against the store's own shapes) without a word (an
    audit, twenty-first session); the second is now refused at the call."""
    client = provml.Client(store=tmp_path / "kg", install_signal_handler=False)
    with client.workflow("wf", run_id="run-1", meta=False) as wf, \
            wf.task("train", used=[provml.hyperparameter("lr", 0.1)]):
        pass
    with pytest.raises(ValueError, match="run id 'run-1' was already used"):
        client.workflow("wf", run_id="run-1", meta=False)
    with client.workflow("wf", run_id="run-2", meta=False):
        pass
    client.close()
    assert client.stats().rejected == 0
    kg = open_kg(tmp_path / "kg")
    try:
        rows = list(kg.query(f"SELECT ?r ?t WHERE {{ ?r {PROV.startedAtTime} ?t }}"))
    finally:
        kg.close()
    started = [r["r"].value for r in rows if r["r"].value.rsplit("/", 1)[-1] in ("run-1", "run-2")]
    assert sorted(started) == sorted(set(started)) and len(started) == 2


def test_a_run_id_is_taken_when_its_workflow_begins(tmp_path: Path) -> None:
    """The refusal took the run id at ``client.workflow(...)``: a workflow made and never
    entered (or refused, a malformed spec) left the corrected retry refused (a review,
    twenty-first session). The id is now taken when the workflow begins."""
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    with pytest.raises(SpecError):
        client.workflow("wf", run_id="run-1", meta=False, spec={"workflow": "wf", "transformations": [{"type": "training"}]})
    client.workflow("wf", run_id="run-1", meta=False)  # made, never entered
    first = client.workflow("wf", run_id="run-1", meta=False)
    second = client.workflow("wf", run_id="run-1", meta=False)  # made before the first began
    with first:
        pass
    with pytest.raises(ValueError, match="already used"):
        second.begin()
    with pytest.raises(ValueError, match="already used"):
        client.workflow("wf", run_id="run-1", meta=False)
    client.close()
    begins = [e for path in tmp_path.glob("provml-*.jsonl") for e in read_events(path)
              if e["kind"] == "workflow_begin"]
    assert len(begins) == 1


def test_the_capture_encoder_writes_a_nan_key_or_value_inside_a_value_as_xsd_spells_it() -> None:
    """A metric per class keyed or valued by NaN (24th session: such an event was rejected)."""
    from provml.capture.encoding import encode

    event = {"v": 1, "kind": "task_end", "t": 1.0, "run": "r", "workflow": "w", "task": "t", "name": "t",
             "status": "finished", "generated": [{"name": "f1", "value": {float("nan"): 0.5, "b": [float("inf")]}}]}
    assert json.loads(encode(event))["generated"] == [{"name": "f1", "value": {"NaN": 0.5, "b": ["INF"]}}]
