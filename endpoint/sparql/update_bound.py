"""What an update may write: the bound on a term's text that every export of the store reads
back (:mod:`provml.store.term_bound`), held before the update is applied.

- **The update's own terms** (``INSERT DATA``, a template's constants): a string past
  :data:`~provml.events.lengths.MAX_WRITTEN` bytes as written once its escapes are read, an IRI
  or a name past :data:`~provml.events.lengths.MAX_TEXT` characters, are refused
  (:func:`long_token`, on the tokens :func:`~provml.endpoint.sparql.updates.where_parts` reads).
  An update is bounded only by the body limit (64 MiB), so an ``INSERT DATA`` of a 9 MiB
  literal was stored (a review, twenty-ninth session).
- **What a ``WHERE`` builds** (``BIND(CONCAT(…) AS ?v)``, ``STRLANG``, ``IRI``, ``TRIPLE``, a
  sub-select's ``AS``) for a variable of the operation's ``INSERT`` template: the counting
  query of the ``WHERE`` also reads the longest lexical form (:func:`lengths`) and the longest
  IRI, language tag or datatype IRI each such variable is bound to — for a triple term, its
  object's lexical form and the longest of its three parts' names (a triple term nested in it is
  not measured). Past :data:`MAX_WRITTEN` characters for a lexical form (a text that long is
  longer as written), past :data:`MAX_TEXT` for a name, the update is refused
  (:func:`too_long`). A variable matched in the store holds a term the store holds, and is not
  measured: a copy costs its count alone.

Not measured: a built text between ≈ 1.2 Mi and 7 Mi characters that is past 7 MiB as written
(control characters, ``\\n``, non-ASCII), which SPARQL cannot count in bytes.

>>> long_token("str", '"' + "x" * 10 + '"') is None
True
>>> print(long_token("iri", "<http://e/" + "x" * MAX_TEXT + ">"))  # doctest: +ELLIPSIS
the update holds an IRI of 1,048,585 characters, more than the 1,048,576 ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from provml.events.lengths import MAX_TEXT, MAX_WRITTEN, written_over

__all__ = ["lengths", "long_token", "too_long"]

_ECHAR = re.compile(r"\\(.)", re.DOTALL)
_ECHARS = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f"}
_WHY = ("an export of the store holding it could not be read back (RDF parsers buffer a term of "
        "at most 8 MiB as written, in JSON-LD). Keep such data as a file and link it by its IRI")


def long_token(kind: str | None, token: str) -> str | None:
    """The refusal for a token of an update (its ``\\u`` escapes applied) that would write a term
    past the bound, else None: a string's value past :data:`MAX_WRITTEN` bytes as written, an
    IRI or a name (a prefixed name's local part, a variable) past :data:`MAX_TEXT` characters.
    Only a token past :data:`MAX_TEXT` characters is looked at closely."""
    if len(token) <= MAX_TEXT:
        return None
    if kind == "str":
        quotes = 3 if token[:3] in ("'''", '"""') else 1
        value = _ECHAR.sub(lambda m: _ECHARS.get(m.group(1), m.group(1)), token[quotes:-quotes])
        if (size := written_over(value)) is None:
            return None
        return (f"the update holds a string of {size:,} bytes as written (UTF-8, escapes included), "
                f"more than the {MAX_WRITTEN:,} (7 MiB) a term of the store may take: {_WHY}")
    what = "an IRI" if kind == "iri" else "a name"
    size = len(token) - 2 if kind == "iri" else len(token)
    if size <= MAX_TEXT:
        return None
    return (f"the update holds {what} of {size:,} characters, more than the {MAX_TEXT:,} (1 MiB) "
            f"a term of the store may take: {_WHY}")


def _max(a: str, b: str) -> str:
    return f"IF({a} > {b}, {a}, {b})"


def _text(x: str) -> str:
    return f"IF(isLiteral({x}), STRLEN(STR({x})), 0)"


def _name(x: str) -> str:
    return (f"IF(isIRI({x}), STRLEN(STR({x})), IF(isLiteral({x}), "
            f"{_max(f'STRLEN(LANG({x}))', f'STRLEN(STR(DATATYPE({x})))')}, 0))")


def lengths(variables: Sequence[str]) -> str:
    """The aggregates a counting query adds for ``variables`` (those an ``INSERT`` template
    writes that its ``WHERE`` binds with ``AS``): for each, the longest lexical form of a
    literal it is bound to, and the longest IRI, language tag or datatype IRI (0 for a blank
    node, unbound, or an error)."""
    out = []
    for i, v in enumerate(variables):
        parts = [f"SUBJECT({v})", f"PREDICATE({v})", f"OBJECT({v})"]
        text = f"COALESCE(IF(isTRIPLE({v}), {_text(parts[2])}, {_text(v)}), 0)"
        name = (f"COALESCE(IF(isTRIPLE({v}), {_max(_name(parts[0]), _max(_name(parts[1]), _name(parts[2])))}, "
                f"{_name(v)}), 0)")
        out.append(f" (MAX({text}) AS ?provml_t{i}) (MAX({name}) AS ?provml_i{i})")
    return "".join(out)


def too_long(row: Sequence[Any]) -> str | None:
    """The refusal for a counting query's row (its count, then :func:`lengths`' pairs) whose
    template would write a term past the bound, else None."""
    def number(term: Any) -> int:
        return 0 if term is None else int(term.value)

    texts = [number(t) for t in row[1::2]]
    names = [number(t) for t in row[2::2]]
    if max(texts, default=0) > MAX_WRITTEN:
        return (f"the update's INSERT template would write a text of {max(texts):,} characters; "
                f"past {MAX_WRITTEN:,} characters it is past the {MAX_WRITTEN:,} bytes as written "
                f"(7 MiB) a term of the store may take: {_WHY}")
    if max(names, default=0) > MAX_TEXT:
        return (f"the update's INSERT template would write an IRI, language tag or datatype of "
                f"{max(names):,} characters, more than the {MAX_TEXT:,} (1 MiB) a term of the "
                f"store may take: {_WHY}")
    return None
