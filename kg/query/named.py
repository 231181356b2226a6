"""Named, parameterised SPARQL queries: the paper's Q1–Q7 and provml's own.

Each query is a ``.rq`` file in ``provml/query/queries/`` whose header (lines starting ``#+``) is a
small YAML document: name, title, the paper question it answers, description and parameters
(name, type, required, default, example, description). Parameters are bound as typed RDF terms
through a ``VALUES`` block placed at the start of each ``WHERE`` group — never
spliced into the text as strings — so a parameter cannot change the query.

Why not pyoxigraph's ``substitutions=`` on the embedded store: it follows SEP-0007, which binds only
variables of the ``SELECT`` projection, and eight parameters of the shipped queries are not
projected (``q3``'s ``metric``, ``q7``'s ``loss``, ``compare_runs``' ``run_a`` …); projecting them
would change the queries' columns. The ``VALUES`` rewriting works on every query and on every
store, embedded or remote (``tests/test_named_queries.py`` checks that limit still holds).

>>> q = get_query("q3")
>>> q.paper, [p.name for p in q.parameters][:1]
('Q3', ['training_set'])
>>> text = bind(q, {"metric": 'loss" } . ?x ?y ?z #'})
>>> '?z #" "false"^^' in text  # the whole value stayed inside one string literal
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyoxigraph import Literal, NamedNode, QuerySolutions

from provml.errors import ParameterError, QueryNotFound
from provml.store.base import Store
from provml.vocab import XSD

if TYPE_CHECKING:
    from provml.knowledge import KnowledgeGraph

__all__ = ["NamedQuery", "Parameter", "list_queries", "get_query", "bind", "run_query", "load_query_file"]

PARAMETER_TYPES = ("iri", "string", "integer", "double", "boolean")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    description: str = ""
    example: str | None = None
    required: bool = False
    default: str | None = None

    def term(self, raw: str) -> NamedNode | Literal:
        """``raw`` (text from a form, URL or command line) as a term of this parameter's type.

        :raises ParameterError: when ``raw`` is not a valid value of the type.
        """
        try:
            if self.type == "iri":
                if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", raw):
                    raise ValueError("an absolute IRI is expected (scheme:...)")
                return NamedNode(raw)
            if self.type == "integer":
                return Literal(str(int(raw)), datatype=XSD.integer)
            if self.type == "double":
                return Literal(repr(float(raw)), datatype=XSD.double)
            if self.type == "boolean":
                low = raw.strip().lower()
                if low not in ("true", "false", "1", "0"):
                    raise ValueError("true or false is expected")
                return Literal(low in ("true", "1"))
            return Literal(raw)
        except ValueError as exc:
            raise ParameterError(name=self.name, reason=f"{raw!r} is not a valid {self.type}: {exc}") from None


@dataclass(frozen=True)
class NamedQuery:
    name: str
    title: str
    description: str
    paper: str | None
    parameters: tuple[Parameter, ...]
    text: str
    source: str
    domain: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "paper": self.paper,
            "domain": self.domain,
            "parameters": [p.__dict__.copy() for p in self.parameters],
        }


def load_query_file(path: str | Path, *, text: str | None = None) -> NamedQuery:
    """Parse a ``.rq`` file with a ``#+`` YAML header (a plain query gets an empty header).

    :raises provml.errors.Error: the header is not valid.
    """
    import yaml

    source = str(path)
    body = text if text is not None else Path(path).read_text(encoding="utf-8")
    header = "\n".join(line[3:] if line.startswith("#+ ") else line[2:] for line in body.splitlines()
                       if line.startswith("#+"))
    meta: dict[str, Any] = yaml.safe_load(header) if header else {}
    meta = meta or {}
    params = []
    for p in meta.get("parameters") or ():
        if p.get("type", "string") not in PARAMETER_TYPES:
            raise ParameterError(name=p.get("name", "?"), reason=f"type must be one of {PARAMETER_TYPES}")
        params.append(
            Parameter(
                name=p["name"],
                type=p.get("type", "string"),
                description=p.get("description", ""),
                example=None if p.get("example") is None else str(p["example"]),
                required=bool(p.get("required", False)),
                default=None if p.get("default") is None else str(p["default"]),
            )
        )
    return NamedQuery(
        name=meta.get("name", Path(path).stem),
        title=meta.get("title", Path(path).stem),
        description=str(meta.get("description", "")).strip(),
        paper=meta.get("paper"),
        parameters=tuple(params),
        text=body,
        source=source,
        domain=meta.get("domain"),
    )


@cache
def _catalogue() -> dict[str, NamedQuery]:
    folder = files("provml.query.queries")
    queries = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".rq"):
            q = load_query_file(entry.name, text=entry.read_text(encoding="utf-8"))
            queries[q.name] = q
    return queries


def list_queries() -> list[NamedQuery]:
    """The shipped named queries, in name order."""
    return list(_catalogue().values())


def get_query(name: str) -> NamedQuery:
    """The named query ``name``.

    :raises QueryNotFound: when there is none.
    """
    try:
        return _catalogue()[name]
    except KeyError:
        raise QueryNotFound(name=name) from None


_WHERE = re.compile(r"\bWHERE\s*\{", re.IGNORECASE)


def bind(query: NamedQuery, params: Mapping[str, str]) -> str:
    """The query text with ``params`` bound as typed terms in a leading ``VALUES`` block.

    Missing optional parameters stay unbound (the query answers for every candidate), unless the
    parameter declares a default.

    :raises ParameterError: unknown parameter, missing required one, or a value of the wrong type.
    """
    known = {p.name: p for p in query.parameters}
    for name in params:
        if name not in known:
            raise ParameterError(name=name, reason=f"unknown; {query.name} takes {sorted(known) or 'none'}")
    names: list[str] = []
    terms: list[str] = []
    for p in query.parameters:
        raw = params.get(p.name, p.default)
        if raw is None or raw == "":
            if p.required:
                raise ParameterError(name=p.name, reason="is required")
            continue
        names.append("?" + p.name)
        terms.append(str(p.term(str(raw))))
    if not names:
        return query.text
    matches = list(_WHERE.finditer(_strip_comments(query.text)))
    if not matches:
        raise ParameterError(name=names[0], reason=f"query {query.name} has no WHERE group to bind into")
    # every group (the query's and its sub-selects') sees the parameters: a sub-select's variables
    # are its own, so binding only the outer group would not restrict what the sub-select computes
    values = f" VALUES ({' '.join(names)}) {{ ({' '.join(terms)}) }} "
    text = query.text
    for match in reversed(matches):
        text = text[: match.end()] + values + text[match.end() :]
    return text


def _strip_comments(text: str) -> str:
    """``text`` with comment characters blanked (same length, so offsets stay valid)."""
    return re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), text)


def run_query(
    store: Store | KnowledgeGraph, name_or_query: str | NamedQuery, params: Mapping[str, str] | None = None
) -> QuerySolutions:
    """Run a named query (by name, or a :class:`NamedQuery`) on ``store`` with ``params`` bound.

    :param store: a :class:`provml.store.base.Store` or :class:`provml.knowledge.KnowledgeGraph`.
    :raises QueryNotFound: no query of that name.
    :raises ParameterError: a bad parameter.
    """
    query = get_query(name_or_query) if isinstance(name_or_query, str) else name_or_query
    target = store if isinstance(store, Store) else store.store
    result = target.query(bind(query, params or {}), use_default_graph_as_union=True)
    if not isinstance(result, QuerySolutions):
        raise ParameterError(name="(query)", reason=f"{query.name} is not a SELECT query")
    return result
