"""Stage shortcuts do not depend on the order bags arrive in (a broker with several workers, a
restart, spools loaded in any order): the same store whichever bag comes first."""

from __future__ import annotations

import sys
from pathlib import Path

from pyoxigraph import Quad

from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore
from provml.vocab import PROVML

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import workload  # noqa: E402


def _store(bags: list[list[dict[str, object]]]) -> set[Quad]:
    kg = KnowledgeGraph(OxigraphStore())
    for bag in bags:
        kg.ingest_events(bag)
    return set(kg.store.quads())


def test_bags_in_reverse_order_give_the_same_store_as_in_order() -> None:
    events = workload.events(200, batches=5, epochs=3)
    bags = [events[i:i + 7] for i in range(0, len(events), 7)]
    in_order = _store(bags)
    reverse = _store(bags[::-1])
    links = {q for q in in_order if q.predicate == PROVML.stageExecution}
    sections = {q.subject for q in in_order if q.predicate == PROVML.iteration}
    assert links and sections <= {q.subject for q in links}  # every section has its stage
    assert {q for q in reverse if q.predicate == PROVML.stageExecution} == links
    assert reverse == in_order


def test_two_threads_ingesting_a_section_and_its_parent_link_it(tmp_path: Path) -> None:
    # the endpoint ingests on many threads: thread B's batch (a batch section) looked its parent
    # up before thread A stored it (the epoch), and A's late links ran before B's batch was
    # stored, so the section never got its stage shortcut. B's write is held until A is done
    # (or 1 s, when A waits for B).
    import threading
    from typing import Any

    evs = workload.learning_run("c1", epochs=1, batches=1)
    epoch = [e for e in evs if e["kind"] == "cycle_begin" and e["name"] == "epoch"]
    batch = [e for e in evs if e["kind"] in ("cycle_begin", "cycle_end") and e["name"] == "batch"]
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"))
    kg.ingest_events([e for e in evs if e not in epoch and e not in batch and e["kind"] != "cycle_end"])
    held, a_done = threading.Event(), threading.Event()

    def slow(write: Any) -> Any:
        def held_write(*args: Any, **kwargs: Any) -> Any:
            # the first write after B started is B's (A starts once it is held); B's batch goes
            # to the store on a loading thread of its own (provml.ingest.handover.write_passes)
            if not held.is_set():
                held.set()
                a_done.wait(1.0)
            return write(*args, **kwargs)
        return held_write

    kg.store.add = slow(kg.store.add)  # type: ignore[method-assign]
    kg.store.load_nquads = slow(kg.store.load_nquads)  # type: ignore[method-assign]
    b = threading.Thread(target=kg.ingest_events, args=(batch,), name="B")
    b.start()
    assert held.wait(30)
    a = threading.Thread(target=lambda: (kg.ingest_events(epoch), a_done.set()), name="A")
    a.start()
    a.join()
    b.join()
    quads = set(kg.store.quads())
    sections = {q.subject for q in quads if q.predicate == PROVML.iteration}
    linked = {q.subject for q in quads if q.predicate == PROVML.stageExecution}
    assert len(sections) == 2 and sections <= linked
    kg.close()


def test_a_store_on_disk_loads_each_batch_beside_its_planning_and_ends_as_one_in_memory(tmp_path: Path) -> None:
    # on disk the store bulk-loads a batch's N-Quads on a thread of its own while the ingesting
    # thread plans the late links and summaries (provml.knowledge, _write), from BULK_MIN_QUADS
    # quads; a smaller batch is added as quads after the planning, as in memory: both must end
    # with the same quads as an in-memory store, in order and in reverse
    import threading

    from provml.store.oxigraph import BULK_MIN_QUADS

    events = workload.events(2_400, batches=5, epochs=3)
    bags, i = [], 0
    for size in [400, 7, 13] * 200:
        if i >= len(events):
            break
        bags.append(events[i:i + size])
        i += size
    for name, order in (("in-order", bags), ("reverse", bags[::-1])):
        kg = KnowledgeGraph(OxigraphStore(tmp_path / name))
        load, add, loaded, added = kg.store.load_nquads, kg.store.add, [], []

        def spy_load(data: bytes, *, lenient: bool = False, load: object = load, loaded: list = loaded) -> None:
            loaded.append((threading.current_thread().name, data.count(b"\n")))
            load(data, lenient=lenient)  # type: ignore[operator]

        def spy_add(quads: object, *, atomic: bool = True, add: object = add, added: list = added) -> None:
            quads = list(quads)  # type: ignore[call-overload]
            added.append(len(quads))
            add(quads, atomic=atomic)  # type: ignore[operator]

        kg.store.load_nquads = spy_load  # type: ignore[method-assign]
        kg.store.add = spy_add  # type: ignore[method-assign]
        for bag in order:
            kg.ingest_events(bag)
        assert set(kg.store.quads()) == _store(order)
        assert {thread for thread, _ in loaded} == {"provml-writer-load"}
        assert max(lines for _, lines in loaded) >= BULK_MIN_QUADS  # the batches of 400 events
        assert added and max(added) < BULK_MIN_QUADS  # those of 7 and 13
        kg.close()
