"""Content negotiation through werkzeug (``Accept`` with q-values), and the format tables of the endpoint.

:func:`best_match` picks, among the media types the server offers (in its order of preference),
the one the client rates highest; the most specific range of the header decides an offer's
quality (``text/turtle;q=0`` beats ``*/*``), ties go to the server's order.

>>> best_match("text/csv;q=0.5, application/sparql-results+json", RESULTS_OFFERS)
'application/sparql-results+json'
>>> best_match("text/*;q=0.9, text/tab-separated-values", RESULTS_OFFERS)
'text/tab-separated-values'
>>> best_match("image/png", RESULTS_OFFERS) is None
True

JSON-LD comes in two forms here, told apart by the ``profile`` parameter of its media type
(JSON-LD 1.1, section "IANA Considerations"): ``http://www.w3.org/ns/json-ld#compacted`` and
``http://www.w3.org/ns/json-ld#expanded``. :func:`jsonld_forms` reads which forms an ``Accept``
takes and at what quality; :func:`jsonld_answer` writes the preferred one and says which it sent
(:func:`jsonld_type`), or that another offer is to be sent, or why none can be (406).

>>> jsonld_forms('application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded"')
(('expanded', 1.0),)
>>> jsonld_type("compacted")
'application/ld+json; profile="http://www.w3.org/ns/json-ld#compacted"'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence
from functools import lru_cache

from pyoxigraph import QueryResultsFormat, RdfFormat, parse
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from provml.store.rdfio import MEDIA_TYPES

__all__ = [
    "BOOLEAN_OFFERS",
    "COMPACTED_FIRST",
    "EXPANDED_FIRST",
    "JSONLD",
    "JSONLD_FORMS",
    "NotCompactable",
    "DATASET_OFFERS",
    "ERROR_OFFERS",
    "GRAPH_OFFERS",
    "RDF_FORMATS",
    "RESULTS_FORMATS",
    "RESULTS_OFFERS",
    "accept",
    "best_match",
    "jsonld_answer",
    "jsonld_forms",
    "jsonld_profile",
    "jsonld_type",
    "media_type",
    "written_form",
]

#: SELECT results: media type -> pyoxigraph format (first = default)
RESULTS_FORMATS: dict[str, QueryResultsFormat] = {
    "application/sparql-results+json": QueryResultsFormat.JSON,
    "application/sparql-results+xml": QueryResultsFormat.XML,
    "text/csv": QueryResultsFormat.CSV,
    "text/tab-separated-values": QueryResultsFormat.TSV,
    "application/json": QueryResultsFormat.JSON,
    "application/xml": QueryResultsFormat.XML,
}
RESULTS_OFFERS: tuple[str, ...] = tuple(RESULTS_FORMATS)
#: ASK results: JSON and XML (CSV/TSV are defined for SELECT only)
BOOLEAN_OFFERS: tuple[str, ...] = (
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "application/json",
    "application/xml",
)

#: RDF graphs and datasets: media type -> pyoxigraph format (provml.store.rdfio's one table)
RDF_FORMATS: dict[str, RdfFormat] = MEDIA_TYPES
#: CONSTRUCT / DESCRIBE / one graph (first = default when there is no Accept)
GRAPH_OFFERS: tuple[str, ...] = (
    "text/turtle",
    "application/n-triples",
    "application/rdf+xml",
    "application/ld+json",
    "application/n-quads",
    "application/trig",
    "application/x-turtle",
    "text/plain",
)
#: a whole dataset (graphs kept apart)
DATASET_OFFERS: tuple[str, ...] = ("application/trig", "application/n-quads", "application/ld+json")
#: the error shape (:mod:`provml.endpoint.errors`): JSON, a small HTML page, one line of text
ERROR_OFFERS: tuple[str, ...] = ("application/json", "text/html", "text/plain")


def media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """Split a ``Content-Type`` value into its lower-cased type and its parameters (werkzeug's
    ``parse_options_header``).

    >>> media_type("application/sparql-query; charset=UTF-8")
    ('application/sparql-query', {'charset': 'UTF-8'})
    """
    if not header:
        return "", {}
    kind, params = parse_options_header(header)
    return kind.strip().lower(), dict(params)


#: media ranges of an ``Accept`` header that are read; later ones are ignored. werkzeug takes
#: ~60 µs a range: a 48 KB header of 3,500 ranges cost ~0.2 s of the server's CPU (GIL held) at
#: each negotiation, and any client can send one
MAX_RANGES = 64


def _first_ranges(header: str | None) -> str:
    """``header`` up to its :data:`MAX_RANGES`-th media range.

    >>> _first_ranges("a/b, " * 100).count(",")
    63
    """
    if not header:
        return ""
    if header.count(",") < MAX_RANGES:
        return header
    return ",".join(header.split(",", MAX_RANGES)[:MAX_RANGES])


def accept(header: str | None) -> MIMEAccept:
    """The ``Accept`` header as werkzeug's :class:`~werkzeug.datastructures.MIMEAccept` (what
    ``request.accept_mimetypes`` is), media-type parameters other than ``q`` set aside so that
    ``application/json; charset=utf-8`` accepts ``application/json``. A range whose ``q`` is
    unreadable or outside 0–1 is ignored, as werkzeug does; so are ranges past the
    :data:`MAX_RANGES`-th.

    >>> accept("text/*;q=0.5, */*;q=0.1").quality("text/csv")
    0.5
    """
    parsed = parse_accept_header(_first_ranges(header), MIMEAccept)
    return MIMEAccept([(value.split(";", 1)[0].strip().lower(), q) for value, q in parsed])


def best_match(accept_header: str | None, offers: Sequence[str]) -> str | None:
    """The offer the client prefers, or None when it accepts none of them.

    werkzeug's ``MIMEAccept.best_match``: the most specific range of the header decides an
    offer's quality (``text/turtle;q=0`` beats ``*/*``), ties go to the server's order.

    :param accept_header: the ``Accept`` value; empty, None or unreadable accepts the first offer.
    :param offers: media types in the server's order of preference.
    """
    if not offers:
        return None
    if accept_header is not None and len(accept_header) > _CACHED_HEADER_CHARS:
        return _best_match(accept_header, tuple(offers))
    return _cached_best_match(accept_header, tuple(offers))


#: ``Accept`` values up to this long are remembered with their choice (werkzeug's parsing and
#: matching cost ~25 µs, half of writing a 10-row result; clients send the same few values)
_CACHED_HEADER_CHARS = 256


def _best_match(accept_header: str | None, offers: tuple[str, ...]) -> str | None:
    ranges = accept(accept_header)
    if not ranges:
        return offers[0]
    chosen: str | None = ranges.best_match(offers)
    return chosen


#: at most 512 × 256 characters kept: any client can send any header
_cached_best_match = lru_cache(maxsize=512)(_best_match)


#: the JSON-LD media type
JSONLD = "application/ld+json"
#: form -> its profile IRI (JSON-LD 1.1, "IANA Considerations"): the two forms served
JSONLD_FORMS: dict[str, str] = {
    "compacted": "http://www.w3.org/ns/json-ld#compacted",
    "expanded": "http://www.w3.org/ns/json-ld#expanded",
}
_FORM_OF = {iri: form for form, iri in JSONLD_FORMS.items()}
#: the server's order of the forms when the client rates them alike: compacted with the
#: ontologies' context (CONSTRUCT, DESCRIBE, the Graph Store, ``/id/`` pages, VoID) ...
COMPACTED_FIRST: tuple[str, ...] = ("compacted", "expanded")
#: ... or expanded, as Oxigraph writes it (the Service Description, the ontologies)
EXPANDED_FIRST: tuple[str, ...] = ("expanded", "compacted")


def jsonld_type(form: str) -> str:
    """The ``Content-Type`` of JSON-LD written in ``form``: the media type with the profile of
    that form. No ``charset``: JSON defines none (RFC 8259, section 11); it is UTF-8."""
    return f'{JSONLD}; profile="{JSONLD_FORMS[form]}"'


def written_form(body: bytes) -> str:
    """The form of a JSON-LD document: ``expanded`` when its top level is an array (the
    expansion algorithm's output always is), else ``compacted`` (compaction's is an object).

    >>> written_form(b' [{"@id": "http://e.org/a"}]'), written_form(b'{"@context": {}}')
    ('expanded', 'compacted')
    """
    return "expanded" if body.lstrip()[:1] == b"[" else "compacted"


def _jsonld_ranges(header: str) -> tuple[tuple[int, frozenset[str], float], ...]:
    """The media ranges of ``header`` that take JSON-LD, as (specificity, forms named, q):
    3 for ``application/ld+json`` with a ``profile`` naming a served form (the forms it names),
    2 for ``application/ld+json`` with none (profiles the server does not serve are ignored, as
    JSON-LD 1.1 asks), 1 for ``application/*``, 0 for ``*/*``. Ranges past the
    :data:`MAX_RANGES`-th, and those with an unreadable ``q``, are ignored (as :func:`accept`)."""
    found = []
    for value, q in parse_accept_header(_first_ranges(header)):
        kind, params = media_type(value)
        named: frozenset[str] = frozenset()
        if kind == JSONLD:
            named = frozenset(_FORM_OF[p] for p in params.get("profile", "").split() if p in _FORM_OF)
            specificity = 3 if named else 2
        elif kind in ("application/*", "*/*", "*"):
            specificity = 1 if kind == "application/*" else 0
        else:
            continue
        found.append((specificity, named, float(q)))
    return tuple(found)


_cached_jsonld_ranges = lru_cache(maxsize=512)(_jsonld_ranges)


def jsonld_forms(accept: str | None,
                 prefer: Sequence[str] = COMPACTED_FIRST) -> tuple[tuple[str, float], ...]:
    """The JSON-LD forms ``accept`` takes, with their quality, best first (ties in the order of
    ``prefer``); empty when it takes none. As for media types (RFC 9110, section 12.5.1), the
    most specific range that matches a form gives its quality: ``application/ld+json`` with a
    profile naming it, then ``application/ld+json`` without one, ``application/*``, ``*/*``. No
    ``Accept`` takes both, in the order of ``prefer``.

    >>> jsonld_forms("application/ld+json")
    (('compacted', 1.0), ('expanded', 1.0))
    >>> c, e = (f'application/ld+json;profile="http://www.w3.org/ns/json-ld#{f}"' for f in ("compacted", "expanded"))
    >>> jsonld_forms(c)
    (('compacted', 1.0),)
    >>> jsonld_forms(f"{c}, {e};q=0.5"), jsonld_forms(f"{c};q=0, */*;q=0.1")
    ((('compacted', 1.0), ('expanded', 0.5)), (('expanded', 0.1),))
    """
    if not accept:
        return tuple((form, 1.0) for form in prefer)
    ranges = (_cached_jsonld_ranges(accept) if len(accept) <= _CACHED_HEADER_CHARS
              else _jsonld_ranges(accept))
    found = []
    for form in prefer:
        best: tuple[int, float] | None = None
        for specificity, named, q in ranges:
            if specificity == 3 and form not in named:
                continue
            if best is None or (specificity, q) > best:
                best = (specificity, q)
        if best is not None and best[1] > 0:
            found.append((form, best[1]))
    return tuple(sorted(found, key=lambda item: -item[1]))  # (stable: ties keep prefer's order)


def jsonld_profile(accept: str | None) -> str:
    """The JSON-LD form ``accept`` prefers (``compacted`` on ties and when it names none).

    >>> jsonld_profile('application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded"')
    'expanded'
    >>> jsonld_profile("application/ld+json")
    'compacted'
    """
    forms = jsonld_forms(accept)
    return forms[0][0] if forms else "compacted"


class NotCompactable(ValueError):
    """The 406 of an answer the client takes as compacted JSON-LD only (no other form or media
    type it accepts), which compaction cannot write; the message says why and what to ask for."""


def jsonld_answer(
    accept: str | None,
    write: Callable[[str], bytes],
    *,
    others: Sequence[str] = (),
    prefer: Sequence[str] = COMPACTED_FIRST,
    context: Collection[str] | None = None,
) -> tuple[str, bytes] | None:
    """JSON-LD for a client whose ``Accept`` chose it (or a URL suffix did): the
    ``Content-Type`` naming the profile of the form sent (:func:`jsonld_type`) and the body; or
    None when another of ``others`` is to be sent instead (the caller's :func:`best_match`
    over them).

    ``write(form)`` writes the answer in ``"compacted"`` or ``"expanded"``; asked for compacted,
    it writes the expanded form when compaction cannot write the answer (an IRI whose scheme is
    a prefix of the context, ``skos:thing``: ``serialize_quads(..., expand_unwritable=True)``)
    or raises ``ValueError``. The form sent is the one ``accept`` rates highest
    (:func:`jsonld_forms`, ties in the order of ``prefer``); when compaction fails, the client's
    next choice by quality: expanded JSON-LD if it takes it (ties go to it) or another of
    ``others``.

    :param others: the other media types this answer is offered in (none for a URL suffix).
    :param context: the prefixes of the context, to name the IRI compaction cannot write.
    :raises NotCompactable: the client takes compacted JSON-LD and nothing it can be given.
    """
    forms = jsonld_forms(accept, prefer) or tuple((form, 1.0) for form in prefer)
    first, reason = forms[0][0], ""
    try:
        body = write(first)
    except ValueError as error:  # (compaction failed otherwise: the expanded form instead)
        if first != "compacted":
            raise
        body, reason = write("expanded"), str(error).split(";")[0]
    sent = written_form(body)
    if sent == first:
        return jsonld_type(sent), body
    quality = dict(forms).get(sent, 0.0)
    other = best_match(accept, others) if others else None
    if quality > 0 and (other is None or quality >= _accept_quality(accept, other)):
        return jsonld_type(sent), body
    if other is not None:
        return None
    raise NotCompactable(_not_compactable(body, reason, others, context))


def _accept_quality(header: str | None, offer: str) -> float:
    """The quality ``header`` gives ``offer`` (werkzeug's: the most specific range decides)."""
    return float(accept(header).quality(offer)) if header else 1.0


def _not_compactable(expanded: bytes, reason: str, others: Sequence[str],
                     context: Collection[str] | None) -> str:
    """Why an answer (``expanded``, its expanded form) cannot be written as compacted JSON-LD,
    naming the first IRI compaction confuses with a compact IRI, and what to ask for instead."""
    from provml.query.serialization import confused_with_prefix, jsonld_context

    iri = None
    with contextlib.suppress(SyntaxError, ValueError):
        iri = confused_with_prefix(parse(expanded, format=RdfFormat.JSON_LD),
                                   jsonld_context() if context is None else context)
    why = (f"the IRI <{iri}> would read as a compact IRI of the context's prefix "
           f"{iri.partition(':')[0]!r}" if iri else reason or "compaction failed")
    instead = (" or another format: " + ", ".join(others)) if others else ""
    return (f"this answer cannot be written as compacted JSON-LD, the only form of it this "
            f"request accepts: {why}; ask for expanded JSON-LD ({jsonld_type('expanded')})"
            f"{instead}")
