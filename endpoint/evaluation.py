"""Evaluating a query under the endpoint's limits: a time limit that really stops the
evaluation, and a maximum number of rows.

How the time limit works (pyoxigraph has no cancel call):

1. The query runs on a worker thread of a small pool; the request thread waits for it at most
   ``timeout_s`` and then answers 503 (:class:`QueryTimeout`).
2. The worker reads solutions (or triples) one at a time and checks the deadline and a cancel
   flag before each; a lazily evaluated query (plain patterns, joins, filters, ``LIMIT``)
   therefore stops within one solution of the deadline and its iterator is dropped, which ends
   the evaluation inside Oxigraph.
3. Limit: an operator that must see all its input before yielding its first solution
   (``ORDER BY``, ``GROUP BY``/aggregates, ``DISTINCT`` over a large input, ``ASK``) is
   evaluated inside one pyoxigraph call that cannot be interrupted; the client still gets its 503
   on time, the worker finishes that operator (it holds no lock and no GIL: pyoxigraph releases
   it), then stops before producing a row. With ``--remote``, give the remote server its own
   limit too (``oxigraph serve --timeout-s``).

Rows beyond ``max_rows`` are not read: the result is truncated and flagged (:class:`Outcome`).

>>> from provml.store import open_store
>>> runner = QueryRunner(timeout_s=5, max_rows=1)
>>> out = runner.run(open_store(), "SELECT ?x WHERE { VALUES ?x { 1 2 3 } }")
>>> len(out.rows), out.truncated
(1, True)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from provml.store import Store
from pyoxigraph import NamedNode, QueryBoolean, QuerySolutions, QueryTriples, Triple, Variable

__all__ = ["Outcome", "QueryRunner", "QueryTimeout"]


class QueryTimeout(Exception):
    """The query ran past the endpoint's time limit (answered 503)."""


@dataclass(frozen=True)
class Outcome:
    """A query's result, read under the limits.

    ``kind`` is ``"solutions"``, ``"boolean"`` or ``"triples"``; ``rows`` holds solution rows
    (sequences aligned with ``variables``) or triples; ``truncated`` says rows were left unread.
    """

    kind: str
    variables: tuple[Variable, ...] = ()
    rows: Sequence[Any] = field(default_factory=list)
    boolean: bool = False
    truncated: bool = False


class _Cancelled:
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.flag = threading.Event()

    def check(self) -> None:
        if self.flag.is_set() or (self.deadline is not None and time.monotonic() > self.deadline):
            raise QueryTimeout


class QueryRunner:
    """Runs queries with a time limit and a row limit; one per app.

    :param timeout_s: seconds a query may take (None: no limit; the query runs on the request
        thread).
    :param max_rows: most solutions or triples returned (None: all).
    :param workers: size of the evaluation thread pool.
    """

    def __init__(self, *, timeout_s: float | None, max_rows: int | None, workers: int = 16) -> None:
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provml-query")

    def run(
        self,
        store: Store,
        sparql: str,
        *,
        default_graph: Sequence[NamedNode] | None = None,
        named_graphs: Sequence[NamedNode] | None = None,
        base_iri: str | None = None,
    ) -> Outcome:
        """Evaluate ``sparql`` on ``store`` and read its results under the limits.

        :raises SyntaxError: the query does not parse.
        :raises QueryTimeout: the time limit passed.
        :raises OSError: the store failed.
        """
        if self.timeout_s is None:
            return self._evaluate(store, sparql, default_graph, named_graphs, base_iri,
                                  _Cancelled(None))
        cancel = _Cancelled(time.monotonic() + self.timeout_s)
        future = self._pool.submit(self._evaluate, store, sparql, default_graph, named_graphs,
                                   base_iri, cancel)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            cancel.flag.set()
            future.cancel()
            raise QueryTimeout from None

    def _evaluate(
        self,
        store: Store,
        sparql: str,
        default_graph: Sequence[NamedNode] | None,
        named_graphs: Sequence[NamedNode] | None,
        base_iri: str | None,
        cancel: _Cancelled,
    ) -> Outcome:
        cancel.check()
        result = store.query(sparql, default_graph=default_graph, named_graphs=named_graphs,
                             base_iri=base_iri)
        cancel.check()
        if isinstance(result, QueryBoolean):
            return Outcome("boolean", boolean=bool(result))
        limit = self.max_rows
        rows: list[Any] = []
        truncated = False
        if isinstance(result, QuerySolutions):
            variables = tuple(result.variables)
            width = range(len(variables))
            for solution in result:
                cancel.check()
                if limit is not None and len(rows) >= limit:
                    truncated = True
                    break
                rows.append([solution[i] for i in width])
            return Outcome("solutions", variables=variables, rows=rows, truncated=truncated)
        assert isinstance(result, QueryTriples)
        for triple in result:
            cancel.check()
            if limit is not None and len(rows) >= limit:
                truncated = True
                break
            rows.append(Triple(triple.subject, triple.predicate, triple.object))
        return Outcome("triples", rows=rows, truncated=truncated)

    def close(self) -> None:
        """Stop the worker threads (running queries stop at their next row)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
