"""Group commit: batches that wait for the store together are written together.

The endpoint ingested each ``POST /api/events`` on its request's thread, one batch at a time
under the store's write lock (until the twenty-fourth session). With many capture clients
posting at once (eight training runs, bags of 50 events), every batch paid the per-batch costs
alone — the store's reads for shortcut
links, context types and summaries, the validation engine's call, the write — while the others
waited for the lock. Here a thread that gets the lock takes every batch waiting at that moment,
its own and the others' (up to :data:`COMMIT_EVENTS` events and ``max_weight`` values), through
the pipeline as **one** batch and one write, as ``provml load`` groups a spool's bags
(:mod:`provml.ingest.loader`); each waiting thread then answers its own request, as soon as
the write that held its batch ended (it waits for its batch, not for the store).

Each batch keeps its own verdict. When the group fails (a batch breaks the shapes, or anything
else goes wrong) its batches are ingested one by one, each stored or rejected exactly as alone,
with its own error (the endpoint checks each batch's event format before it waits, so a batch
the format refuses never joins a group). A batch holding a ``spec`` event starts a group (it
gives roles to its own batch and later ones, never to batches before it, as in the loader).
Each batch waits at most its caller's time limit for its turn: one whose limit passes before a
group takes it is withdrawn, never stored, and its caller gets :class:`Expired` (or, waiting for
the store itself, what ``hold`` raised): the endpoint's 503. A batch taken into a group is
answered with its outcome.

Measured with eight clients over a real socket (``benchmarks/events_concurrent.py``,
docs/benchmarks.md, twenty-fourth session).

>>> from contextlib import nullcontext
>>> from provml.knowledge import open_kg
>>> commits = Committer(open_kg())
>>> result = commits.ingest([{"v": 1, "kind": "workflow_begin", "t": 0, "run": "r1",
...                           "workflow": "wf"}], hold=lambda seconds: nullcontext())
>>> result.events, result.batches
(1, 1)
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from provml.knowledge import IngestResult, KnowledgeGraph

__all__ = ["COMMIT_EVENTS", "Committed", "Committer", "Expired"]

#: the most events one write takes from the batches waiting (a single batch may hold more: it
#: is taken alone); beyond a few thousand a group gains little (a bag's per-batch costs are
#: then a small part of it) and the first batches taken wait longer for their answer
COMMIT_EVENTS = 5_000


@dataclass(frozen=True)
class Committed(IngestResult):
    """An :class:`~provml.knowledge.IngestResult` for one caller's batch: ``events`` its own;
    ``triples`` and ``graphs`` those of the write that stored it, which held ``batches``
    callers' batches (1: its batch alone)."""

    batches: int = 1


class Expired(TimeoutError):
    """A batch waited its whole time limit for a turn at the store (writes before it held it):
    withdrawn, never stored; the endpoint answers 503 with ``Retry-After``."""


@dataclass(eq=False)
class _Waiting:
    events: Sequence[Mapping[str, Any]]
    weight: int
    spec: bool
    deadline: float | None  # (monotonic) when its caller stops waiting, unless taken by then
    checked: bool  # its events passed ``check`` already
    taken: bool = False  # by the leader, for a group
    lead: bool = False  # its thread leads (or is to)
    outcome: Committed | BaseException | None = None
    woken: threading.Event = field(default_factory=threading.Event)  # done, or to lead


