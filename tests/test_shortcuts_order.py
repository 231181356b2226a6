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
