"""The background flusher: one daemon thread that turns the capture queue into bags.

Why it is long: queue, spill file, pending file, the late path (events after close or a dead thread), retries and the bisection of a rejected bag
share one thread's state, which a forked child resets in place (:meth:`Flusher.forked`); split
apart, the pieces would hand that state back and forth.

The caller's thread only appends to a ``collections.deque``: event dicts through :meth:`Flusher.put`,
and compact cycle records straight with the deque's ``append``, checking :class:`_Gate` at a
cycle's end; everything else happens here: JSON encoding, the diskful spool, delivery to the sink, retries
with exponential backoff while the sink is down (bags wait in a ``pending-*.jsonl`` file and are
replayed when it is back), bisecting a rejected bag down to the events the sink refuses (written
to ``rejected-*.jsonl`` with the report and logged as an error). When the queue holds
``max_queue`` records (an event, or a batch's begin and end) the caller's thread writes
further events to the spill file
(``spill-*.jsonl``), which this thread takes back in order, instead of blocking or dropping them
(bounded memory). Nothing captured is dropped silently:

* a sink error that resending cannot cure (a malformed event or spec, a missing dependency,
  a bug: anything but :class:`SinkUnavailable` and ``OSError``) rejects the events concerned
  with the reason, and later bags flow on;
* an unexpected error on the thread (a full disk, a corrupt pending line) is logged, the events
  concerned are kept (in memory until the disk takes them; corrupt lines in ``rejected-*``) and
  the thread goes on; ``flush()`` answers False while events are held in memory only;
* should the thread die all the same, ``flush()`` says so loudly and writes the queue to the
  pending file on the caller's thread, as it does with events captured after ``close()``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import operator
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provml.capture.encoding import (
    as_event,
    encode,
    encode_bag,
    encode_items,
    reject_line,
    split_items,
)
from provml.capture.redact import redact_text
from provml.capture.sinks import BagRejected, BagTooLarge, Sink, SinkUnavailable
from provml.capture.spool import SpoolWriter, read_events
from provml.errors import MissingExtra

__all__ = ["Flusher", "FlushStats"]

log = logging.getLogger("provml.capture.scopes")

#: a spool-only (offline) client with bags larger than 1 writes when this many queued records
#: wait (a record is an event, or a batch's begin and end: up to twice as many events)
SPOOL_WAKE_RECORDS = 1000
#: an endpoint gets the full bags found waiting in one request, up to this many records
#: (a batch's begin and end are one record: up to twice as many events); an endpoint that
#: stores more slowly than the loop captures gets larger requests, which it stores for less
#: per event (its store's compactions are paid per write)
COALESCE_RECORDS = 8000
#: a client with a sink and bags larger than 1 wakes at most this often (seconds) for full
#: bags; bags that fill meanwhile go in the same request. Each wake-up and request takes the
#: GIL from the training thread several times; under load each hand-off can stall it for
#: milliseconds
LINGER_S = 0.25
#: the same for an endpoint (a sink that takes the compact form): fewer, larger requests cost
#: the server less per event (its per-request reads and writes, and its store's compactions:
#: ≈ 290 µs of server CPU an event with requests of ≈ 1,900 events, ≈ 230 with ≈ 4,300, on a
#: fresh store; docs/benchmarks.md) and the flusher fewer wake-ups
ENDPOINT_LINGER_S = 1.0
#: the longest ``flush_interval_s`` (a day): an infinite one made the thread's every wait raise
#: (past ``threading.TIMEOUT_MAX``), nothing was written and ``close()`` waited 70 s (a probe,
#: twenty-seventh session)
MAX_INTERVAL_S = 86_400
_BACKOFF_FIRST_S = 0.25
_BACKOFF_MAX_S = 30.0


@dataclass(frozen=True)
class FlushStats:
    """Counters of a client's flusher (events)."""

    processed: int
    spooled: int
    sent: int
    pending: int
    rejected: int
    spilled: int
    #: events held in memory because the disk refused them (a full disk); retried
    held: int = 0
    #: events captured after ``close()`` (written to the pending file on the caller's thread)
    late: int = 0
    #: unexpected errors the flusher thread survived
    errors: int = 0
    #: events that could be written nowhere (the disk refused the pending or rejected file
    #: too, at close or after it): logged as LOST; ``close()`` returns False
    lost: int = 0
    #: CPU time the flusher thread has used (seconds): encoding, spool writes, sending
    thread_cpu_s: float = 0.0


class _Wake:
    """The flusher's wake-up signal, on a bare lock rather than a ``threading.Event`` (whose
    Python-level condition costs microseconds on both threads): locked means "not set",
    :meth:`set` releases it (one C call), :meth:`wait` acquires it again — waits and clears."""

    __slots__ = ("_lock", "locked")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.locked = self._lock.locked

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # already set (another thread was first)
            self._lock.release()

    def is_set(self) -> bool:
        return not self._lock.locked()

    def wait(self, timeout: float) -> bool:
        """Wait until set or ``timeout``; True if it was set."""
        return self._lock.acquire(timeout=timeout)


