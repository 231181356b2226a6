"""Blocking queries in worker processes that are killed at the deadline (``QUERY_ISOLATION``
``"process"``, on-disk stores only).

pyoxigraph cannot cancel an evaluation, but the operating system can end a process. Each worker
(started with ``spawn``, so it shares no lock or thread with the server) opens the store
read-only for every query — a fresh view that includes the server's committed writes — evaluates
it under the row limit and sends the rows back. When the time limit passes, the server kills the
worker: the evaluation stops there, whatever operator it was in. The cost: ~0.1–0.2 s per query
to open the store view (plus a process start after a kill), paid only by queries with blocking
operators (``ORDER BY``, aggregates, ...); simple queries stay in the server process.

>>> import tempfile
>>> from provml.store import open_store
>>> path = tempfile.mkdtemp()
>>> open_store(path).close()
>>> processes = QueryProcesses(path, workers=1)
>>> processes.run("ASK { ?s ?p ?o }", timeout_s=30).boolean
False
>>> processes.close()
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from pyoxigraph import NamedNode

from provml.endpoint.sparql.evaluation import Outcome, QueryRejected, QueryTimeout, evaluate

__all__ = ["QueryProcesses"]


def _work(conn: Connection, path: str) -> None:
    """A worker process: answer (sparql, options) requests until the pipe closes."""
    from provml.store.oxigraph import OxigraphStore

    while True:
        try:
            sparql, options = conn.recv()
        except EOFError:
            return
        try:
            store = OxigraphStore(path, read_only=True)
            try:
                conn.send(("ok", evaluate(store, sparql, **options)))
            finally:
                store.close()
        except SyntaxError as error:
            conn.send(("syntax", str(error)))
        except Exception as error:  # reported to the server, which logs it
            conn.send(("error", f"{type(error).__name__}: {error}"))


class _Worker:
    def __init__(self, context: Any, path: str) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_work, args=(child, path), daemon=True,
                                       name="provml-query-worker")
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class QueryProcesses:
    """A few worker processes over the on-disk store at ``path``.

    :param path: the store directory (the server holds it open read-write).
    :param workers: most queries evaluating at once; one more is refused (``QueryRejected``).
    """

    def __init__(self, path: str, *, workers: int = 4) -> None:
        self.path = path
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._slots = threading.BoundedSemaphore(workers)
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._spawn()  # one ready worker: a process start takes ~0.3 s

    def _spawn(self) -> None:
        worker = _Worker(self._context, self.path)
        with self._lock:
            if self._closed:
                worker.kill()
                return
            self._all.append(worker)
        self._idle.put(worker)

    def _take(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            worker = _Worker(self._context, self.path)
            with self._lock:
                self._all.append(worker)
            return worker

    def _drop(self, worker: _Worker, *, replace: bool = True) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        if replace:  # start the replacement off the request thread
            threading.Thread(target=self._spawn, name="provml-query-spawn", daemon=True).start()

    def run(
        self,
        sparql: str,
        *,
        timeout_s: float,
        default_graph: Sequence[NamedNode] | None = None,
        named_graphs: Sequence[NamedNode] | None = None,
        base_iri: str | None = None,
        max_rows: int | None = None,
    ) -> Outcome:
        """Evaluate in a worker; kill it when ``timeout_s`` passes.

        :raises SyntaxError: the query does not parse.
        :raises QueryTimeout: the time limit passed (the worker was killed).
        :raises QueryRejected: every worker is busy.
        :raises OSError: the worker failed (it is replaced).
        """
        if not self._slots.acquire(blocking=False):
            raise QueryRejected
        try:
            worker = self._take()
            options = {"default_graph": default_graph, "named_graphs": named_graphs,
                       "base_iri": base_iri, "max_rows": max_rows}
            try:
                worker.conn.send((sparql, options))
                ready = worker.conn.poll(timeout_s)
                answer = worker.conn.recv() if ready else None
            except (EOFError, OSError) as error:
                self._drop(worker)
                raise OSError(f"the query worker died: {error}") from error
            if answer is None:
                self._drop(worker)  # the evaluation stops here, whatever it was doing
                raise QueryTimeout
            self._idle.put(worker)
            status, payload = answer
            if status == "syntax":
                raise SyntaxError(payload)
            if status == "error":
                raise OSError(payload)
            assert isinstance(payload, Outcome)
            return payload
        finally:
            self._slots.release()

    def close(self) -> None:
        """Kill every worker."""
        with self._lock:
            self._closed = True
            workers, self._all = self._all, []
        for worker in workers:
            worker.kill()
