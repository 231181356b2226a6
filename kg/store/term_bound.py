"""How long a term of RDF written to the store may be: what every export of the store reads back.

Capture events are held to their bound at the door (:mod:`provml.events.lengths`, which says
what pyoxigraph's readers take and why). RDF written to the store directly is held here to the
same bound on its terms: ``provml load`` of RDF files (their ontology graphs too),
:meth:`~provml.knowledge.KnowledgeGraph.ingest_rdf` and
:meth:`~provml.knowledge.KnowledgeGraph.ingest_quads` (so ``provml import prov-json``), and the
endpoint's Graph Store (``PUT`` / ``POST``). Before, a literal past 8 MiB as written was stored
that way, and a JSON-LD export of the store holding it could not be loaded again (past 16 MiB,
N-Quads and TriG neither).

- a literal's text: at most :data:`~provml.events.lengths.MAX_WRITTEN` (7 MiB) as written
  (:func:`~provml.events.lengths.written_size`: its UTF-8, escapes included), measured only past
  :data:`~provml.events.lengths.MAX_TEXT` characters (``len()`` is all a shorter one costs);
- an IRI (a subject, predicate, object, graph name or datatype), a blank node's label and a
  language tag: at most :data:`~provml.events.lengths.MAX_TEXT` (1 MiB) characters, 4 MiB of
  UTF-8 at most: a statement of two such IRIs and the longest literal stays under the 16 MiB
  that N-Quads and TriG readers buffer, and each under the 8 MiB of a JSON-LD string.

The endpoint holds SPARQL Update to the same bound before an update is applied, on its own
terms and on what its ``WHERE`` builds (:mod:`provml.endpoint.sparql.update_bound`).

>>> from pyoxigraph import Literal, NamedNode, Quad
>>> e = NamedNode("http://e.org/e")
>>> long_term(Quad(e, e, Literal("x" * 10))) is None
True
>>> print(long_term(Quad(e, e, Literal("\\n" * (4 << 20)))))  # doctest: +ELLIPSIS
the object of a quad about <http://e.org/e> (<http://e.org/e>) holds 8,388,608 bytes as written (UTF-8, escapes included), more than the 7,340,032 (7 MiB) ...
"""

from __future__ import annotations

from collections.abc import Iterable

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple

from provml.errors import TermTooLong
from provml.events.lengths import MAX_TEXT, MAX_WRITTEN, written_over

__all__ = ["long_term", "refuse_long_terms"]

#: what an error quotes of the subject and predicate of the quad at fault
_QUOTED = 200


def _over(term: object) -> tuple[int, int, str] | None:
    """``(size, limit, what is counted)`` of ``term`` past its bound, else None."""
    if isinstance(term, Literal):
        if (size := written_over(term.value)) is not None:
            return size, MAX_WRITTEN, "bytes as written (UTF-8, escapes included)"
        language = term.language or ""
        if len(language) > MAX_TEXT:
            return len(language), MAX_TEXT, "characters of language tag"
        return _over(term.datatype)
    if isinstance(term, (NamedNode, BlankNode)):
        if len(term.value) > MAX_TEXT:
            kind = "IRI" if isinstance(term, NamedNode) else "blank node label"
            return len(term.value), MAX_TEXT, f"characters of {kind}"
        return None
    if isinstance(term, Triple):
        for part in (term.subject, term.predicate, term.object):
            if (found := _over(part)) is not None:
                return found
    return None  # (the default graph)


def _quoted(term: object) -> str:
    text = str(term)
    return text if len(text) <= _QUOTED else text[:_QUOTED] + "…"


def long_term(quad: Quad) -> TermTooLong | None:
    """The error for the first term of ``quad`` past its bound, else None."""
    for position, term in (("object", quad.object), ("subject", quad.subject),
                           ("predicate", quad.predicate), ("graph name", quad.graph_name)):
        found = _over(term)
        if found is not None:
            size, limit, counted = found
            return TermTooLong(position=position, subject=_quoted(quad.subject),
                               predicate=_quoted(quad.predicate), size=size, limit=limit,
                               counted=counted, bound=f"{limit >> 20} MiB")
    return None


def refuse_long_terms(quads: Iterable[Quad]) -> None:
    """Raise the error of the first quad of ``quads`` with a term past its bound.

    :raises provml.errors.TermTooLong: a term is longer than an export of the store reads back.
    """
    for quad in quads:
        if _spelt(quad) > MAX_TEXT and (error := long_term(quad)) is not None:
            raise error


def _spelt(quad: Quad) -> int:
    """At least the longest text of ``quad``'s terms, in characters (more than :data:`MAX_TEXT`
    for a triple term: :func:`long_term` looks into it): one sum for the common quad."""
    subject, o = quad.subject, quad.object
    if isinstance(o, Literal):
        size = len(o.value) + len(o.datatype.value) + len(o.language or "")
    elif isinstance(o, (NamedNode, BlankNode)):
        size = len(o.value)
    else:
        return MAX_TEXT + 1
    if isinstance(subject, Triple):
        return MAX_TEXT + 1
    return size + len(subject.value) + len(quad.predicate.value) + len(getattr(quad.graph_name, "value", ""))
