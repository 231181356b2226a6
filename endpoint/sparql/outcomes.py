"""What evaluating a query gives back: an :class:`Outcome` (its rows, read under the limits), or
one of the refusals the endpoint answers with a status of its own (the error handlers of
:mod:`provml.endpoint.app` map each to its answer); and what the query runner needs of the
worker processes that evaluate queries (:class:`Processes`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyoxigraph import NamedNode, Variable

from provml.endpoint.sparql.results import Rendered

__all__ = ["Outcome", "Processes", "QueryCrashed", "QueryFailed", "QueryRejected", "QueryTimeout"]


class QueryTimeout(Exception):
    """The query ran past the endpoint's time limit (answered 503)."""


class QueryRejected(Exception):
    """Every worker is busy, also after a short wait (answered 503, nothing evaluated)."""


class QueryFailed(Exception):
    """The worker could not evaluate the query: its store view failed, or an allowed SERVICE
    did not answer (answered 503 with Retry-After)."""


class QueryCrashed(Exception):
    """The evaluation ended its worker process: a stack overflow (chained or nested too deep)
    or the worker's memory limit (answered 400)."""


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


class Processes(Protocol):
    """What :class:`~provml.endpoint.sparql.evaluation.QueryRunner` needs of :class:`~provml.endpoint.sparql.isolation.QueryProcesses`
    (a protocol, so the runner's module does not import the one that imports it)."""

    path: str | None

    def run(self, sparql: str, *, timeout_s: float | None,
            default_graph: Sequence[NamedNode] | None = ...,
            named_graphs: Sequence[NamedNode] | None = ..., union: bool = ...,
            base_iri: str | None = ..., max_rows: int | None = ...,
            accept: str | None = ...) -> Outcome | Rendered: ...

    def probe(self, sparql: str, *, update: bool, timeout_s: float | None,
              base_iri: str | None = ...) -> None: ...

    def export(self, graph: str, *, media: str, profile: str,
               timeout_s: float | None) -> bytes: ...

    def trial_update(self, backup: str, sparql: str, *, timeout_s: float | None,
                     base_iri: str | None, using: Any, using_named: Any,
                     max_rows: int | None = ...) -> None: ...

    def dump(self, *, step_s: float | None, total_s: float | None) -> Iterator[bytes]: ...

    def changed(self) -> None: ...

    def close(self) -> None: ...