def _to_null(file: Any) -> None:
    """``file``'s descriptor, in a forked child, made ``/dev/null``: whatever its buffer holds
    when the child frees it goes nowhere (the parent's file is the parent's)."""
    if file is None or file.closed:
        return
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, file.fileno())
        finally:
            os.close(null)


class _Gate:
    """What a cycle checks after its end (see ``Flusher.gate``)."""

    __slots__ = ("at", "check")

    def __init__(self) -> None:
        self.at = 0
        self.check: Callable[[], None] = _nothing


def _nothing() -> None:
    pass


class _Marker:
    """A ``flush()`` waiting until ``target`` events have been taken from the queue."""

    __slots__ = ("done", "ok", "target")

    def __init__(self, target: int) -> None:
        self.done = threading.Event()
        self.ok = True
        self.target = target


_TRANSIENT_NAMES = frozenset({"ConnectionError", "TimeoutError", "BusyLoadingError"})


def _permanent(exc: BaseException) -> bool:
    """Whether a sink error is one that resending cannot cure: not "down" (SinkUnavailable),
    not I/O (OSError), not a client library's own ConnectionError / TimeoutError (redis-py's
    are not OSErrors)."""
    if isinstance(exc, OSError | MemoryError | SinkUnavailable):
        return False
    return not any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


