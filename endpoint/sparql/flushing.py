"""Keeping short the write-ahead log that the query workers' store views replay.

After a write, each worker process opens a fresh read-only view of the on-disk store before its
next query (:mod:`provml.endpoint.sparql.isolation`). Opening it replays the store's whole
write-ahead log — every write since RocksDB last flushed its memtables, which it does by itself
only at 128 MiB per column family, so gigabytes — at ~23 ms of CPU and more than its size in
memory per MB, in every worker, after every write. Unflushed, 170 MB of log (80 Graph Store
PUTs of 2,000 triples) made each read after a write take 5-7 s and end its worker under a
256 MiB memory cap (400 for ``ASK { ?s ?p ?o }``). So the server flushes the log after writes:
once :data:`FLUSH_BYTES` of request bodies were written since the last flush, or
:data:`FLUSH_EVERY_S` passed (a flush costs ~11 ms of CPU however little was written).

A worker's view and a flush must not overlap: a read-only view opened while the server flushed
(it read the store's manifest from before the flush, then found the log it would replay gone)
missed the writes the flush moved out of the log, or ended its worker ("memory allocation of
16 bytes failed"). Measured: 7 of 12 runs of four clients writing and counting their writes
while four others read had a count one short; none with the flushes off. So a view opens under
:func:`view_lock` shared, and a flush holds it exclusively (a file lock in the store's
directory: the workers are other processes; a worker that dies lets go of it).

>>> flushes = []
>>> flusher = LogFlusher(lambda: flushes.append(1))
>>> flusher.written(FLUSH_BYTES // 2); len(flushes)
0
>>> flusher.written(FLUSH_BYTES // 2); len(flushes)
1
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["FLUSH_BYTES", "FLUSH_EVERY_S", "VIEW_LOCK", "LogFlusher", "view_lock"]

log = logging.getLogger("provml.endpoint")

#: bytes of request bodies written since the last flush that make the next flush due
FLUSH_BYTES = 512 * 1024

#: writes of any size (also of unknown size: the broker's writer) are flushed at the first
#: write this long after the last flush
FLUSH_EVERY_S = 1.0

#: the lock file, in the store's directory, that views and flushes take turns on
VIEW_LOCK = "provml-views.lock"


@contextlib.contextmanager
def view_lock(path: str, *, exclusive: bool) -> Iterator[None]:
    """Hold the store at ``path`` for opening views (shared) or for a flush (exclusive)."""
    fd = os.open(os.path.join(path, VIEW_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # and the lock with it


class LogFlusher:
    """Calls ``flush`` (``OxigraphStore.flush``) after writes when due (see the module
    docstring); one flush at a time, from whichever thread wrote."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._lock = threading.Lock()
        self._unflushed = 0  # bytes of request bodies written since the last flush
        self._flushed_at = time.monotonic()

    def written(self, size: int) -> None:
        """The store was written, ``size`` bytes of request body (0: unknown): flush when due,
        before the workers are told to reopen their views."""
        with self._lock:
            self._unflushed += size
            now = time.monotonic()
            if self._unflushed < FLUSH_BYTES and now - self._flushed_at < FLUSH_EVERY_S:
                return
            self._unflushed, self._flushed_at = 0, now
            try:
                self._flush()
            except OSError:  # the writes are safe in the log: the views replay it
                log.warning("could not flush the store's write-ahead log", exc_info=True)
