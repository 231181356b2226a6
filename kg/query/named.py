"""Named, parameterised SPARQL queries: the paper's Q1–Q7 and provml's own.

Each query is a ``.rq`` file in ``provml/query/queries/`` whose header (lines starting ``#+``) is a
small YAML document: name, title, the paper question it answers, description and parameters
(name, type, required, default, example, description). Parameters are bound as typed RDF terms
through a ``VALUES`` block placed at the start of each ``WHERE`` group (and of the query's own
group written without ``WHERE``; IRIs, string literals and comments are skipped) — never
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

from provml.errors import Error, ParameterError, QueryNotFound
from provml.store.base import Store
from provml.vocab import XSD

if TYPE_CHECKING:
    from provml.knowledge import KnowledgeGraph

__all__ = ["NamedQuery", "Parameter", "list_queries", "get_query", "bind", "run_query", "load_query_file", "query_form"]

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

    :raises provml.errors.Error: the file is not UTF-8 text, or its header is not valid (not
        YAML, not a mapping, ``parameters`` not a list of mappings each with a ``name``), named
        by the file.
    :raises OSError: the file cannot be read.
    """
    import yaml

    source = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise Error(f"{source}: not UTF-8 text (byte {exc.start}); save the query as UTF-8") from None
    body = text
    lines = [(n, line) for n, line in enumerate(body.splitlines(), 1) if line.startswith("#+")]
    header = "\n".join(line[3:] if line.startswith("#+ ") else line[2:] for _, line in lines)
    try:
        meta = yaml.safe_load(header) if header else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{lines[min(mark.line, len(lines) - 1)][0]}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise Error(f"{source}{where}: the #+ header is not valid YAML ({problem}); "
                    "fix the lines that start with #+") from None
    meta = meta or {}
    if not isinstance(meta, dict):
        raise Error(f"{source}: the #+ header must be a YAML mapping (name:, title:, parameters: ...), "
                    f"not {type(meta).__name__} {meta!r}")
    declared = meta.get("parameters") or []
    if not isinstance(declared, list):
        raise Error(f"{source}: parameters: must be a YAML list of parameters "
                    f"(- {{name: x, type: iri}}), not {declared!r}")
    params = []
    for p in declared:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not _VARIABLE.fullmatch(p["name"]):
            raise Error(f"{source}: parameter {p!r}: each parameter is a mapping whose name is a "
                        "SPARQL variable name (- {name: x, type: iri})")
        if p.get("type", "string") not in PARAMETER_TYPES:
            raise ParameterError(name=p["name"], reason=f"type must be one of {PARAMETER_TYPES}")
        params.append(
            Parameter(
                name=p["name"],
                type=p.get("type", "string"),
                description=str(p.get("description", "")),
                example=None if p.get("example") is None else str(p["example"]),
                required=bool(p.get("required", False)),
                default=None if p.get("default") is None else str(p["default"]),
            )
        )
    return NamedQuery(
        name=str(meta.get("name", Path(path).stem)),
        title=str(meta.get("title", Path(path).stem)),
        description=str(meta.get("description", "")).strip(),
        paper=meta.get("paper"),
        parameters=tuple(params),
        text=body,
        source=source,
        domain=meta.get("domain"),
    )


#: a SPARQL variable name (VARNAME: letters, digits, ``_``): what a parameter binds as ``?name``
_VARIABLE = re.compile(r"\w+")


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


#: what can hold a ``{``, ``#`` or ``WHERE`` that is no part of the query's structure: IRIs,
#: string literals (the long forms first) and comments
_OPAQUE = re.compile(
    r"""<[^<>"{}|^`\\\x00-\x20]*>"""
    r'''|"""(?:[^"\\]|\\.|"(?!""))*"""'''
    r"""|'''(?:[^'\\]|\\.|'(?!''))*'''"""
    r"""|"(?:[^"\\\n\r]|\\.)*"|'(?:[^'\\\n\r]|\\.)*'"""
    r"|#[^\n\r]*",
    re.DOTALL,
)
#: a keyword, not the end of a variable (``?where``) or of a prefixed name (``ex:where``)
_KEYWORD = r"(?<![\w?$:])"
_WHERE = re.compile(_KEYWORD + r"WHERE\s*\{", re.IGNORECASE)
_FORM = re.compile(_KEYWORD + r"(SELECT|CONSTRUCT|ASK|DESCRIBE)\b", re.IGNORECASE)


