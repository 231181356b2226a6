"""The background flusher: one daemon thread that turns the capture queue into bags.

Why it is long: queue, spill file, pending file, retries and the bisection of a rejected bag
share one thread's state; split apart, the pieces would hand that state back and forth.

The caller's thread only appends a dict to a ``collections.deque`` (:meth:`Flusher.put`);
everything else happens here: JSON encoding, the diskful spool, delivery to the sink, retries
with exponential backoff while the sink is down (bags wait in a ``pending-*.jsonl`` file and are
replayed when it is back), bisecting a rejected bag down to the events the sink refuses (written
to ``rejected-*.jsonl`` with the report and logged as an error). When the queue holds
``max_queue`` events the caller's thread writes further events to the spill file
(``spill-*.jsonl``), which this thread takes back in order, instead of blocking or dropping them
(bounded memory). Nothing captured is dropped silently.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provml.capture.sinks import BagRejected, BagTooLarge, Sink, SinkUnavailable
from provml.capture.spool import SpoolWriter, read_events

__all__ = ["Flusher", "FlushStats"]

log = logging.getLogger("provml.capture.scopes")

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


class _Marker:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


def _default(obj: Any) -> Any:
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


_ENCODER = json.JSONEncoder(default=_default, separators=(",", ":"), allow_nan=False)


def encode(event: dict[str, Any]) -> str:
    """One event as compact JSON text (numpy/torch scalars become numbers, others ``repr``)."""
    return _ENCODER.encode(event)


class Flusher:
    """Queue + background thread delivering bags of events.

    :param sink: where events go, or ``None`` for spool-only (offline) capture.
    :param spool_dir: directory of the spool, pending and rejected files.
    :param diskful: append every event to ``<spool_dir>/<name>.jsonl`` before sending.
    :param bag_size: events per bag (the paper's queue size: 1 or 50).
    :param max_queue: events held in memory before further ones spill to disk.
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
        if bag_size < 1 or max_queue < 1:
            raise ValueError("bag_size and max_queue must be at least 1")
        self.sink = sink
        self._enrich = enrich
        self.spool_dir = spool_dir
        self.spool_path = spool_dir / f"{name}.jsonl" if diskful else None
        self.pending_path = spool_dir / f"pending-{name}.jsonl"
        self.rejected_path = spool_dir / f"rejected-{name}.jsonl"
        self._bag_size = bag_size
        self._interval = flush_interval_s
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._spill_lock = threading.Lock()
        self._spill_file: Any = None
        self._spool: SpoolWriter | None = None
        self._pending: SpoolWriter | None = None
        self._down_until = 0.0
        self._backoff = _BACKOFF_FIRST_S
        self._stop = False
        self._give_up_at = float("inf")  # after close()'s timeout: the rest goes to pending
        self._counts = {"processed": 0, "spooled": 0, "sent": 0, "rejected": 0, "spilled": 0}
        self._pending_count = 0
        self.put = self._make_put(max_queue)
        self._thread = threading.Thread(target=self._run, name=f"provml-flusher-{name}", daemon=True)
        self._thread.start()

    # -- the caller's side -------------------------------------------------------------------

    def _make_put(self, max_queue: int) -> Any:
        queue = self._queue
        append = queue.append
        wake = self._wake
        is_set = wake.is_set
        threshold = min(self._bag_size, max_queue)
        spill = self._spill

        def put(event: dict[str, Any]) -> None:
            n = len(queue)
            if n >= max_queue:
                spill(event)
                return
            append(event)
            if n + 1 >= threshold and not is_set():
                wake.set()

        return put

    def _spill(self, event: dict[str, Any]) -> None:
        line = encode(event)
        with self._spill_lock:
            if self._spill_file is None:
                self.spool_dir.mkdir(parents=True, exist_ok=True)
                self._spill_file = open(self._spill_path(), "a", encoding="utf-8")  # noqa: SIM115
            self._spill_file.write(line + "\n")
            self._counts["spilled"] += 1
        if not self._wake.is_set():
            self._wake.set()

    def _spill_path(self) -> Path:
        return self.spool_dir / f"{self.pending_path.stem.replace('pending-', 'spill-')}.jsonl"

    def flush(self, *, wait: bool = True, timeout_s: float | None = None) -> bool:
        """Send everything queued so far; with ``wait``, return once it is sent or on disk.

        :returns: False if ``timeout_s`` passed first.
        """
        if not self._thread.is_alive():
            return True
        marker = _Marker()
        self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout_s) if wait else True

    def close(self, *, timeout_s: float | None = 30.0) -> bool:
        """Flush and stop the thread. Events the sink has not accepted within ``timeout_s`` are
        written to the pending file instead (kept on disk for ``provml load``; a later client does
        not replay it), so close never waits much longer than ``timeout_s``.

        :returns: False if the thread did not finish (a sink request still hanging).
        """
        if not self._thread.is_alive():
            return True
        if timeout_s is not None:
            self._give_up_at = time.monotonic() + timeout_s
        self._stop = True
        self._wake.set()
        self._thread.join(None if timeout_s is None else timeout_s + 60.0)
        return not self._thread.is_alive()

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
        )

    # -- the flusher thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._interval)
                self._wake.clear()
                self._drain()
                if self._stop and not self._queue:
                    if time.monotonic() < self._give_up_at:
                        self._retry_pending(force=True)
                    break
                self._retry_pending(force=False)
        finally:
            self._finish()

    def _drain(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        size = self._bag_size
        bag: list[dict[str, Any]] = []
        while True:
            try:
                item = popleft()
            except IndexError:
                break
            if type(item) is _Marker:
                if bag:
                    self._process(bag)
                    bag = []
                self._take_spill()
                self._sync()
                item.done.set()
                continue
            bag.append(item)
            if len(bag) >= size:
                self._process(bag)
                bag = []
        if bag:
            self._process(bag)
        self._take_spill()

    def _take_spill(self) -> None:
        with self._spill_lock:
            if self._spill_file is None:
                return
            self._spill_file.close()
            self._spill_file = None
            taking = self._spill_path().with_name(self._spill_path().stem + ".taking.jsonl")
            os.replace(self._spill_path(), taking)
        size = self._bag_size
        bag: list[dict[str, Any]] = []
        for event in read_events(taking):
            bag.append(event)
            if len(bag) >= size:
                self._process(bag)
                bag = []
        if bag:
            self._process(bag)
        taking.unlink()

    def _process(self, bag: list[dict[str, Any]]) -> None:
        if self._enrich is not None:
            for event in bag:
                if event.get("kind") == "workflow_begin":
                    self._enrich(event)
        try:
            lines = [encode(event) for event in bag]
        except (TypeError, ValueError) as exc:  # e.g. NaN: encode one by one, reject the bad ones
            lines = []
            for event in bag:
                try:
                    lines.append(encode(event))
                except (TypeError, ValueError):
                    self._reject([json.dumps(event, default=repr)], {"error": str(exc)})
        self._counts["processed"] += len(bag)
        if self._spool is None and self.spool_path is not None:
            self._spool = SpoolWriter(self.spool_path)
        if self._spool is not None:
            try:
                self._spool.append(lines)
                self._counts["spooled"] += len(lines)
            except OSError:
                log.exception("provml: could not append to the spool %s", self.spool_path)
        if self.sink is not None and lines:
            now = time.monotonic()
            if now < self._down_until or now > self._give_up_at:
                self._to_pending(lines)
            else:
                self._deliver(lines)

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
            if len(lines) > 1:  # find the events the sink refuses; store the others
                half = len(lines) // 2
                self._deliver(lines[:half])
                self._deliver(lines[half:])
                return
            self._reject(lines, exc.report)
            return
        except SinkUnavailable as exc:
            self._went_down(str(exc))
            self._to_pending(lines)
            return
        except Exception as exc:  # a bug in a sink must not lose events or kill the thread
            log.exception("provml: unexpected error sending to %s", self.sink.name)
            self._went_down(repr(exc))
            self._to_pending(lines)
            return
        self._counts["sent"] += len(lines)
        if self._backoff != _BACKOFF_FIRST_S:
            log.warning("provml: %s is back", self.sink.name)
        self._backoff = _BACKOFF_FIRST_S

    def _went_down(self, reason: str) -> None:
        if self._backoff == _BACKOFF_FIRST_S:
            log.warning("provml: %s; keeping events in %s and retrying", reason, self.pending_path)
        self._down_until = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)

    def _to_pending(self, lines: list[str]) -> None:
        if self._pending is None:
            self._pending = SpoolWriter(self.pending_path)
        self._pending.append(lines)
        self._pending_count += len(lines)

    def _reject(self, lines: list[str], report: Any) -> None:
        self.rejected_path.parent.mkdir(parents=True, exist_ok=True)
        record = {"rejected_at": time.time(), "report": report, "events": [json.loads(x) for x in lines]}
        with open(self.rejected_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=repr) + "\n")
        self._counts["rejected"] += len(lines)
        log.error(
            "provml: %d event(s) rejected by %s, kept in %s: %s",
            len(lines),
            self.sink.name if self.sink else "the sink",
            self.rejected_path,
            report,
        )

    def _retry_pending(self, *, force: bool) -> None:
        if self._pending is None or self.sink is None:
            return
        if not force and time.monotonic() < self._down_until:
            return
        self._pending.close()
        self._pending = None
        replaying = self.pending_path.with_name(self.pending_path.stem + ".replaying.jsonl")
        os.replace(self.pending_path, replaying)
        self._pending_count = 0
        self._down_until = 0.0
        bag: list[str] = []
        for event in read_events(replaying):
            bag.append(encode(event))
            if len(bag) >= max(self._bag_size, 50):
                self._send_or_keep(bag)
                bag = []
        if bag:
            self._send_or_keep(bag)
        replaying.unlink()
        if self._pending is None:
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
                writer.close()
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
