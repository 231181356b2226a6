"""What evaluating a query gives back: an :class:`Outcome` (its rows, read under the limits), or
one of the refusals the endpoint answers with a status of its own (the error handlers of
:mod:`provml.endpoint.app` map each to its answer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyoxigraph import Variable

__all__ = ["Outcome", "QueryCrashed", "QueryFailed", "QueryRejected", "QueryTimeout"]


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
