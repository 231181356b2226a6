"""Evaluating a query under the endpoint's limits: a time limit that really stops the
evaluation, and a maximum number of rows.

How the time limit works (pyoxigraph has no cancel call):

1. Results are read one solution (or triple) at a time, with the deadline checked before each: a
   lazily evaluated query (patterns, joins, filters, ``LIMIT``) stops within one solution of
   the deadline; its iterator is dropped, which ends the evaluation inside Oxigraph, and the
   client gets 503 (:class:`QueryTimeout`).
2. A query whose text names an operator that must see all its input before its first solution
   (``ORDER BY``, ``GROUP BY``, aggregates, ``DISTINCT``/``REDUCED``, ``ASK``, ``MINUS``) runs on
   one of a few worker threads; the request thread waits at most ``timeout_s`` and answers
   503 on time; when every worker is busy (counting evaluations still finishing after their
   503), the query is refused at once (:class:`QueryRejected`). That operator is one pyoxigraph call that cannot be interrupted: the worker
   finishes it (holding neither the GIL nor a lock), then stops before producing a row.
   Simple queries skip the pool: the hand-off between threads would cost ~0.5 ms a request.
   (Where the server process evaluates them itself over a local store, they run on a thread
   without network, :mod:`provml.endpoint.sparql.offline`: 70 µs a simple query instead of
   32, ``benchmarks/offline_threads.py``.)
3. Limits: a blocking step that the text does not reveal (e.g. the build side of a large hash
   join inside a plain pattern) is noticed only when it yields, so its 503 comes late; and with
   ``--remote`` the remote server needs its own limit (``oxigraph serve --timeout-s``).

Rows beyond ``max_rows`` are not read: the result is truncated and flagged (:class:`Outcome`).

Why it is long: :class:`QueryRunner` is the one way every query, export, dump and update of the
endpoint goes through the limits (the time limit, the row and answer limits, the worker
processes, the threads without network, the write lock, the store version the caches key on);
split, each part would reach into the others' state.

>>> from provml.store import open_store
>>> runner = QueryRunner(timeout_s=5, max_rows=1)
>>> out = runner.run(open_store(), "SELECT ?x WHERE { VALUES ?x { 1 2 3 } }")
>>> len(out.rows), out.truncated
(1, True)
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pyoxigraph import NamedNode, QueryBoolean, QuerySolutions, QueryTriples, Triple

from provml.endpoint.limits import InputRefused
from provml.endpoint.sparql.offline import OfflineThreads, run_on
from provml.endpoint.sparql.outcomes import (
    Outcome,
    Processes,
    QueryRejected,
    QueryTimeout,
    client_error,
)
from provml.endpoint.sparql.results import Rendered, answer_too_large, refused_unevaluated, render
from provml.store.base import Store

__all__ = ["QueryRunner", "evaluate"]


#: queries and updates longer than this (characters) are first tried in a worker process on an
#: empty store when they would otherwise run in the server process (in-memory stores, updates):
#: a few kilobytes of chained joins, paths or expressions overflow the evaluator's stack
PROBE_CHARS = 1024


#: a whole-store dump may take this many query time limits (each block of it one)
DUMP_LIMITS = 10


#: operators that consume their whole input before the first solution (run on the pool)
_BLOCKING = re.compile(
    r"\b(ORDER\s+BY|GROUP\s+BY|DISTINCT|REDUCED|COUNT|SUM|MIN|MAX|AVG|SAMPLE|GROUP_CONCAT|"
    r"ASK|MINUS|HAVING)\b", re.IGNORECASE)


_REMOTE = re.compile(r"SERVICE|LOAD", re.IGNORECASE)


def _probe_worthy(sparql: str) -> bool:
    """Long enough to overflow the stack, and making no request the operator allowed (a probe
    must not send it twice)."""
    return len(sparql) > PROBE_CHARS and not _REMOTE.search(sparql)


class _Cancelled:
    def __init__(self, deadline: float | None, flag: threading.Event | None = None) -> None:
        self.deadline = deadline
        self.flag = flag or threading.Event()

    def check(self) -> None:
        if self.flag.is_set() or (self.deadline is not None and time.monotonic() > self.deadline):
            raise QueryTimeout


def evaluate(
    store: Store,
    sparql: str,
    *,
    default_graph: Sequence[NamedNode] | None = None,
    named_graphs: Sequence[NamedNode] | None = None,
    union: bool = True,
    base_iri: str | None = None,
    max_rows: int | None = None,
    deadline: float | None = None,
    cancel: threading.Event | None = None,
) -> Outcome:
    """Evaluate ``sparql`` and read at most ``max_rows`` results, checking ``deadline``
    (``time.monotonic()``) and ``cancel`` before each. ``union=False`` evaluates on the
    store's default graph, or on the query's own ``FROM`` / ``FROM NAMED``.

    :raises SyntaxError: the query does not parse.
    :raises InputRefused: it calls a function Oxigraph does not implement (the client's error).
    :raises QueryTimeout: the deadline passed, or ``cancel`` was set.
    """
    try:
        return _evaluate(store, sparql, default_graph=default_graph, named_graphs=named_graphs,
                         union=union, base_iri=base_iri, max_rows=max_rows,
                         check=_Cancelled(deadline, cancel))
    except RuntimeError as error:
        refusal = client_error(error)
        if refusal is None:
            raise
        raise refusal from None


def _evaluate(store: Store, sparql: str, *, default_graph: Sequence[NamedNode] | None,
              named_graphs: Sequence[NamedNode] | None, union: bool, base_iri: str | None,
              max_rows: int | None, check: _Cancelled) -> Outcome:
    check.check()
    result = store.query(sparql, default_graph=default_graph, named_graphs=named_graphs,
                         base_iri=base_iri, use_default_graph_as_union=union)
    check.check()
    if isinstance(result, QueryBoolean):
        return Outcome("boolean", boolean=bool(result))
    rows: list[Any] = []
    truncated = False
    if isinstance(result, QuerySolutions):
        variables = tuple(result.variables)
        width = range(len(variables))
        for solution in result:
            check.check()
            if max_rows is not None and len(rows) >= max_rows:
                truncated = True
                break
            rows.append([solution[i] for i in width])
        return Outcome("solutions", variables=variables, rows=rows, truncated=truncated)
    assert isinstance(result, QueryTriples)
    for triple in result:
        check.check()
        if max_rows is not None and len(rows) >= max_rows:
            truncated = True
            break
        rows.append(Triple(triple.subject, triple.predicate, triple.object))
    return Outcome("triples", rows=rows, truncated=truncated)


class QueryRunner:
    """Runs queries with a time limit and a row limit; one per app.

    :param timeout_s: seconds a query may take (None: no limit; the query runs on the request
        thread).
    :param max_rows: most solutions or triples returned (None: all).
    :param workers: how many blocking queries may evaluate on threads at once, counting those
        still finishing after their 503; one more is refused at once (:class:`QueryRejected`).
    :param processes: a :class:`~provml.endpoint.sparql.isolation.QueryProcesses`. Over an
        on-disk store (``processes.path`` set) EVERY query evaluates in its worker processes,
        killed at the deadline and capped in memory; over an in-memory store it only tries long
        queries and updates on an empty store first (:data:`PROBE_CHARS`), so that one which
        crashes the evaluator ends a worker, not the server.
    :param flushed: told of each write (:meth:`changed`) before the workers are: flushes the
        store's log when due (:class:`~provml.endpoint.sparql.flushing.LogFlusher`).
    :param offline: what the server process evaluates itself (updates; queries that are not
        isolated) runs on threads that cannot open a network socket
        (:mod:`provml.endpoint.sparql.offline`): for a local store, unless the operator allows
        remote targets.
    """

    def __init__(
        self,
        *,
        timeout_s: float | None,
        max_rows: int | None,
        max_answer_bytes: int | None = None,
        workers: int = 4,
        processes: Processes | None = None,
        flushed: Callable[[int], None] | None = None,
        offline: bool = False,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_answer_bytes = max_answer_bytes
        self.workers = workers
        self.processes = processes
        self.version = 0  # counts writes (changed(), sync()): caches key on it
        self._generation: int | None = None  # the store's generation last seen by sync()
        self._changing = threading.Lock()
        self._flushed = flushed
        self._slots = threading.BoundedSemaphore(workers)
        self._writing = threading.Lock()  # writes (updates: counted, then applied) one at a time
        self._pool: ThreadPoolExecutor | OfflineThreads
        self._reads: OfflineThreads | None = None  # simple in-process queries, when offline
        self._updates: OfflineThreads | None = None
        if offline:
            self._pool = OfflineThreads("provml-query", threads=workers)
            if self._pool.why_not is None:  # else no thread can leave the network: no hand-off
                # started as needed, one a waiting caller (a request thread) at most: a simple
                # query never waits for a thread
                self._reads = OfflineThreads("provml-read", threads=1024)
                self._updates = OfflineThreads("provml-update", threads=1)  # one at a time
        else:
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provml-query")

    @property
    def isolated(self) -> bool:
        """Whether every query evaluates in a worker process."""
        return self.processes is not None and self.processes.path is not None

    def changed(self, written: int = 0) -> None:
        """The store was written (``written`` bytes of request body, 0: unknown): worker
        processes open a fresh view before their next query (of a log flushed when due).

        The workers are told first: a read that sees the new :attr:`version` (and keeps its
        answer under it) must evaluate on a fresh view, never on the old one. Writes from
        request threads and the broker's writer may tell at once: counted under a lock."""
        if self._flushed is not None:
            self._flushed(written)
        with self._changing:
            if self.processes is not None:
                self.processes.changed()
            self.version += 1

    def sync(self, store: Store) -> int:
        """The current :attr:`version`, moved on first when ``store`` was written since the last
        call (its ``generation``, :class:`~provml.store.oxigraph.OxigraphStore`): writes by the
        owner of a store passed to the endpoint, which the endpoint never saw, reach the worker
        processes' views and the caches too. Called before every read."""
        generation = getattr(store, "generation", None)
        if generation is not None and generation != self._generation:
            with self._changing:
                if generation != self._generation:
                    if self.processes is not None:
                        self.processes.changed()
                    self.version += 1
                    self._generation = generation
        return self.version

    def run(
        self,
        store: Store,
        sparql: str,
        *,
        default_graph: Sequence[NamedNode] | None = None,
        named_graphs: Sequence[NamedNode] | None = None,
        union: bool = True,
        base_iri: str | None = None,
    ) -> Outcome:
        """Evaluate ``sparql`` on ``store`` and read its results under the limits.

        :raises SyntaxError: the query does not parse.
        :raises QueryTimeout: the time limit passed.
        :raises QueryRejected: every worker is busy.
        :raises QueryCrashed: the query ended its worker process.
        :raises OSError: the store failed.
        """
        args: dict[str, Any] = {"default_graph": default_graph, "named_graphs": named_graphs,
                                "union": union, "base_iri": base_iri, "max_rows": self.max_rows}
        self.sync(store)
        if self.isolated:
            assert self.processes is not None
            result = self.processes.run(sparql, timeout_s=self.timeout_s,
                                        max_bytes=self.max_answer_bytes, **args)
            assert isinstance(result, Outcome)
            return result
        return self._in_process(store, sparql, args)

    def render(
        self,
        store: Store,
        sparql: str,
        *,
        accept: str | None,
        default_graph: Sequence[NamedNode] | None = None,
        named_graphs: Sequence[NamedNode] | None = None,
        union: bool = True,
        base_iri: str | None = None,
    ) -> Rendered:
        """Like :meth:`run`, and write the result in the format ``accept`` prefers (in the
        worker process when queries are isolated: the rows never cross the pipe). A query
        whose form has no format ``accept`` allows is answered 406 without being evaluated
        (:func:`~provml.endpoint.sparql.results.refused_unevaluated`)."""
        refused = refused_unevaluated(sparql, accept)
        if refused is not None:
            return refused
        args: dict[str, Any] = {"default_graph": default_graph, "named_graphs": named_graphs,
                                "union": union, "base_iri": base_iri, "max_rows": self.max_rows}
        self.sync(store)
        if self.isolated:
            assert self.processes is not None
            result = self.processes.run(sparql, timeout_s=self.timeout_s, accept=accept or "",
                                        max_bytes=self.max_answer_bytes, **args)
            assert isinstance(result, Rendered)
            return result
        rendered = render(self._in_process(store, sparql, args), accept)
        if self.max_answer_bytes is not None and len(rendered.body) > self.max_answer_bytes:
            raise InputRefused(answer_too_large(len(rendered.body), self.max_answer_bytes))
        return rendered

    def export(self, store: Store, graph: str, *, media: str, profile: str) -> bytes:
        """A whole graph (an IRI, ``"default"``, or ``""`` for the dataset) in ``media``
        (:func:`~provml.endpoint.sparql.export.export_graph`): in a worker process under the
        time and memory limits when queries are isolated (not cut by the row limit: a graph
        store answer is the whole graph), else here; refused past ``max_answer_bytes``.

        :raises InputRefused: the answer is larger than ``max_answer_bytes``.
        :raises QueryTimeout: past the time limit.
        :raises QueryCrashed: it ended its worker (memory limit).
        :raises QueryRejected: every worker stayed busy.
        """
        self.sync(store)
        if self.isolated:
            assert self.processes is not None
            return self.processes.export(graph, media=media, profile=profile,
                                         timeout_s=self.timeout_s,
                                         max_bytes=self.max_answer_bytes)
        from provml.endpoint.sparql.export import export_graph

        body = export_graph(store, graph, media, profile)
        if self.max_answer_bytes is not None and len(body) > self.max_answer_bytes:
            raise InputRefused(answer_too_large(len(body), self.max_answer_bytes))
        return body

    def dump(self, store: Store) -> Iterator[bytes]:
        """The whole store as gzipped N-Quads, block by block: from a worker process when
        queries are isolated (each block within the time limit, the whole within
        :data:`DUMP_LIMITS` time limits; past it the stream ends without the gzip trailer),
        else read here."""
        self.sync(store)
        if self.isolated:
            assert self.processes is not None
            total = None if self.timeout_s is None else DUMP_LIMITS * self.timeout_s
            return self.processes.dump(step_s=self.timeout_s, total_s=total)
        from provml.endpoint.sparql.export import gzip_dump

        return gzip_dump(store)

    def check_update(self, sparql: str) -> None:
        """Try a long update (over :data:`PROBE_CHARS`) on an empty store in a worker process
        first, when there is one: an update whose evaluation crashes is refused
        (:class:`QueryCrashed`) before the server process runs it."""
        if self.processes is not None and _probe_worthy(sparql):
            self.processes.probe(sparql, update=True, timeout_s=self.timeout_s)

    def update(
        self,
        store: Store,
        sparql: str,
        *,
        using: Sequence[NamedNode] | None = None,
        using_named: Sequence[NamedNode] | None = None,
        base_iri: str | None = None,
    ) -> None:
        """Run a SPARQL update on ``store`` once its ``WHERE`` parts have been counted under
        the query limits (:mod:`provml.endpoint.sparql.updates`); updates through the
        endpoint run one at a time. Refused, with the store unchanged:

        :raises QueryTimeout: a ``WHERE`` part ran past the time limit.
        :raises QueryCrashed: one ended its worker (stack, memory limit), or the update did
            in the empty-store probe.
        :raises InputRefused: one matches more solutions than the row limit.
        :raises QueryRejected: every worker stayed busy, or another update held the store
            for a whole time limit.
        :raises SyntaxError: the update does not parse.
        """
        with self.writing():
            from provml.endpoint.sparql.updates import count_before_update

            count_before_update(self, store, sparql, using=using, using_named=using_named,
                              base_iri=base_iri)
            run_on(self._updates, store.update, sparql, base_iri=base_iri, using_graphs=using,
                   using_named_graphs=using_named)

    @contextlib.contextmanager
    def writing(self, wait_s: float | None = None) -> Iterator[None]:
        """Hold the store for one write through the endpoint (an update, a Graph Store write:
        its steps must not interleave with another write's), waiting at most one time limit
        (or ``wait_s`` seconds, what is left of a batch's: ``provml.ingest.commits``) for the
        write before it.

        :raises QueryRejected: another write held the store for a whole time limit.
        """
        wait = self.timeout_s if wait_s is None else wait_s
        if not self._writing.acquire(timeout=-1 if wait is None else wait):
            raise QueryRejected
        try:
            yield
        finally:
            self._writing.release()

    def _in_process(self, store: Store, sparql: str, args: dict[str, Any]) -> Outcome:
        if self.processes is not None and _probe_worthy(sparql):
            self.processes.probe(sparql, update=False, timeout_s=self.timeout_s,
                                 base_iri=args["base_iri"])
        if self.timeout_s is None or not _BLOCKING.search(sparql):
            deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
            return run_on(self._reads, evaluate, store, sparql, deadline=deadline, **args)
        if not self._slots.acquire(timeout=min(1.0, self.timeout_s)):  # queue briefly
            raise QueryRejected
        cancel = threading.Event()
        try:
            future = self._pool.submit(evaluate, store, sparql, cancel=cancel,
                                       deadline=time.monotonic() + self.timeout_s, **args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            cancel.set()
            future.cancel()
            raise QueryTimeout from None

    def close(self) -> None:
        """Stop the worker threads (running queries stop at their next row) and processes."""
        if self.processes is not None:
            self.processes.close()
        for threads in (self._pool, self._reads, self._updates):
            if threads is not None:
                threads.shutdown(wait=False, cancel_futures=True)
