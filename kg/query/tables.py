"""SPARQL results as plain-text tables for terminals, with known namespaces shortened.

>>> from pyoxigraph import Store
>>> print(render_table(Store().query('SELECT ?x WHERE { VALUES ?x { <http://www.w3.org/ns/prov#used> 1 } }')))
x
----------
prov:used
1
"""

from __future__ import annotations

import re
from typing import Any

from pyoxigraph import Literal, NamedNode, QuerySolutions

from provml.vocab import MLS, PROV, PROVML, RDF, RDFS, XSD

__all__ = ["render_table", "short", "visible"]

PREFIXES = {PROVML.NS: "provml:", PROV.NS: "prov:", MLS.NS: "mls:", RDF.NS: "rdf:", RDFS.NS: "rdfs:", XSD.NS: "xsd:"}


def short(term: Any, *, base: str | None = None) -> str:
    """A compact text for a term: prefixed names, ``…/`` for the instance base, bare literal values."""
    if term is None:
        return ""
    if isinstance(term, NamedNode):
        for ns, prefix in PREFIXES.items():
            if term.value.startswith(ns):
                return prefix + term.value[len(ns):]
        if base and term.value.startswith(base):
            return "…/" + term.value[len(base):]
        return term.value
    if isinstance(term, Literal):
        return term.value
    return str(term)


#: the characters a terminal acts on instead of showing (C0 and C1 controls, DEL) and those that
#: reorder the text shown around them (bidirectional embeddings, overrides and isolates)
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    r"""``text`` for a terminal: control characters (escape sequences, bell, line breaks) and the
    bidirectional controls written as escapes (``\x1b``, ``\n``, ``\u202e``), so a value
    captured from a program can neither act on the terminal nor break the table's rows.

    >>> visible("\x1b]0;title\x07two\nlines\u202e")
    '\\x1b]0;title\\x07two\\nlines\\u202e'
    """
    return _UNSHOWN.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def render_table(solutions: QuerySolutions, *, base: str | None = None, max_width: int = 60) -> str:
    """Aligned columns, one row per solution; cells longer than ``max_width`` are cut with ``…``.
    For a terminal: control characters in the values are shown escaped (:func:`visible`); the
    CSV and JSON results (``provml query --format``) keep the values exact."""
    names = [v.value for v in solutions.variables]
    rows = [[visible(short(s[n], base=base)) for n in names] for s in solutions]
    rows = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in r] for r in rows]
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
    widths = [max(w, 10) for w in widths]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(names), "  ".join("-" * w for w in widths).rstrip()]
    out += [line(r) for r in rows]
    return "\n".join(out)
