"""SPARQL updates under the query limits.

An update runs in the server process, which owns the store read-write (the worker processes
hold read-only views), in one transaction that pyoxigraph cannot interrupt. What can make an
update long or large is its ``WHERE`` part: every other operation is linear in its input
(``INSERT DATA`` / ``DELETE DATA``: the body, itself under the body limit) or in a graph of the
store (``CLEAR``, ``DROP``, ``COPY``, ``MOVE``, ``ADD``). So before an update is applied, the
``WHERE`` part of each of its operations is counted as a query, ``SELECT (COUNT(*) AS ?n)
WHERE {…}`` over the dataset the operation names (``WITH``, ``USING``, ``USING NAMED``, or the
protocol's ``using-graph-uri``), under the same limits as every query — in a worker process,
killed at the time limit and capped in memory, over an on-disk store. The update is refused,
the store unchanged, when a count runs past the time limit (503), ends its worker (400), or
finds more solutions than the row limit (400: the update would materialize them all). Only then
does the server run the update; its ``WHERE`` is the same pattern over the same data (writes
through the endpoint are serialized while this runs), so it takes about the time the count
took, and it instantiates its templates for at most the row limit of solutions.

A ``WHERE`` after other operations of the same request (an ``INSERT DATA``, a ``COPY``, even a
``DELETE`` before a ``MINUS`` or ``NOT EXISTS``) reads data the counts did not see. Such an update
is first applied whole to a backup of the store (a RocksDB checkpoint: hard links) in a worker
process, killed at the time limit and capped in memory (503 / 400, the store unchanged); over an
in-memory store, which has no backup and no worker of its own, only the counts bound it.
So is an update whose solutions times its length pass :data:`TRIAL_WORK` (a template of
thousands of triples instantiated for each of up to the row limit of solutions).

An update is held to the bound on a term's text that every export of the store reads back
(:mod:`provml.endpoint.sparql.update_bound`): its own terms as its tokens are read, and what a
``WHERE`` builds for the ``INSERT`` template in that ``WHERE``'s counting query (400 past it,
the store unchanged).

>>> [p.query for p in where_parts("PREFIX e: <http://e.org/> "
...     "WITH e:g DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }; INSERT DATA { e:a e:b e:c }")]
['PREFIX e: <http://e.org/>\\nSELECT (COUNT(*) AS ?provml_n) WHERE { ?s ?p ?o }']
>>> where_parts("WITH <http://e.org/g> DELETE WHERE { ?s ?p ?o }")[0].default_graph
[<NamedNode value=http://e.org/g>]
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pyoxigraph import NamedNode

from provml.endpoint.limits import InputRefused, sparql_syntax_error, sparql_tokens
from provml.endpoint.sparql.update_bound import lengths, long_token, too_long
from provml.events.lengths import MAX_TEXT
from provml.store.base import Store


class Runner(Protocol):
    """What :func:`count_before_update` needs of the
    :class:`~provml.endpoint.sparql.evaluation.QueryRunner` (a protocol: that module imports
    this one)."""

    max_rows: int | None
    timeout_s: float | None
    processes: Any

    def check_update(self, sparql: str) -> None: ...

    def run(self, store: Store, sparql: str, *,
            default_graph: Sequence[NamedNode] | None = ...,
            named_graphs: Sequence[NamedNode] | None = ..., union: bool = ...,
            base_iri: str | None = ...) -> Any: ...

__all__ = ["TRIAL_WORK", "Runner", "WherePart", "apply_in_steps", "count_before_update", "operations",
           "trial_update", "where_parts"]

#: an update whose WHERE solutions times its length (characters) pass this is tried on a
#: store backup in a worker first: 1,000 solutions of a 104 KB template wrote 3 million quads
#: in 66 s of the server's CPU, within the row limit; 2,000,000 is about 60,000 quads (~1 s)
TRIAL_WORK = 2_000_000


@dataclass(frozen=True)
class WherePart:
    """The ``WHERE`` of one update operation as a counting query, with the dataset the
    operation names (None: the store's default graph, all named graphs)."""

    query: str
    default_graph: list[NamedNode] | None = None
    named_graphs: list[NamedNode] | None = None
    operation: int = 0  # its operation's place in the update (0: the first)


def _node(iri: str) -> NamedNode | None:
    try:
        return NamedNode(iri)
    except ValueError:  # relative (against BASE): the store's default dataset is counted
        return None


def _repeated(spelt: int, text: str) -> None:
    """Refuse an update whose parts, each with the prologue before it, come to far more than
    its text: every part repeats the PREFIX and BASE declarations (a 124 KB update of many
    declarations and operations spelt out 136 MB; regex audit, 18th session)."""
    if spelt > 4 * len(text) + (16 << 20):
        raise InputRefused(f"the update repeats its PREFIX and BASE declarations into each of its "
                           f"operations, {spelt:,} characters in all; send fewer operations a "
                           "request, or fewer declarations")


def where_parts(update: str) -> list[WherePart]:
    """The ``WHERE`` parts of ``update``'s operations, in order (none for ``INSERT DATA``,
    ``DELETE DATA``, ``LOAD``, ``CLEAR``, ...). ``update`` has passed
    :func:`~provml.endpoint.limits.scan_sparql` (nesting bounded)."""
    text, tokens = sparql_tokens(update)
    prologue: list[str] = []
    prefixes: dict[str, str] = {}
    parts: list[WherePart] = []
    depth = 0
    pending: str | None = None  # PREFIX, PREFIX-IRI, BASE, WITH, USING, USING NAMED
    prefix_name = ""
    with_graph: NamedNode | None = None
    using: list[NamedNode] = []
    using_named: list[NamedNode] = []
    after_where = False
    group_start: int | None = None
    operation = 0
    spelt = 0  # the parts' characters, each with its prologue
    inserting = False  # after INSERT (not INSERT DATA), until its template's group closes
    template: int | None = None  # the depth of the INSERT template being read, if any
    written: list[str] = []  # the variables the operation's INSERT template writes
    built: set[str] = set()  # those its WHERE binds with ``AS`` (BIND, a sub-select's expression)
    after_as = False

    def dataset(iri: str) -> None:
        nonlocal with_graph
        node = _node(iri)
        if node is None:
            return
        if pending == "WITH":
            with_graph = node
        elif pending == "USING":
            using.append(node)
        else:
            using_named.append(node)

    for match in tokens:
        kind, value = match.lastgroup, match.group()
        if len(value) > MAX_TEXT and kind != "comment" and (refusal := long_token(kind, value)) is not None:
            raise InputRefused(refusal)
        if kind in ("comment", "str"):
            continue
        if kind == "open":
            if depth == 0 and after_where and value == "{":
                group_start = match.start()
            if depth == 0 and inserting and value == "{":
                template, inserting = depth, False
            depth += 1
            continue
        if kind == "close":
            depth = max(depth - 1, 0)
            if depth == template:
                template = None
            if depth == 0 and group_start is not None:
                default = using or ([with_graph] if with_graph is not None else None)
                named = using_named or ([] if using else None)
                spelt += sum(map(len, prologue)) + match.end() - group_start
                _repeated(spelt, text)
                parts.append(WherePart(
                    "\n".join([*prologue, "SELECT (COUNT(*) AS ?provml_n)"
                               + lengths([v for v in written if v in built])
                               + " WHERE " + text[group_start:match.end()]]),
                    default, named, operation))
                group_start, after_where = None, False
            continue
        if depth > 0:
            if kind == "word" and value[0] in "?$" and len(value) > 1:
                if template is not None and "?" + value[1:] not in written:
                    written.append("?" + value[1:])
                elif after_as and group_start is not None:
                    built.add("?" + value[1:])
            after_as = kind == "word" and value.upper() == "AS"
            continue
        if kind == "word":
            upper = value.upper()
            if pending == "PREFIX":
                prefix_name, pending = value.rstrip(":") if value.endswith(":") else value, "PREFIX-IRI"
                continue
            if pending in ("WITH", "USING", "USING NAMED") and ":" in value:
                name, _, local = value.partition(":")
                if name in prefixes:
                    dataset(prefixes[name] + local)
                pending = None
                continue
            if upper == "NAMED" and pending == "USING":
                pending = "USING NAMED"
                continue
            pending = upper if upper in ("PREFIX", "BASE", "WITH", "USING") else None
            if upper == "WHERE":
                after_where = True
            inserting = upper == "INSERT"  # (INSERT DATA: the next word ends it)
            continue
        if kind == "iri":
            if pending == "PREFIX-IRI":
                prefixes[prefix_name] = value[1:-1]
                prologue.append(f"PREFIX {prefix_name}: {value}")
            elif pending == "BASE":
                prologue.append(f"BASE {value}")
            elif pending in ("WITH", "USING", "USING NAMED"):
                dataset(value[1:-1])
            pending = None
            continue
        if value == ";":  # the next operation: its own WITH / USING
            with_graph, using, using_named, after_where = None, [], [], False
            operation += 1
            written, built = [], set()
        pending = None
    return parts


def operations(update: str) -> list[str]:
    """The operations of ``update`` (split at its top-level ``;``), each after the ``PREFIX`` and
    ``BASE`` declarations made before it in the request (they hold for the operations after
    them). ``update`` has passed :func:`~provml.endpoint.limits.scan_sparql`. The i-th item is
    the operation of :attr:`WherePart.operation` i (an empty one is an empty string).

    >>> first, second = operations("PREFIX e: <http://e.org/> INSERT DATA { e:a e:b 1 } ;"
    ...                            " DELETE WHERE { e:a ?p ?o }")
    >>> first
    'PREFIX e: <http://e.org/> INSERT DATA { e:a e:b 1 } '
    >>> second.splitlines()
    ['PREFIX e: <http://e.org/>', ' DELETE WHERE { e:a ?p ?o }']
    """
    text, tokens = sparql_tokens(update)
    out: list[str] = []
    declared: list[str] = []  # PREFIX / BASE declarations so far, in order
    before: list[str] = []  # those made before the current operation
    start = depth = spelt = 0
    begun: int | None = None  # where the PREFIX / BASE being read starts
    for match in tokens:
        kind, value = match.lastgroup, match.group()
        if kind in ("comment", "str"):
            continue
        if kind == "open":
            depth += 1
            continue
        if kind == "close":
            depth = max(depth - 1, 0)
            continue
        if depth > 0:
            continue
        if kind == "word" and value.upper() in ("PREFIX", "BASE"):
            begun = match.start()
        elif kind == "iri" and begun is not None:
            declared.append(text[begun:match.end()])
            begun = None
        elif value == ";":
            body = text[start:match.start()]
            spelt += sum(map(len, before)) + len(body)
            _repeated(spelt, text)
            out.append("\n".join([*before, body]) if body.strip() else "")
            before, start = list(declared), match.end()
    body = text[start:]
    out.append("\n".join([*before, body]) if body.strip() else "")
    return out


def _too_many(count: int, max_rows: int) -> str:
    return (f"the update's WHERE matches {count:,} solutions; this endpoint applies at most "
            f"{max_rows:,} (the row limit) per operation: split it")


def apply_in_steps(store: Store, sparql: str, *, base_iri: str | None,
                   using: Sequence[NamedNode] | None, using_named: Sequence[NamedNode] | None,
                   max_rows: int | None) -> str | None:
    """Apply ``sparql`` to ``store`` (a backup: :func:`trial_update`) one operation at a time,
    counting the ``WHERE`` of each operation after the first on the data the operations before
    it left, as the real update will see it. Returns the refusal when one matches more than
    ``max_rows`` solutions (the store then holds only the operations before it), else None."""
    parts = where_parts(sparql)
    for index, operation in enumerate(operations(sparql)):
        if not operation:
            continue
        for part in parts if index > 0 else ():
            if part.operation != index:
                continue
            default = list(using) if using is not None else part.default_graph
            named = list(using_named) if using_named is not None else part.named_graphs
            if default is not None and named is None:
                named = []
            result: Any = store.query(part.query, default_graph=default, named_graphs=named,
                                      use_default_graph_as_union=False, base_iri=base_iri)
            row = list(next(iter(result)))
            count = int(row[0].value)
            if max_rows is not None and count > max_rows:
                return _too_many(count, max_rows)
            if (refusal := too_long(row)) is not None:
                return refusal
        store.update(operation, base_iri=base_iri, using_graphs=using,
                     using_named_graphs=using_named)
    return None


def trial_update(runner: Runner, store: Store, sparql: str, *,
                 using: Sequence[NamedNode] | None, using_named: Sequence[NamedNode] | None,
                 base_iri: str | None) -> bool:
    """Apply ``sparql`` to a backup of ``store`` in one of ``runner``'s worker processes,
    under its time limit and memory cap, when they evaluate queries over an on-disk store;
    False (nothing tried) otherwise. Raises as the runner's ``run``."""
    from provml.store.oxigraph import OxigraphStore

    processes = runner.processes
    if (processes is None or getattr(processes, "path", None) is None
            or not isinstance(store, OxigraphStore) or store.path is None):
        return False
    # beside the store: on its file system the checkpoint is hard links, not a copy
    scratch = tempfile.mkdtemp(prefix=".provml-trial-", dir=store.path.parent)
    try:
        backup = str(Path(scratch) / "store")
        store.raw.backup(backup)
        processes.trial_update(backup, sparql, timeout_s=runner.timeout_s, base_iri=base_iri,
                               using=using, using_named=using_named, max_rows=runner.max_rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return True


def count_before_update(runner: Runner, store: Store, sparql: str, *,
                      using: Sequence[NamedNode] | None, using_named: Sequence[NamedNode] | None,
                      base_iri: str | None) -> None:
    """Count each ``WHERE`` part of ``sparql`` with ``runner`` (its limits), and try the
    update on a backup of ``store`` where they cannot bound it; raises where the update must be
    refused. :meth:`~provml.endpoint.sparql.evaluation.QueryRunner.update` holds the update
    lock around this, then applies the update."""
    runner.check_update(sparql)
    parts = where_parts(sparql)
    work = 0  # solutions x update length: bounds the template triples it would instantiate
    for part in parts:
        default = list(using) if using is not None else part.default_graph
        named = list(using_named) if using_named is not None else part.named_graphs
        if default is not None and named is None:
            named = []
        try:
            outcome = runner.run(store, part.query, default_graph=default, named_graphs=named,
                                 union=False, base_iri=base_iri)
        except SyntaxError as error:
            if not sparql_syntax_error(error):
                raise  # not the update's: a module of the server failed to compile
            break  # the update's own evaluation reports it, with its own position
        count = int(outcome.rows[0][0].value) if outcome.rows else 0
        work += count * len(sparql)
        if runner.max_rows is not None and count > runner.max_rows:
            raise InputRefused(_too_many(count, runner.max_rows))
        if outcome.rows and (refusal := too_long(outcome.rows[0])) is not None:
            raise InputRefused(refusal)
    if work > TRIAL_WORK or any(part.operation > 0 for part in parts):
        # a WHERE after other operations reads what they wrote or deleted, which the counts
        # above (on the store as it is) do not see; a large template instantiated for many
        # solutions writes their product: the whole update is tried first on a backup of
        # the store in a worker, killed at the time limit and capped in memory
        trial_update(runner, store, sparql, using=using, using_named=using_named,
                     base_iri=base_iri)
