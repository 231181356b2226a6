"""Group commit (``provml.ingest.commits``): batches that threads ingest at once are written
together, and the store ends exactly as if each had been ingested alone, in the same order;
each batch keeps its own verdict. A real on-disk store, real threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import paper_fixture as pf
from spec_bags import spec_bags

from provml.errors import EventError, ValidationFailed
from provml.ingest.commits import Committed, Committer
from provml.knowledge import ONTOLOGY_GRAPHS, KnowledgeGraph, open_kg
from provml.vocab import PROVML

Bag = list[dict[str, Any]]


def _bags(events: list[dict[str, Any]], size: int) -> list[Bag]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def _data(kg: KnowledgeGraph) -> set[Any]:
    return {q for q in kg.store.raw if q.graph_name not in ONTOLOGY_GRAPHS}


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


class _Queued:
    """Batches handed to a committer from one thread each, queued in the order given while the
    store's lock is held (so the groups are known), then the lock let go."""

    def __init__(self, committer: Committer) -> None:
        self.committer = committer
        self.lock = threading.Lock()
        self.outcomes: dict[int, Committed | BaseException] = {}
        self.threads: list[threading.Thread] = []

    def hold(self) -> AbstractContextManager[Any]:
        return self.lock

    def run(self, bags: Sequence[Bag], hold: Callable[[int], Callable[[], AbstractContextManager[Any]]] | None = None,
            ) -> dict[int, Committed | BaseException]:
        with self.lock:
            for i, bag in enumerate(bags):
                thread = threading.Thread(target=self._ingest, args=(i, bag, hold(i) if hold else self.hold))
                thread.start()
                self.threads.append(thread)
                _until(lambda i=i: self.committer.waiting == i + 1 or i in self.outcomes, "the batch never queued")
        for thread in self.threads:
            thread.join(60)
            assert not thread.is_alive()
        return self.outcomes

    def _ingest(self, i: int, bag: Bag, hold: Callable[[], AbstractContextManager[Any]]) -> None:
        try:
            self.outcomes[i] = self.committer.ingest(bag, hold=hold)
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            self.outcomes[i] = exc


def _alone(path: Path, bags: Sequence[Bag]) -> tuple[set[Any], list[str]]:
    """The store and the verdicts when each batch is ingested alone, in order."""
    verdicts = []
    with open_kg(path) as kg:
        for bag in bags:
            try:
                kg.ingest_events(bag)
                verdicts.append("stored")
            except (EventError, ValidationFailed) as exc:
                verdicts.append(type(exc).__name__)
        return _data(kg), verdicts


def _verdict(outcome: Committed | BaseException) -> str:
    return "stored" if isinstance(outcome, Committed) else type(outcome).__name__


def test_batches_waiting_together_are_one_write_and_store_what_they_store_alone(tmp_path: Path) -> None:
    bags = _bags(pf.all_events(), 4)  # 11 batches of the paper's workflows, epochs and their summaries
    alone, verdicts = _alone(tmp_path / "alone", bags)
    with open_kg(tmp_path / "together") as kg:
        outcomes = _Queued(Committer(kg, max_events=12)).run(bags)
        together = _data(kg)
    assert verdicts == ["stored"] * len(bags) and len(alone) > 500
    assert together == alone
    # the first thread to get the lock took the three oldest batches (12 events), and so on
    assert [outcomes[i].batches for i in range(len(bags))] == [3] * 9 + [2] * 2  # type: ignore[union-attr]
    assert [outcomes[i].events for i in range(len(bags))] == [len(bag) for bag in bags]  # type: ignore[union-attr]
    first = outcomes[0]
    assert isinstance(first, Committed) and first.triples > 3 * first.events


def test_a_broken_batch_in_a_group_is_rejected_alone_and_the_others_are_stored(tmp_path: Path) -> None:
    bags = _bags(pf.all_events(), 4)
    # a shapes violation (a validation stage inside an epoch) in one batch, a format error in another
    bags[3] = [*bags[3], {"v": 1, "kind": "task_begin", "t": pf.T0, "run": "train-a", "workflow": "seismic-training",
                          "task": "bad", "name": "v", "type": "validation", "parent": "train/epoch-187"}]
    bags[5] = [*bags[5], {"v": 1, "kind": "no-such-kind"}]
    alone, verdicts = _alone(tmp_path / "alone", bags)
    with open_kg(tmp_path / "together") as kg:
        outcomes = _Queued(Committer(kg)).run(bags)  # one group of all: it fails, then one by one
        together = _data(kg)
    assert [_verdict(outcomes[i]) for i in range(len(bags))] == verdicts
    assert verdicts.count("stored") == len(bags) - 2 and "EventError" in verdicts and "ValidationFailed" in verdicts
    assert together == alone
    report = outcomes[3].report  # type: ignore[union-attr]
    assert report is not None and not report.conforms
    assert {r.focus_node.rsplit("/", 1)[-1] for r in report.results} == {"bad"}


