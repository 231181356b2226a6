"""What evaluating a query gives back: an :class:`Outcome` (its rows, read under the limits), or
one of the refusals the endpoint answers with a status of its own (the error handlers of
:mod:`provml.endpoint.app` map each to its answer), or a refusal of the client's mistake that Oxigraph reports as
a ``RuntimeError`` (:func:`client_error`); and what the query runner needs of the
worker processes that evaluate queries (:class:`Processes`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyoxigraph import NamedNode, Variable

from provml.endpoint.limits import InputRefused
from provml.endpoint.sparql.results import Rendered

__all__ = ["Outcome", "Processes", "QueryCrashed", "QueryFailed", "QueryRejected", "QueryTimeout",
           "client_error"]


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

#: pyoxigraph's evaluation errors for a call ``<iri>(…)`` of a function it does not implement,
#: or with the wrong number of arguments (a cast ``xsd:integer(1, 2)``)
_FUNCTION_ERROR = re.compile(r"The custom function (<[^>]*>) (is not supported|requires .*)",
                             re.DOTALL)

#: pyoxigraph's update errors for ``DROP``/``CLEAR``/``MOVE`` of a missing graph and ``CREATE``
#: of an existing one (SPARQL 1.1 Update: they fail unless ``SILENT``)
_GRAPH_ERROR = re.compile(r"The graph (<[^>]*>) (does not exist|already exists)")


def client_error(error: BaseException) -> InputRefused | None:
    """The refusal (400) for ``error`` when it is Oxigraph's report of the client's mistake,
    not of a failure of the server, else None: a query calling a function Oxigraph does not
    implement, or with the wrong number of arguments; an update's operation on a missing (or,
    for ``CREATE``, existing) graph without ``SILENT`` (the update is one transaction: nothing
    was written).

    >>> import pyoxigraph
    >>> try:
    ...     pyoxigraph.Store().query("SELECT (<http://e.org/f>(1) AS ?x) {}")
    ... except RuntimeError as error:
    ...     print(client_error(error))
    the function <http://e.org/f> is not supported here; call the SPARQL 1.1 built-in functions or casts to XSD datatypes
    >>> try:
    ...     pyoxigraph.Store().query("SELECT (<http://www.w3.org/2001/XMLSchema#integer>() AS ?x) {}")
    ... except RuntimeError as error:
    ...     print(client_error(error))
    the function <http://www.w3.org/2001/XMLSchema#integer> requires between 1 and 1 arguments, but 0 were given
    >>> try:
    ...     pyoxigraph.Store().update("DROP GRAPH <http://e.org/g>")
    ... except RuntimeError as error:
    ...     print(client_error(error))
    the graph <http://e.org/g> does not exist: DROP, CLEAR and MOVE of a missing graph and CREATE of an existing one fail unless SILENT; nothing was changed
    """
    if type(error) is not RuntimeError:
        return None
    text = str(error)
    graph = _GRAPH_ERROR.fullmatch(text)
    if graph is not None:
        return InputRefused(f"the graph {graph[1]} {graph[2]}: DROP, CLEAR and MOVE of a "
                            "missing graph and CREATE of an existing one fail unless SILENT; "
                            "nothing was changed")
    function = _FUNCTION_ERROR.fullmatch(text)
    if function is None:
        return None
    if function[2] != "is not supported":
        return InputRefused(f"the function {function[1]} {function[2]}")
    return InputRefused(f"the function {function[1]} is not supported here; call the SPARQL "
                        "1.1 built-in functions or casts to XSD datatypes")



class Processes(Protocol):
    """What :class:`~provml.endpoint.sparql.evaluation.QueryRunner` needs of :class:`~provml.endpoint.sparql.isolation.QueryProcesses`
    (a protocol, so the runner's module does not import the one that imports it)."""

    path: str | None

    def run(self, sparql: str, *, timeout_s: float | None,
            default_graph: Sequence[NamedNode] | None = ...,
            named_graphs: Sequence[NamedNode] | None = ..., union: bool = ...,
            base_iri: str | None = ..., max_rows: int | None = ...,
            accept: str | None = ..., max_bytes: int | None = ...) -> Outcome | Rendered: ...

    def probe(self, sparql: str, *, update: bool, timeout_s: float | None,
              base_iri: str | None = ...) -> None: ...

    def export(self, graph: str, *, media: str, profile: str,
               timeout_s: float | None, max_bytes: int | None = ...) -> bytes: ...

    def trial_update(self, backup: str, sparql: str, *, timeout_s: float | None,
                     base_iri: str | None, using: Any, using_named: Any,
                     max_rows: int | None = ...) -> None: ...

    def dump(self, *, step_s: float | None, total_s: float | None) -> Iterator[bytes]: ...

    def changed(self) -> None: ...

    def close(self) -> None: ...