class Flusher:
    """Queue + background thread delivering bags of events.

    :param sink: where events go, or ``None`` for spool-only (offline) capture.
    :param spool_dir: directory of the spool, pending and rejected files.
    :param diskful: append every event to ``<spool_dir>/<name>.jsonl`` before sending.
    :param bag_size: queued records per bag (the paper's queue size: 1 or 50); a record is
        an event, or a batch's begin and end (two events).
    :param max_queue: records held in memory before further ones spill to disk.
    :param flush_interval_s: a partial bag waits at most this long.
    :param name: file-name stem, unique per client.
    :param enrich: called on this thread with each ``workflow_begin`` event before it is
        written (the client adds the git commit there, off the caller's thread).
    """

    def __init__(
        self,
        *,
        sink: Sink | None,
        spool_dir: Path,
        diskful: bool,
        bag_size: int,
        max_queue: int,
        flush_interval_s: float,
        name: str,
        enrich: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        for option, given in (("bag_size", bag_size), ("max_queue", max_queue)):
            try:  # ("50" failed later: '<' not supported; numpy's integers are integers)
                operator.index(given)
            except TypeError:
                raise TypeError(f"{option} must be an integer, not {given!r}") from None
            if isinstance(given, bool):
                raise TypeError(f"{option} must be an integer, not {given!r}")
        if not hasattr(flush_interval_s, "__float__"):  # (a number: int, float, numpy's, Decimal)
            raise TypeError(f"flush_interval_s must be a number of seconds, not {flush_interval_s!r}")
        if bag_size < 1 or max_queue < 1:
            raise ValueError("bag_size and max_queue must be at least 1")
        if not 0 < flush_interval_s <= MAX_INTERVAL_S:  # (inf: the thread failed every round, nothing written)
            raise ValueError(f"flush_interval_s must be a number of seconds above 0 and at most "
                             f"{MAX_INTERVAL_S:,}, not {flush_interval_s!r}")
        self._enrich = enrich
        self.spool_dir = spool_dir
        self._bag_size = bag_size
        self._interval = flush_interval_s
        self._coalesce = COALESCE_RECORDS
        self._queue: deque[Any] = deque()
        self._wake = _Wake()
        self._routes(sink, diskful, name)
        self._fresh()
        #: a cycle's records go straight onto ``queue`` (``deque.append``: no Python call per
        #: batch); after its end a cycle calls ``gate.check()`` once the queue holds
        #: ``gate.at`` items — the wake-up threshold, the bound (the begins past it are spilled)
        #: and, once the thread is gone, the late path (``at`` is then 0). The queue exceeds
        #: ``max_queue`` by at most the cycles open.
        self.queue = self._queue
        self.gate = _Gate()
        self.put, self._set_limit = self._make_put(max_queue)
        self._thread = threading.Thread(target=self._run, name=f"provml-flusher-{name}", daemon=True)
        self._thread.start()

    def _routes(self, sink: Sink | None, diskful: bool, name: str) -> None:
        """Where events go — the sink, the files named after ``name`` — and what follows from it."""
        self.sink = sink
        self.spool_path = self.spool_dir / f"{name}.jsonl" if diskful else None
        self.pending_path = self.spool_dir / f"pending-{name}.jsonl"
        self.rejected_path = self.spool_dir / f"rejected-{name}.jsonl"
        # a sink gets bags of bag_size records; a spool alone is written every
        # SPOOL_WAKE_RECORDS records (or flush_interval_s), in one write: waking per 50 events
        # cost ~2 µs an event more
        self._wake_every = self._bag_size if sink is not None or self._bag_size == 1 else \
            max(self._bag_size, SPOOL_WAKE_RECORDS)
        # bags in the compact form (one orjson call each): spool-only, or a sink that takes it
        self._compact = sink is None or hasattr(sink, "send_compact")
        linger = ENDPOINT_LINGER_S if self._compact else LINGER_S
        self._linger = min(linger, self._interval) if sink is not None and self._bag_size > 1 else 0.0

    def _fresh(self) -> None:
        """The thread's state as it starts: no files open, nothing taken, held or counted."""
        self._last_wake = 0.0
        self._spill_lock = threading.Lock()
        self._spill_file: Any = None
        self._spool: SpoolWriter | None = None
        self._pending: SpoolWriter | None = None
        self._down_until = 0.0
        self._backoff = _BACKOFF_FIRST_S
        self._stop = False
        self._give_up_at = float("inf")  # after close()'s timeout: the rest goes to pending
        self._counts = {"processed": 0, "spooled": 0, "sent": 0, "rejected": 0, "spilled": 0,
                        "late": 0, "errors": 0, "lost": 0}
        self._pending_count = 0
        # lines the disk refused (full disk, vanished directory): (which file, lines, events), retried
        self._held: list[tuple[str, list[Any], int]] = []
        self._disk_trouble = False
        self._late = False  # the thread is gone: events are written on the caller's thread
        self._late_lock = threading.Lock()
        self._inflight: list[dict[str, Any]] = []  # taken from the queue, not yet processed
        self._inflight_at = 0
        self._carry: list[Any] = []  # a partial bag waiting for more events or the interval
        self._taking_left = False  # a spill file is being (or was partly) taken back
        self._replay_left = False  # a pending replay stopped half-way
        self._pop_lock = threading.Lock()
        self._popped = 0
        self._waiters: list[_Marker] = []
        self._begins = False
        self._heads: dict[Any, bytes] = {}  # encoded fields of cycles begun, until they end
        self._cpu_at_end = 0.0
        self._fork_note: str | None = None  # a warning a forked child gives when it first writes

    def forked(self, name: str) -> list[Any]:
        """In a child that ``os.fork`` made (:func:`provml.capture.client.after_fork`): a flusher
        of its own, in place — the scopes hold this object's ``put``, ``queue`` and ``gate``.
        The parent's queued records are the parent's to deliver (dropped here); its sink's
        connection is left alone and its open files point at ``/dev/null`` in the child (a
        buffered spill line the fork copied was written again when the child's copy was freed:
        a review), locks are new (one another thread held at the fork stays held in the
        child), the files are named after ``name``, and a new thread starts unless the
        parent's had stopped (then events go to this child's pending file on the capturing
        thread). A sink that cannot follow a fork (the embedded store: RocksDB's threads do
        not survive it) leaves the child diskful only, with a warning once it writes: its
        spool file is for ``provml load``.

        :returns: what the child inherited and must keep referenced and never close.
        """
        inherited = [self.sink, self._spool, self._pending, self._spill_file]
        for file in (self._spill_file, *(w._file for w in (self._spool, self._pending) if w is not None)):
            _to_null(file)
        running = not self._late and not self._stop
        sink = self.sink.forked() if self.sink is not None and hasattr(self.sink, "forked") else None
        self._queue.clear()
        lock = self._wake._lock  # (reset as the stdlib resets its own: put's closures hold this lock)
        lock._at_fork_reinit()  # type: ignore[attr-defined]  # (Python 3.9 on; not in typeshed)
        lock.acquire()
        self._routes(sink, self.spool_path is not None or (self.sink is not None and sink is None), name)
        self._fresh()
        if self.sink is None and inherited[0] is not None:  # (said when it writes: a subprocess's
            # preexec_fn runs the fork hooks too, before its exec)
            self._fork_note = (f"provml: process {os.getpid()}, forked from one whose events go to "
                               f"{inherited[0].name}, cannot write there (RocksDB does not survive a fork); "
                               f"its events go to {self.spool_path}: load them with `provml load`")
        self._thread = threading.Thread(target=self._run, name=f"provml-flusher-{name}", daemon=True)
        self._set_threshold(self._wake_every)  # (a store client's child wakes as a spool does)
        if running:
            self._thread.start()
        else:  # (closed, or closing on another thread at the fork): the caller's thread writes
            self._late = True
            self._set_limit(0)
        return inherited

    # -- the caller's side -------------------------------------------------------------------

    def _make_put(self, max_queue: int) -> tuple[Any, Callable[[int], None]]:
        """``put``, the gate's ``check`` and the setter of the queue's bound. A setting with a
        sink wakes the thread every ``bag_size`` records; once a cycle's check has found a
        wake-up due, the gate stays shut (``at``: the bound) until the thread takes the queue
        again: a batch makes no Python call while a second's bags wait for the thread."""
        queue = self._queue
        append = queue.append
        wake = self._wake
        not_set = wake.locked
        wake_up = wake.set
        threshold = min(self._wake_every, max_queue)
        spill = self._spill
        limit = max_queue

        def put(event: Any) -> None:
            n = len(queue)
            if n >= limit:
                spill(event)
                return
            append(event)
            if n + 1 >= threshold and not_set():
                wake_up()

        def check() -> None:  # a cycle ended, and the queue holds gate.at items or more
            n = len(queue)
            if n > limit:
                spill(None)
            elif n >= threshold:
                # a wake-up is due (or pending): no more checks until the bound, or until the
                # thread takes the queue again (``_drain`` lowers ``at`` first); set before the
                # wake-up, so that the pass it wakes lowers it after this
                gate.at = limit
                if not_set():
                    wake_up()

        def set_limit(value: int) -> None:  # 0: every event takes the spill path (after close)
            nonlocal limit
            limit = self._limit = value
            gate.at = min(threshold, value)

        def rearm() -> None:  # the thread took the queue: checks from the wake-up threshold on
            gate.at = min(threshold, limit)

        def set_threshold(value: int) -> None:  # a forked child's route (:meth:`forked`)
            nonlocal threshold
            threshold = min(value, max_queue)
            rearm()

        gate = self.gate
        gate.check = check
        gate.at = threshold
        self._limit = limit
        self._rearm = rearm
        self._set_threshold = set_threshold
        return put, set_limit

    def _spill(self, event: Any) -> None:
        """``put`` past the queue's bound (``event``), or a cycle's ``check`` (``None``), or
        either after the thread is gone. Cycles put their records straight onto the queue: the
        items found past the bound are taken back from the queue's end and spilled first, in
        order, so the queue stays within ``max_queue``."""
        queue = self._queue
        events = []
        if self._late:  # the thread is gone: all of the queue, then this event
            with self._pop_lock:
                while True:
                    try:
                        events.append(queue.popleft())
                    except IndexError:
                        break
            if event is not None:
                events.append(event)
            if events:
                self._write_late(events)
            return
        with self._pop_lock:  # the flusher pops the count it read under this lock
            while len(queue) > self._limit:
                events.append(queue.pop())
            self._popped += len(events)  # taken, as flush() counts: on disk in the spill file
        events.reverse()
        if event is not None:
            events.append(event)
        for item in split_items(events):
            self._spill_one(item)
        if not self._wake.is_set():
            self._wake.set()

    def _spill_one(self, event: Any) -> None:
        try:
            line = encode(event)
        except (TypeError, ValueError):
            self._queue.append(event)  # the flusher rejects it with the encoder's message
            return
        with self._spill_lock:
            try:
                if self._spill_file is None:
                    self.spool_dir.mkdir(parents=True, exist_ok=True)
                    self._spill_file = open(self._spill_path(), "a", encoding="utf-8")  # noqa: SIM115
                self._spill_file.write(line + "\n")
                self._counts["spilled"] += 1
            except OSError:
                # the disk refuses: keep it in memory (over max_queue) rather than lose it
                if not self._disk_trouble:
                    self._disk_trouble = True
                    log.exception("provml: cannot spill to %s; holding events in memory",
                                  self._spill_path())
                self._queue.append(event)

    def _spill_path(self) -> Path:
        return self.spool_dir / f"{self.pending_path.stem.replace('pending-', 'spill-')}.jsonl"

    def flush(self, *, wait: bool = True, timeout_s: float | None = None) -> bool:
        """Send everything queued so far; with ``wait``, return once it is sent or on disk.

        :returns: False if ``timeout_s`` passed first, or if events are held in memory because
            the disk refuses them (they are retried; see the log).
        """
        if not self._thread.is_alive():
            return self._write_queue_here()
        with self._pop_lock:  # the events put so far: taken + still queued
            marker = _Marker(self._popped + len(self._queue))
            self._waiters.append(marker)
        self._wake.set()
        if not wait:
            return True
        if not marker.done.wait(timeout_s):
            if not self._thread.is_alive():  # died meanwhile
                return self._write_queue_here()
            return False
        return marker.ok

    def close(self, *, timeout_s: float | None = 30.0) -> bool:
        """Flush and stop the thread. Events the sink has not accepted within ``timeout_s`` are
        written to the pending file instead (kept on disk for ``provml load``; a later client does
        not replay it), so close never waits much longer than ``timeout_s``. Events captured
        afterwards are written to the pending file on the caller's thread, with a warning.

        :returns: False if the thread did not finish (a sink request still hanging) or events
            could not be written anywhere.
        """
        if self._thread.is_alive():
            if timeout_s is not None:
                self._give_up_at = time.monotonic() + timeout_s
            self._stop = True
            self._wake.set()
            self._thread.join(None if timeout_s is None else timeout_s + 60.0)
            if self._thread.is_alive():
                return False
        return self._write_queue_here() and not self._counts["lost"]

    def hurry(self, timeout_s: float) -> None:
        """A close under way gives up on the sink ``timeout_s`` from now at the latest (what
        it has not delivered by then goes to the pending file)."""
        self._give_up_at = min(self._give_up_at, time.monotonic() + timeout_s)

    def stats(self) -> FlushStats:
        """Counters so far."""
        c = self._counts
        return FlushStats(
            processed=c["processed"],
            spooled=c["spooled"],
            sent=c["sent"],
            pending=self._pending_count,
            rejected=c["rejected"],
            spilled=c["spilled"],
            held=sum(count for _, _, count in self._held),
            late=c["late"],
            errors=c["errors"],
            lost=c["lost"],
            thread_cpu_s=self._thread_cpu(),
        )

    def _thread_cpu(self) -> float:
        ident = self._thread.ident
        if self._thread.is_alive() and ident is not None and hasattr(time, "pthread_getcpuclockid"):
            try:
                return time.clock_gettime(time.pthread_getcpuclockid(ident))
            except OSError:  # the thread ended meanwhile
                pass
        return self._cpu_at_end

    # -- without the thread (after close, or should it have died) ----------------------------

    def _write_queue_here(self) -> bool:
        """The thread is gone: from now on events are written to the pending file on the
        caller's thread; write what is queued and what is held there now."""
        was_late = self._late  # then what is queued came since (a cycle's begin): late too
        if not self._late:
            self._late = True
            self._set_limit(0)
            if not self._stop:
                log.error("provml: the %s thread has stopped; events now go to %s on the "
                          "capturing thread", self._thread.name, self.pending_path)
        with self._pop_lock:
            events = self._inflight[self._inflight_at:] or self._carry  # taken, not processed
            self._inflight, self._carry = [], []
            while True:
                try:
                    events.append(self._queue.popleft())
                except IndexError:
                    break
            markers, self._waiters = self._waiters, []
        ok = True
        if events:
            ok = self._write_late(events, count_late=was_late)
        held, self._held = self._held, []
        for _target, lines, count in held:
            ok = self._append_late(lines, count) and ok
        for marker in markers:
            marker.ok = ok
            marker.done.set()
        return ok

    def _write_late(self, events: list[Any], *, count_late: bool = True) -> bool:
        lines = []
        events = split_items(events)
        for item in events:
            event = as_event(item)
            try:
                lines.append(encode(event))
            except Exception as exc:  # noqa: BLE001 - that event only, kept with the reason
                self._reject([reject_line(event)], {"error": str(exc)})
        if count_late:
            if not self._counts["late"]:
                log.warning("provml: events captured after close() (or after the flusher "
                            "stopped) are written to %s", self.pending_path)
            self._counts["late"] += len(events)
        return self._append_late(lines)

    def _append_late(self, lines: list[Any], count: int | None = None) -> bool:
        if not lines:
            return True
        with self._late_lock:
            try:
                with SpoolWriter(self.pending_path) as writer:
                    writer.append(lines)
            except OSError:
                lost = len(lines) if count is None else count  # (a compact line holds a bag)
                self._counts["lost"] += lost
                log.exception("provml: %d event(s) could not be written to %s and are LOST",
                              lost, self.pending_path)
                return False
            self._pending_count += len(lines) if count is None else count
        return True

    # -- the flusher thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                try:
                    if self._round():
                        break
                except Exception:  # keep going, with the events the round had taken
                    self._counts["errors"] += 1
                    log.exception("provml: the flusher thread hit an error; it goes on, with "
                                  "the events it had taken one at a time")
                    self._salvage()
                    time.sleep(min(0.05 * self._counts["errors"], 1.0))
        finally:
            try:
                self._finish()
            except Exception:
                log.exception("provml: the flusher thread could not close its files")
            self._cpu_at_end = time.thread_time()

    def _salvage(self) -> None:
        """After an error in a round: the events it had taken and not handed on, processed again
        in halves, and halves of a half that fails, down to single events, so that only an
        event that fails alone is lost to the sink, and that one is kept in the rejected file
        with the error (before, the round's events were dropped without a word and ``flush()``
        said all was well: an audit, twenty-first session; one at a time, a round of 8,000 took
        8,000 requests of an endpoint: a review). A half that failed after part of it was
        written is written again: duplicates, which store nothing twice (deterministic IRIs)."""
        with self._pop_lock:
            items = self._inflight[self._inflight_at:]
            self._inflight = []
        self._salvage_part(items, failed=len(items) > 1)  # (the round failed on them all)

    def _salvage_part(self, items: list[Any], *, failed: bool = False) -> None:
        if not items:
            return
        if not failed:  # (``failed`` is given for more than one item only: halved below)
            try:
                self._process(items)
                return
            except Exception as exc:  # noqa: BLE001 - halves, down to the event that fails alone
                error = exc
        if len(items) > 1:
            half = len(items) // 2
            self._salvage_part(items[:half])
            self._salvage_part(items[half:])
            return
        try:
            lines = [reject_line(as_event(event)) for event in split_items(items)]
        except Exception:  # noqa: BLE001 - not even an event: its text
            lines = [reject_line(items[0])]
        self._reject(lines, {"error": f"{type(error).__name__}: {error}"})

    def _round(self) -> bool:
        """One wake-up; True when the thread should stop."""
        signalled = self._wake.wait(self._interval)
        if signalled and self._linger and not (self._stop or self._waiters):
            wait = self._last_wake + self._linger - time.monotonic()
            if wait > 0:  # woke for a full bag too soon after the last: let more bags fill
                time.sleep(wait)
        self._last_wake = time.monotonic()
        # a full bag woke us: send full bags, keep the rest for the next one; the interval
        # passed, a flush() waits or close() was called: send everything
        self._drain(everything=not signalled or self._stop or bool(self._waiters))
        if self._stop and not self._queue and not self._carry:
            if time.monotonic() < self._give_up_at:
                self._retry_pending(force=True)
            self._retry_held()
            return True
        if self._pending is not None or self._replay_left:
            self._retry_pending(force=False)
        return False

    def _drain(self, *, everything: bool = True) -> None:
        queue = self._queue
        popleft = queue.popleft
        size = self._bag_size
        lock = self._pop_lock
        while True:
            # the gate opens before the queue is taken: a cycle that shuts it afterwards has
            # woken the thread for a next pass, so nothing waits past a full bag unwoken
            self._rearm()
            with lock:  # one lock per round, none per event: put() never takes it
                n = len(queue)
                items = self._carry + [popleft() for _ in range(n)] if self._carry else \
                    [popleft() for _ in range(n)]
                self._carry = []
                self._inflight, self._inflight_at = items, 0
                self._popped += n
            end = len(items)
            if not everything:
                end -= end % size
            if self.sink is None and end:  # bags matter to a sink only: one write for all
                self._process(items[:end])
            else:  # an endpoint takes the full bags found waiting in one request
                step = max(size, self._coalesce) if self._compact else size
                for start in range(0, end, step):
                    self._inflight_at = start
                    self._process(items[start : min(start + step, end)])
            with lock:
                self._carry = items[end:]
                self._inflight = []
            if self._spill_file is not None or self._taking_left:
                self._take_spill()
            if self._waiters:
                self._wake_waiters()
            if not n or (self._linger and not everything):
                # a sink that lingers takes one pass a wake-up: the bags that fill while a
                # request is under way wait for the next (at least ``_linger`` after this one),
                # so a slow endpoint gets a second's bags a request, not the few that came
                # in during its last answer (≈ 1,300 events a request instead of ≈ 4,000,
                # which it stores for more CPU an event)
                return

    def _wake_waiters(self) -> None:
        """Answer the ``flush()`` calls whose events are all processed (on disk or sent)."""
        with self._pop_lock:
            done = self._popped - len(self._carry)
            ready = [m for m in self._waiters if m.target <= done]
            self._waiters = [m for m in self._waiters if m.target > done]
        if ready:
            self._retry_held()
            self._sync()
            for marker in ready:
                marker.ok = not self._held
                marker.done.set()

    def _take_spill(self) -> None:
        with self._spill_lock:
            taking = self._spill_path().with_name(self._spill_path().stem + ".taking.jsonl")
            self._taking_left = True  # until it is read back and removed
            if self._spill_file is not None:
                self._spill_file.close()
                self._spill_file = None
                if taking.exists():  # left over by an earlier failure: take both
                    with open(taking, "a", encoding="utf-8") as out, \
                            open(self._spill_path(), encoding="utf-8") as src:
                        out.write(src.read())
                    self._spill_path().unlink()
                else:
                    os.replace(self._spill_path(), taking)
            elif not taking.exists():
                self._taking_left = False
                return
        size = self._bag_size
        bag: list[dict[str, Any]] = []
        for event in read_events(taking, on_error=self._corrupt_line(taking),
                                 on_truncated=self._truncated_line(taking)):
            bag.append(event)
            if len(bag) >= size:
                self._process(bag)
                bag = []
        if bag:
            self._process(bag)
        taking.unlink()
        self._taking_left = False

    def _corrupt_line(self, path: Path) -> Callable[[int, str, str], None]:
        def keep(number: int, line: str, problem: str) -> None:
            self._reject_text(line, {"error": "corrupt line", "file": str(path), "line": number,
                                     "message": problem})

        return keep

    def _truncated_line(self, path: Path) -> Callable[[int, str], None]:
        """A truncated last line of a pending or spill file (a crash in the middle of a write),
        kept in the rejected file with its text (it was skipped with a warning)."""
        keep = self._corrupt_line(path)
        return lambda number, line: keep(number, line, "a truncated last line")

    def _process(self, bag: list[dict[str, Any]]) -> None:
        if self._fork_note is not None:
            log.warning("%s", self._fork_note)
            self._fork_note = None
        if self._enrich is not None and self._begins:
            self._begins = False
            for event in bag:
                if event.__class__ is dict and event.get("kind") == "workflow_begin":
                    try:
                        self._enrich(event)
                    except Exception:
                        log.exception("provml: could not add metadata to a workflow_begin event")
        compact = encode_items(bag) if self._compact else None  # one call for the bag
        lines: list[Any] | None = None
        if compact is None:  # event by event: a sink that wants lines, or a NaN to reject
            lines, blob = encode_bag(bag, self._unencodable, self._heads)
            self._counts["processed"] += len(split_items(bag))
            if len(self._heads) > 10_000:  # cycles begun and never ended (errored): forget them
                self._heads.clear()
            count = len(lines)
            if not count:
                return
        else:
            blob, count = compact  # count: events (a one-record cycle is two)
            self._counts["processed"] += count
        written = [blob] if lines is None else lines
        if self.spool_path is not None and self._append("spool", written, count, blob):
            self._counts["spooled"] += count
        if self.sink is not None:
            now = time.monotonic()
            if now < self._down_until or now > self._give_up_at:
                self._to_pending(written, count)
            elif lines is None:
                self._deliver_compact(bag, blob, count)
            else:
                self._deliver([line.decode() for line in lines])

    def _unencodable(self, event: dict[str, Any], reason: str) -> None:
        self._reject([reject_line(event)], {"error": reason})

    def begins(self) -> None:
        """A ``workflow_begin`` event is about to be put (the flusher enriches it)."""
        self._begins = True

    def _append(self, target: str, lines: list[Any], count: int, blob: bytes | None = None) -> bool:
        """Append to the spool or the pending file (``lines``: events or compact bags, ``count``
        events in all; ``blob``: the lines already joined); on OSError hold them in memory."""
        try:
            if target == "spool":
                if self._spool is None:
                    assert self.spool_path is not None
                    self._spool = SpoolWriter(self.spool_path)
                self._spool.append(lines, joined=blob)
            else:
                if self._pending is None:
                    self._pending = SpoolWriter(self.pending_path)
                self._pending.append(lines, joined=blob)
        except OSError:
            if not self._disk_trouble:
                self._disk_trouble = True
                log.exception("provml: cannot write to the %s file in %s; holding %d event(s) "
                              "in memory and retrying", target, self.spool_dir, count)
            self._held.append((target, lines, count))
            # a half-open writer may be broken: reopen it next time
            writer = self._spool if target == "spool" else self._pending
            if writer is not None:
                with contextlib.suppress(OSError):
                    writer.close()
            if target == "spool":
                self._spool = None
            else:
                self._pending = None
            return False
        return True

    def _retry_held(self) -> None:
        if not self._held:
            return
        held, self._held = self._held, []
        for target, lines, count in held:
            if self._append(target, lines, count):
                if target == "spool":
                    self._counts["spooled"] += count
                else:
                    self._pending_count += count
        if not self._held and self._disk_trouble:
            self._disk_trouble = False
            log.warning("provml: the disk takes events again; none held in memory")

    def _deliver_compact(self, bag: list[Any], blob: bytes, count: int) -> None:
        """Send a bag in the compact form; should the sink refuse it for any reason but "down"
        (an endpoint that does not know the form, a bag too large, an event it rejects), send
        it again event by event, which bisects and tells permanent errors from transient ones."""
        assert self.sink is not None
        try:
            self.sink.send_compact(blob, count)  # type: ignore[attr-defined]
        except SinkUnavailable as exc:
            self._went_down(str(exc))
            self._to_pending([blob], count)
            return
        except Exception:
            lines, _ = encode_bag(bag, self._unencodable, {})
            if lines:
                self._deliver([line.decode() for line in lines])
            return
        self._counts["sent"] += count
        if self._backoff != _BACKOFF_FIRST_S:
            log.warning("provml: %s is back", self.sink.name)
        self._backoff = _BACKOFF_FIRST_S

    def _deliver(self, lines: list[str]) -> None:
        assert self.sink is not None
        try:
            self.sink.send(lines)
        except BagTooLarge:
            if len(lines) == 1:
                self._reject(lines, {"error": "BagTooLarge", "message": "one event is too large"})
                return
            half = len(lines) // 2
            self._deliver(lines[:half])
            self._deliver(lines[half:])
            return
        except BagRejected as exc:
            self._refused(lines, exc.report)
            return
        except Exception as exc:
            if _permanent(exc):  # resending cannot cure it: reject, let later bags flow on
                report = {"error": type(exc).__name__, "message": redact_text(str(exc))[:2000]}
                if isinstance(exc, ImportError | MissingExtra):  # every event would fail alike
                    self._reject(lines, report)
                else:
                    self._refused(lines, report)
                return
            self._went_down(redact_text(str(exc) if isinstance(exc, SinkUnavailable) else repr(exc)))
            self._to_pending(lines)
            return
        self._counts["sent"] += len(lines)
        if self._backoff != _BACKOFF_FIRST_S:
            log.warning("provml: %s is back", self.sink.name)
        self._backoff = _BACKOFF_FIRST_S

    def _refused(self, lines: list[str], report: Any) -> None:
        if len(lines) > 1:  # find the events the sink refuses; store the others
            half = len(lines) // 2
            self._deliver(lines[:half])
            self._deliver(lines[half:])
            return
        self._reject(lines, report)

    def _went_down(self, reason: str) -> None:
        if self._backoff == _BACKOFF_FIRST_S:
            log.warning("provml: %s; keeping events in %s and retrying", reason, self.pending_path)
        self._down_until = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)

    def _to_pending(self, lines: list[Any], count: int | None = None) -> None:
        count = len(lines) if count is None else count
        if self._append("pending", lines, count):
            self._pending_count += count

    def _reject(self, lines: list[str], report: Any) -> None:
        self._write_rejected(
            {"rejected_at": time.time(), "report": report, "events": [json.loads(x) for x in lines]},
            len(lines),
        )

    def _reject_text(self, text: str, report: Any) -> None:
        self._write_rejected({"rejected_at": time.time(), "report": report, "events": [],
                              "text": text}, 1)

    def _write_rejected(self, record: dict[str, Any], count: int) -> None:
        line = json.dumps(record, default=repr)
        with self._late_lock:
            try:
                self.rejected_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.rejected_path, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError:
                self._counts["lost"] += count
                log.exception("provml: could not write to %s; %d rejected event(s) are LOST: %s",
                              self.rejected_path, count, line[:2000])
                return
        self._counts["rejected"] += count
        log.error(
            "provml: %d event(s) rejected by %s, kept in %s: %s",
            count,
            self.sink.name if self.sink else "the sink",
            self.rejected_path,
            record["report"],
        )

    def _retry_pending(self, *, force: bool) -> None:
        if self.sink is None:
            return
        replaying = self.pending_path.with_name(self.pending_path.stem + ".replaying.jsonl")
        if self._pending is None and not replaying.exists():
            return
        if not force and time.monotonic() < self._down_until:
            return
        if self._pending is not None:
            self._pending.close()
            self._pending = None
            if replaying.exists():  # an earlier replay stopped half-way: append, keep both
                with open(replaying, "a", encoding="utf-8") as out, \
                        open(self.pending_path, encoding="utf-8") as src:
                    out.write(src.read())
                self.pending_path.unlink()
            else:
                os.replace(self.pending_path, replaying)
        self._replay_left = True
        self._pending_count = 0
        self._down_until = 0.0
        bag: list[str] = []
        for event in read_events(replaying, on_error=self._corrupt_line(replaying),
                                 on_truncated=self._truncated_line(replaying)):
            try:
                bag.append(encode(event))
            except Exception as exc:  # noqa: BLE001 - that event only, kept with the reason
                self._reject([reject_line(event)], {"error": str(exc)})
            if len(bag) >= max(self._bag_size, 50):
                self._send_or_keep(bag)
                bag = []
        if bag:
            self._send_or_keep(bag)
        replaying.unlink()
        self._replay_left = False
        if self._pending is None and not self._held:
            log.info("provml: pending events delivered to %s", self.sink.name)

    def _send_or_keep(self, lines: list[str]) -> None:
        now = time.monotonic()
        if now < self._down_until or now > self._give_up_at:
            self._to_pending(lines)
        else:
            self._deliver(lines)

    def _sync(self) -> None:
        for writer in (self._spool, self._pending):
            if writer is not None:
                try:
                    writer.sync()
                except OSError:
                    log.exception("provml: fsync failed for %s", writer.path)

    def _finish(self) -> None:
        self._sync()
        for writer in (self._spool, self._pending):
            if writer is not None:
                with contextlib.suppress(OSError):
                    writer.close()
        self._spool = self._pending = None
        if self._pending_count:
            log.warning(
                "provml: %d event(s) could not be delivered to %s; they are kept in %s "
                "(load them with `provml load` on that file)",
                self._pending_count,
                self.sink.name if self.sink else "the sink",
                self.pending_path,
            )
        if self.sink is not None:
            try:
                self.sink.close()
            except Exception:
                log.exception("provml: closing %s failed", self.sink.name)