def _blank_opaque(text: str) -> str:
    """``text`` with its IRIs, string literals and comments blanked (same length, so offsets stay
    valid): what is left is the query's structure."""
    return _OPAQUE.sub(lambda m: " " * len(m.group()), text)


def query_form(text: str) -> str | None:
    """The form of the SPARQL query ``text`` (``SELECT``, ``CONSTRUCT``, ``ASK``, ``DESCRIBE``), or
    None when it has none (an update, or no query).

    >>> query_form('PREFIX p: <http://e.org/ask#> # SELECT\\nconstruct { ?s ?p "SELECT" } { ?s ?p ?o }')
    'CONSTRUCT'
    """
    match = _FORM.search(_blank_opaque(text))
    return match.group(1).upper() if match else None


def _groups(text: str) -> list[int]:
    """Where the ``VALUES`` block goes: just after the ``{`` of every ``WHERE`` group (the query's
    and its sub-selects'), and of the query's own group when it is written without ``WHERE``
    (``SELECT ?s { … }``). A sub-select written without ``WHERE`` is left alone, on purpose
    (docs/queries.md, "Writing queries that stay fast")."""
    plain = _blank_opaque(text)
    found = {m.end() for m in _WHERE.finditer(plain)}
    form = _FORM.search(plain)
    if form is not None:
        at = _next_brace(plain, form.end())
        if form.group(1).upper() == "CONSTRUCT" and at is not None and not plain[form.end():at].strip():
            at = _next_brace(plain, _closing(plain, at))  # after the template: CONSTRUCT { … } { … }
        if at is not None:
            found.add(at + 1)
    return sorted(found)


def _next_brace(plain: str, start: int) -> int | None:
    """The first ``{`` from ``start`` outside parentheses (a projection's ``(… AS ?x)``), or None."""
    depth = 0
    for i in range(start, len(plain)):
        c = plain[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(depth - 1, 0)
        elif c == "{" and depth == 0:
            return i
    return None


def _closing(plain: str, opening: int) -> int:
    """Just after the ``}`` that closes the ``{`` at ``opening`` (the end of the text if none)."""
    depth = 0
    for i in range(opening, len(plain)):
        if plain[i] == "{":
            depth += 1
        elif plain[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(plain)


def bind(query: NamedQuery, params: Mapping[str, str]) -> str:
    """The query text with ``params`` bound as typed terms in a leading ``VALUES`` block of every
    ``WHERE`` group (and of the query's own group written without ``WHERE``); IRIs, string
    literals and comments are never taken for a group.

    Missing optional parameters stay unbound (the query answers for every candidate), unless the
    parameter declares a default.

    :raises ParameterError: unknown parameter, missing required one, or a value of the wrong type.
    :raises provml.errors.Error: the query has no group to bind the parameters into.
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
    groups = _groups(query.text)
    if not groups:
        raise Error(f"the query {query.source} has no {{ … }} group to bind its parameters "
                    f"({', '.join(names)}) into: is it a SPARQL query?")
    # every group (the query's and its sub-selects') sees the parameters: a sub-select's variables
    # are its own, so binding only the outer group would not restrict what the sub-select computes
    values = f" VALUES ({' '.join(names)}) {{ ({' '.join(terms)}) }} "
    text = query.text
    for at in reversed(groups):
        text = text[:at] + values + text[at:]
    return text


def run_query(
    store: Store | KnowledgeGraph, name_or_query: str | NamedQuery, params: Mapping[str, str] | None = None
) -> QuerySolutions:
    """Run a named query (by name, or a :class:`NamedQuery`) on ``store`` with ``params`` bound.

    :param store: a :class:`provml.store.base.Store` or :class:`provml.knowledge.KnowledgeGraph`.
    :raises QueryNotFound: no query of that name.
    :raises ParameterError: a bad parameter.
    """
    query = get_query(name_or_query) if isinstance(name_or_query, str) else name_or_query
    form = query_form(query.text)
    if form not in ("SELECT", None):  # None: no query form; the store says what is wrong
        raise Error(_NOT_SELECT.format(source=query.source, form=form))
    target = store if isinstance(store, Store) else store.store
    result = target.query(bind(query, params or {}), use_default_graph_as_union=True)
    if not isinstance(result, QuerySolutions):
        raise Error(_NOT_SELECT.format(source=query.source, form="its answer is no table"))
    return result


_NOT_SELECT = ("the query {source} is not a SELECT query ({form}): named queries and query files "
               "answer with a table of rows; send other queries to the endpoint's /sparql (provml serve)")