class Committer:
    """Group commit of the batches that threads ingest into ``kg`` at once (see the module's
    text). ``max_events``: the most events a group takes (:data:`COMMIT_EVENTS`);
    ``max_weight``: the most of the callers' ``weight`` a group takes (the endpoint gives each
    batch its count of values, bounded by request by ``MAX_VALUES``; ``None``: no bound).

    One thread at a time leads: it holds the store and writes one group, the oldest batches,
    its own first; then the oldest thread still waiting leads. The others wait for their
    batch's outcome, not for the store: a batch written in another thread's group is answered
    as soon as that write ends. Each batch waits at most its caller's ``limit_s`` for its turn
    (as a follower, then for the store), then is withdrawn (:class:`Expired`, or what ``hold``
    raised), never stored; once taken into a group it is answered with its outcome."""

    def __init__(self, kg: KnowledgeGraph, *, max_events: int = COMMIT_EVENTS,
                 max_weight: int | None = None) -> None:
        self.kg = kg
        self.max_events = max_events
        self.max_weight = max_weight
        self._queue: deque[_Waiting] = deque()
        self._leader: _Waiting | None = None  # the batch whose thread leads (or was told to)
        self._lock = threading.Lock()  # guards the queue, the leader and each batch's flags

    @property
    def waiting(self) -> int:
        """How many batches wait for a thread to take them."""
        return len(self._queue)

    def ingest(self, events: Sequence[Mapping[str, Any]], *,
               hold: Callable[[float | None], AbstractContextManager[Any]],
               limit_s: float | None = None, weight: int = 0, checked: bool = False) -> Committed:
        """Ingest ``events`` as :meth:`KnowledgeGraph.ingest_events` does, together with the
        batches other threads wait to ingest. ``hold(seconds)``: the store's write lock, held
        while a group goes through the pipeline, waiting at most ``seconds`` (``None``: its own
        limit) and raising past them. ``limit_s``: the most this batch waits for its turn.
        ``checked``: the events passed :func:`provml.events.check` already.

        :raises Expired: the batch waited ``limit_s`` as others were written (not stored).
        :raises provml.errors.EventError: the batch breaks the wire format (nothing of it written).
        :raises provml.errors.ValidationFailed: the batch breaks the shapes (nothing of it written).
        """
        spec = any(isinstance(e, Mapping) and e.get("kind") == "spec" for e in events)
        mine = _Waiting(events, weight, spec, None if limit_s is None else time.monotonic() + limit_s, checked)
        with self._lock:
            self._queue.append(mine)
            if self._leader is None:
                self._leader, mine.lead = mine, True
        try:
            while not mine.lead:
                left = None if mine.deadline is None else max(0.0, mine.deadline - time.monotonic())
                woken = mine.woken.wait(left)
                with self._lock:
                    # cleared before the flags are read: an outcome set (without this lock) from
                    # here on sets the event again (cleared last, it erased such a wake-up, and
                    # the caller waited for good: a review)
                    mine.woken.clear()
                    if mine.outcome is not None:
                        break
                    if not woken and not mine.taken and not mine.lead:
                        self._queue.remove(mine)
                        raise Expired("the store was held by other writes for this batch's whole "
                                      "time limit; it was not stored: send it again")
                    if mine.taken:
                        mine.deadline = None  # in a group being written: its outcome comes
            if mine.lead:
                self._lead(mine, hold)
        except BaseException:  # (an interrupted wait: the batch withdrawn, the lead passed on)
            with self._lock:
                if not mine.taken and mine in self._queue:
                    self._queue.remove(mine)
                if self._leader is mine:
                    self._hand_off()
            raise
        if isinstance(mine.outcome, BaseException):
            raise mine.outcome
        assert mine.outcome is not None
        return mine.outcome

    def _lead(self, mine: _Waiting, hold: Callable[[float | None], AbstractContextManager[Any]]) -> None:
        """Hold the store and write the group that ``mine`` starts (the oldest batch waiting),
        then hand the lead to the oldest batch still waiting. A ``hold`` that raises withdraws
        ``mine`` alone: the next batch waits for the store with its own time left."""
        left = None if mine.deadline is None else max(0.0, mine.deadline - time.monotonic())
        try:
            with hold(left):
                while not mine.taken:  # (``mine`` is first in the queue: one group)
                    self._commit(self._take())
        except BaseException as exc:  # the store not had in time (or an interrupt)
            with self._lock:
                if not mine.taken:
                    self._queue.remove(mine)
                    mine.outcome = exc
        finally:
            with self._lock:
                self._hand_off()

    def _hand_off(self) -> None:
        """(Under the lock.) The lead to the oldest batch waiting, if any."""
        self._leader = self._queue[0] if self._queue else None
        if self._leader is not None:
            self._leader.lead = True
            self._leader.woken.set()

    def _take(self) -> list[_Waiting]:
        """The oldest batches waiting, as many as a group takes (at least one)."""
        with self._lock:
            group = [self._queue.popleft()]
            events, weight = len(group[0].events), group[0].weight
            while self._queue:
                following = self._queue[0]
                events += len(following.events)
                weight += following.weight
                if following.spec or events > self.max_events or (
                        self.max_weight is not None and weight > self.max_weight):
                    break
                group.append(self._queue.popleft())
            for waiting in group:
                waiting.taken = True
            return group

    def _commit(self, group: list[_Waiting]) -> None:
        """Every batch of ``group`` stored or rejected, its outcome set, its caller woken."""
        try:
            if len(group) > 1 and self._together(group):
                return
            for waiting in group:  # alone, or after a group that failed
                try:
                    result = self.kg.ingest_events(waiting.events, checked=waiting.checked)
                except Exception as exc:  # noqa: BLE001 - the batch's own verdict, for its caller
                    waiting.outcome = exc
                else:
                    waiting.outcome = Committed(result.events, result.triples, result.graphs)
                waiting.woken.set()
        except BaseException as exc:  # (an interrupt: every caller left waiting learns of it)
            for waiting in group:
                if waiting.outcome is None:
                    waiting.outcome = exc if waiting is group[0] else _copy(exc)
                    waiting.woken.set()
            raise

    def _together(self, group: list[_Waiting]) -> bool:
        """``group`` ingested as one batch; False when that failed (the specs of a refused batch
        are taken back by ``ingest_events``) and its batches are to be taken one by one (a
        store that failed in the middle of the write may hold part of it: written again,
        deterministic IRIs, nothing twice)."""
        events = [e for waiting in group for e in waiting.events]
        try:
            result = self.kg.ingest_events(events, checked=all(waiting.checked for waiting in group))
        except Exception:  # noqa: BLE001 - each batch then gets what it gets alone
            return False
        for waiting in group:
            waiting.outcome = Committed(len(waiting.events), result.triples, result.graphs, len(group))
            waiting.woken.set()
        return True


def _copy(exc: BaseException) -> BaseException:
    try:
        return copy.copy(exc)
    except Exception:  # noqa: BLE001 - an exception that does not copy: the same one
        return exc
