"""``provml ingest-worker``'s processes: the workers (:mod:`provml.ingest.worker`), each in a
process of its own and started again when one ends, and the writer of an on-disk store
(:mod:`provml.ingest.writer`) in this one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provml.ingest.collector import paused
from provml.ingest.streams import GROUP_FIRST, GROUP_MOST, WRITER_LINGER_S, wait_for_broker
from provml.ingest.worker import _worker_process
from provml.knowledge import KnowledgeGraph

__all__ = ["RESTART_MAX_S", "run"]

log = logging.getLogger("provml.ingest.processes")

#: the longest a worker process that keeps ending waits before it is started again
RESTART_MAX_S = 60.0


def _watch(children: list[Any], spawn: Callable[[], Any], stop: threading.Event) -> None:
    """Start a worker process again when one ends before ``stop`` (logged with its exit code):
    a worker killed by the system (out of memory, a signal) or by a fault would otherwise leave
    ``provml ingest-worker`` running with fewer workers, or none, and nothing said. One that
    ended within a minute of its start waits twice as long as the last time before the next,
    up to :data:`RESTART_MAX_S`."""
    waits = [0.0] * len(children)
    started = [time.monotonic()] * len(children)
    while not stop.wait(0.5):
        for i, child in enumerate(children):
            if child.is_alive() or stop.is_set():
                continue
            soon = time.monotonic() - started[i] < 60.0
            waits[i] = min(max(2 * waits[i], 1.0), RESTART_MAX_S) if soon else 0.0
            log.error("worker process %s ended (exit code %s); starting another%s", child.pid, child.exitcode,
                      f" in {waits[i]:.0f} s" if waits[i] else "")
            if waits[i] and stop.wait(waits[i]):
                return
            started[i] = time.monotonic()
            try:
                children[i] = spawn()
            except Exception as exc:  # noqa: BLE001 - out of memory or processes: try again later
                log.error("a worker process could not be started (%s); trying again", exc)


def run(url: str, *, store: str | Path | None = None, remote: str | None = None, workers: int = 1,
        writer: bool = True, claim_idle_s: float = 30.0, stop: threading.Event | None = None,
        connect_timeout_s: float = 60.0, max_backlog: int = GROUP_FIRST, group_most: int = GROUP_MOST,
        linger_s: float = WRITER_LINGER_S) -> None:
    """``provml ingest-worker``: ``workers`` worker processes and, for an on-disk ``store``, the
    writer in this process; until ``stop`` is set, SIGTERM or Ctrl-C. The writer runs with the
    cyclic collector paused for the process (one full collection every
    :data:`provml.ingest.collector.MAX_PAUSE_S` while groups are written): call it in a process
    of its own, as the CLI does, not beside other work (``provml serve --broker`` runs a
    :class:`~provml.ingest.writer.WriterThread` instead). A worker process that ends before
    ``stop`` is started again (:func:`_watch`).

    ``group_most``: the most validated batches the writer takes as one group (its groups grow
    from :data:`~provml.ingest.streams.GROUP_FIRST` to it, or start there when it is smaller:
    :meth:`provml.ingest.writer.Writer.for_memory`); ``linger_s``: the writer's
    (:data:`~provml.ingest.streams.WRITER_LINGER_S`).

    :raises ValueError: neither or both of ``store`` and ``remote``, or a ``remote`` spec that
        names no store.
    """
    import multiprocessing
    import signal

    if (store is None) == (remote is None):
        raise ValueError("give a store directory or a remote SPARQL store URL (one of them)")
    if remote is not None:  # a spec no worker can open: said once, here, not a worker ending again and again
        from provml.store import open_store

        open_store(remote=remote).close()
    wait_for_broker(url, timeout_s=connect_timeout_s)  # a clear error when Redis is not there
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    context = multiprocessing.get_context("spawn")

    def spawn() -> Any:
        child = context.Process(target=_worker_process, args=(url, remote, claim_idle_s, max_backlog), daemon=True)
        child.start()
        return child

    children = [spawn() for _ in range(workers)]
    watcher = threading.Thread(target=_watch, args=(children, spawn, stop), name="provml-worker-watch", daemon=True)
    watcher.start()
    kg: KnowledgeGraph | None = None
    try:
        if store is not None and writer:
            from provml.knowledge import open_kg

            kg = open_kg(store)
            from provml.ingest.writer import Writer

            first, most = Writer.for_memory(group_most)
            the_writer = Writer(url, kg, claim_idle_s=claim_idle_s, batch=first, batch_most=most, linger_s=linger_s)
            try:
                with paused():  # this process only writes: as in a worker's (provml.ingest.collector)
                    the_writer.run(stop)
            finally:
                the_writer.close()
        else:
            stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()  # (the watcher starts no worker after this)
        watcher.join(timeout=10)
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(timeout=10)
        if kg is not None:
            kg.close()