def test_a_batch_with_a_spec_starts_a_group(tmp_path: Path) -> None:
    """A spec gives roles to its own batch and later ones, never to a batch taken with it
    before it (the spec's batch is not added to a group)."""
    first, spec_bag, later = spec_bags()
    with open_kg(tmp_path / "kg") as kg:
        outcomes = _Queued(Committer(kg)).run([first, spec_bag, later])
        hyper = {q.subject.value.rsplit("/", 3)[-3] for q in _data(kg) if q.object == PROVML.LearningHyperparameterValue}
    assert [outcomes[i].batches for i in range(3)] == [1, 2, 2]  # type: ignore[union-attr]
    assert hyper == {"train2"}  # the first batch's lr came before the spec: a plain value


def test_batches_behind_a_store_held_past_the_time_limit_are_withdrawn_and_never_stored(tmp_path: Path) -> None:
    """``hold`` raising (the endpoint's write lock past its time limit: 503): the batch of the
    thread that waited for the store and the batches queued behind it are withdrawn, each
    caller gets the error, nothing is stored, and the next batch is not held up."""
    bags = _bags(pf.all_events(), 4)
    with open_kg(tmp_path / "kg") as kg:
        committer = Committer(kg)
        lock = threading.Lock()  # the store, held by the test (another write)

        @contextmanager
        def limited() -> Iterator[None]:
            if not lock.acquire(timeout=1.0):
                raise TimeoutError("the store was held for a whole time limit")
            try:
                yield
            finally:
                lock.release()

        before = _data(kg)
        outcomes: dict[int, Any] = {}

        def ingest(i: int) -> None:
            try:
                outcomes[i] = committer.ingest(bags[i], hold=limited)
            except TimeoutError as exc:
                outcomes[i] = exc

        threads = [threading.Thread(target=ingest, args=(i,)) for i in range(3)]
        with lock:
            for thread in threads:
                thread.start()
            for thread in threads:  # the leader gives up after 1 s, the others with it
                thread.join(30)
                assert not thread.is_alive()
        assert [_verdict(outcomes[i]) for i in range(3)] == ["TimeoutError"] * 3
        assert len({id(outcomes[i]) for i in range(3)}) == 3  # each thread its own exception
        assert committer.waiting == 0 and _data(kg) == before
        result = committer.ingest(bags[0], hold=limited)
        assert result.batches == 1 and _data(kg) != before


def test_a_batch_written_in_another_threads_group_is_answered_without_waiting_for_the_store(
        tmp_path: Path) -> None:
    """The thread that wrote the group still holds the store (it has more to do); a batch it
    wrote is answered at once (before: its thread waited for the store, then found it done)."""
    bags = _bags(pf.all_events(), 4)[:2]
    with open_kg(tmp_path / "kg") as kg:
        committer = Committer(kg)
        queued = _Queued(committer)
        released = threading.Event()

        @contextmanager
        def slow_to_let_go() -> Iterator[None]:
            with queued.lock:
                yield
                assert released.wait(30)  # the store kept after the group's write

        outcomes = {}

        def second() -> None:
            outcomes[1] = committer.ingest(bags[1], hold=slow_to_let_go)

        with queued.lock:
            first = threading.Thread(target=lambda: outcomes.__setitem__(0, committer.ingest(bags[0], hold=slow_to_let_go)))
            first.start()
            _until(lambda: committer.waiting == 1, "the first batch never queued")
            follower = threading.Thread(target=second)
            follower.start()
            _until(lambda: committer.waiting == 2, "the second batch never queued")
        follower.join(30)
        assert not follower.is_alive() and outcomes[1].batches == 2  # answered, the store still held
        assert first.is_alive()
        released.set()
        first.join(30)
        assert outcomes[0].batches == 2
        stored = _data(kg)
    alone, _ = _alone(tmp_path / "alone", bags)
    assert stored == alone


def test_a_group_is_bounded_by_events_and_by_weight(tmp_path: Path) -> None:
    bags = _bags(pf.all_events(), 4)[:4]
    with open_kg(tmp_path / "kg") as kg:
        committer = Committer(kg, max_events=1_000, max_weight=10)
        queued = _Queued(committer)
        outcomes: dict[int, Any] = {}
        with queued.lock:
            for i, bag in enumerate(bags):
                def ingest(i: int = i, bag: Bag = bag) -> None:
                    outcomes[i] = committer.ingest(bag, hold=queued.hold, weight=6)
                thread = threading.Thread(target=ingest)
                thread.start()
                queued.threads.append(thread)
                _until(lambda i=i: committer.waiting == i + 1, "the batch never queued")
        for thread in queued.threads:
            thread.join(60)
    assert [outcomes[i].batches for i in range(4)] == [1, 1, 1, 1]  # 6 + 6 > 10: each alone
