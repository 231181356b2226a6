"""A run id used twice: executions whose start or end the store holds at another time.

An execution's IRI is made of its run id and task id (:mod:`provml.ingest.iris`), so a second run
under a run id used before (a fixed ``run_id=`` given to two processes, two Dask recordings
under one) has the first run's IRIs. Each batch alone conforms, and the shapes' ``sh:maxCount 1``
on ``prov:startedAtTime`` and ``prov:endedAtTime`` saw only the batch: the store took the second
run into the first, one execution with two start and two end times (a finding of the
twenty-ninth session). Before a batch is written, the start and end times the store holds for
the executions the batch begins or ends are read (:func:`stored_times`: an embedded store by
pattern, one read an execution; another by SPARQL, one query for 1,000 of them):

* in-process ingest (``provml load``, the endpoint, ``ingest_events``/``ingest_rdf``, a broker
  worker writing to a remote store) validates the batch with the stored times beside its own,
  so the shapes' ``sh:maxCount 1`` refuses it (:meth:`provml.knowledge.KnowledgeGraph._check_shapes`);
* the broker's one writer, whose workers validated the bags without the store, refuses a group
  (and then the entry that fails alone: dead-lettered) with :func:`refuse_reruns` (the times
  travel in the entries' keys; an entry of a worker of an earlier version, without them, has
  them read from its N-Quads: :func:`provml.ingest.handover.entry_keys`).

The one writer of an embedded store skips the reads of the executions its filters say the store
lacks (:meth:`provml.ingest.plan_reads.Reads.lacks_times`): most of a batch's are new.

A time the store holds and the batch states again is one time: a redelivered bag, or one
loaded twice, is stored as before. Times compare as instants, to the millisecond (a remote store
may keep fewer digits than the microseconds provml writes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad

from provml.store.base import Store, select
from provml.vocab import PROV, XSD

__all__ = ["TIMES", "refuse_reruns", "stored_times"]

#: the predicates an execution states once: its start and its end
TIMES = frozenset({PROV.startedAtTime, PROV.endedAtTime})

#: rows of one query's ``VALUES`` (a remote store takes the query in one request)
_ROWS = 1_000
#: two times closer than this are one (seconds)
_SAME_S = 0.001


def stored_times(store: Store, quads: Iterable[Quad], *, lacks: Callable[[NamedNode], bool] | None = None) -> list[Quad]:
    """The start and end times ``store`` holds for the executions whose start or end ``quads``
    state, where they are other times than the batch's (in the default graph): nothing for a
    batch that is new to the store or stated before as it is. ``lacks``: true for a node the
    store holds no time of (the one writer's filters, :meth:`provml.ingest.plan_reads.Reads.lacks_times`):
    not read (most executions of a batch are new; a read that finds nothing looks into every
    file of the store's index that may hold the node)."""
    stated: dict[tuple[NamedNode, NamedNode], list[Literal]] = {}
    for q in quads:
        if q.predicate in TIMES and isinstance(q.subject, NamedNode) and isinstance(q.object, Literal):
            stated.setdefault((q.subject, q.predicate), []).append(q.object)
    if not stated:
        return []
    keys = sorted(stated, key=lambda k: (k[0].value, k[1].value))
    out: list[Quad] = []
    raw = getattr(store, "raw", None)
    if raw is not None and hasattr(raw, "quads_for_pattern"):
        # an embedded store: one pattern read a node, any graph (as the query's union default
        # graph: a quad of the default graph and one of each named graph, a row each), its
        # quads of each key's predicate in the keys' order (the keys of a node are together);
        # no query to write, parse and plan, no rows to build. Most nodes are new: one empty read
        node: NamedNode | None = None
        held: list[Quad] = []
        for s, p in keys:
            if s != node:
                node, held = s, [] if lacks is not None and lacks(s) else list(raw.quads_for_pattern(s, None, None, None))
            if not held:
                continue
            mine = stated[(s, p)]
            for q in held:
                if q.predicate == p and isinstance(o := q.object, Literal) \
                        and not any(same_time(o, t) for t in mine):
                    out.append(Quad(s, p, o, DefaultGraph()))
        return out
    for start in range(0, len(keys), _ROWS):
        rows = " ".join(f"({s} {p})" for s, p in keys[start:start + _ROWS])
        for row in select(store, f"SELECT ?s ?p ?o WHERE {{ VALUES (?s ?p) {{ {rows} }} ?s ?p ?o }}"):
            s, p, o = row["s"], row["p"], row["o"]
            if isinstance(s, NamedNode) and isinstance(p, NamedNode) and isinstance(o, Literal) \
                    and not any(same_time(o, mine) for mine in stated[(s, p)]):
                out.append(Quad(s, p, o, DefaultGraph()))
    return out


def refuse_reruns(store: Store, quads: Sequence[Quad], *, lacks: Callable[[NamedNode], bool] | None = None) -> None:
    """Raise when ``quads`` (the time statements of a group of validated batches) begin or end an
    execution at two times, or at another time than ``store`` holds for it (``lacks``: see
    :func:`stored_times`).

    :raises ValueError: naming the execution, the times and what to do.
    """
    seen: dict[tuple[NamedNode, NamedNode], Literal] = {}
    for q in quads:
        if q.predicate in TIMES and isinstance(q.subject, NamedNode) and isinstance(q.object, Literal):
            first = seen.setdefault((q.subject, q.predicate), q.object)
            if not same_time(first, q.object):
                raise ValueError(_message(q.subject, q.predicate, first, q.object))
    other = stored_times(store, quads, lacks=lacks)
    if other:
        # the first execution by IRI (a run's before its tasks'), a start before an end
        q = min(other, key=lambda q: (getattr(q.subject, "value", ""), q.predicate != PROV.startedAtTime))
        assert isinstance(q.subject, NamedNode) and isinstance(q.object, Literal)
        raise ValueError(_message(q.subject, q.predicate, q.object, seen[(q.subject, q.predicate)]))


def same_time(a: Literal, b: Literal) -> bool:
    """Whether two time literals are one time: the same instant to the millisecond when both are
    ``xsd:dateTime`` with a timezone (``T24:00:00`` the next day's start), else the same literal.

    >>> same_time(Literal("2026-01-01T00:00:00.000100+00:00", datatype=XSD.dateTime),
    ...           Literal("2026-01-01T00:00:00Z", datatype=XSD.dateTime))
    True
    """
    x, y = _instant(a), _instant(b)
    if x is None or y is None:
        return a == b
    return abs((x - y).total_seconds()) < _SAME_S


def _instant(term: Literal) -> datetime | None:
    if term.datatype != XSD.dateTime:
        return None
    text = term.value
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        # XSD's end of a day, ``T24:00:00``, is the next day's start (the store gives it back
        # so): Python reads no hour 24, and the literals' texts differ (an export edited by
        # hand or written by another tool, loaded again, was refused: an audit, 31st session)
        end = _END_OF_DAY.search(text)
        if end is None:
            return None
        try:
            t = datetime.fromisoformat(f"{text[:end.start()]}T00:00:00{text[end.end():]}") + timedelta(days=1)
        except (ValueError, OverflowError):  # (the end of 9999-12-31: past Python's dates)
            return None
    return t if t.tzinfo is not None else None


_END_OF_DAY = re.compile(r"T24:00:00(?:\.0+)?(?=Z|[+-]|$)")


def _message(node: NamedNode, predicate: NamedNode, held: Literal, new: Literal) -> str:
    what = "started" if predicate == PROV.startedAtTime else "ended"
    return (f"the execution {node.value} {what} at {held.value} already, and this batch says it {what} at "
            f"{new.value}: a run id used twice (two runs under one IRI)? Give each run its own run id "
            f"(run_id=), or leave it to the capture client")
