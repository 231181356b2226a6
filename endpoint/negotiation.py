"""Content negotiation through werkzeug (``Accept`` with q-values), and the format tables of the endpoint.

:func:`best_match` picks, among the media types the server offers (in its order of preference),
the one the client rates highest; the most specific range of the header decides an offer's
quality (``text/turtle;q=0`` beats ``*/*``), ties go to the more specific range, then to the
server's order.

>>> best_match("text/csv;q=0.5, application/sparql-results+json", RESULTS_OFFERS)
'application/sparql-results+json'
>>> best_match("text/*;q=0.9, text/tab-separated-values", RESULTS_OFFERS)
'text/tab-separated-values'
>>> best_match("image/png", RESULTS_OFFERS) is None
True

JSON-LD comes in two forms here, told apart by the ``profile`` parameter of its media type
(JSON-LD 1.1, section "IANA Considerations"): ``http://www.w3.org/ns/json-ld#compacted`` and
``http://www.w3.org/ns/json-ld#expanded``. :func:`choices` rates each form as a media type of its
own, among the others; :func:`negotiate` is every route's one chain: it writes the answer in the
client's first choice, and goes to the next when the answer cannot be written in it (triple
terms in JSON-LD, XML that cannot carry it, compaction that cannot write it), or says why none
can (406); the ``Content-Type`` of JSON-LD names the form sent (:func:`jsonld_type`).

Why it is long: it is the endpoint's one negotiation, which every route that writes RDF or
results runs (in the server and in the query workers): the format tables, the parsing of
``Accept`` once per request, the rating of media types and JSON-LD forms, and the chain that
goes from a choice the answer cannot be written in to the next, with its 406s. Split, the
routes would again each hold a part of it, and the parts would again disagree.

>>> jsonld_forms('application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded"')
(('expanded', 1.0),)
>>> jsonld_type("compacted")
'application/ld+json; profile="http://www.w3.org/ns/json-ld#compacted"'
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from functools import lru_cache
from typing import NamedTuple

from pyoxigraph import QueryResultsFormat, RdfFormat
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from provml.store.rdfio import MEDIA_TYPES

__all__ = [
    "BOOLEAN_OFFERS",
    "COMPACTED_FIRST",
    "EXPANDED_FIRST",
    "JSONLD",
    "JSONLD_FORMS",
    "Negotiated",
    "NotAcceptable",
    "Unwritable",
    "DATASET_OFFERS",
    "ERROR_OFFERS",
    "GRAPH_OFFERS",
    "RDF_FORMATS",
    "RESULTS_FORMATS",
    "RESULTS_OFFERS",
    "VARY",
    "accept",
    "best_match",
    "choices",
    "jsonld_forms",
    "jsonld_type",
    "media_type",
    "negotiate",
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

#: the header of every negotiated answer, 406s included (a cache keeps them apart by ``Accept``)
VARY: dict[str, str] = {"Vary": "Accept"}
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
    return MIMEAccept([(kind, q) for kind, _, q in _ranges(header)])


#: one media range of an ``Accept``: its lower-cased type without parameters, the JSON-LD
#: forms its ``profile`` names (empty but for ``application/ld+json``), its quality
_Range = tuple[str, frozenset[str], float]


def _parse(header: str) -> tuple[_Range, ...]:
    found = []
    for value, q in parse_accept_header(_first_ranges(header)):
        kind, params = media_type(value)
        named: frozenset[str] = frozenset()
        if kind == JSONLD:  # (profiles the server does not serve are ignored, as JSON-LD 1.1 asks)
            named = frozenset(_FORM_OF[p] for p in params.get("profile", "").split() if p in _FORM_OF)
        found.append((kind, named, float(q)))
    return tuple(found)


#: ``Accept`` values up to this long are remembered with their ranges and choices (werkzeug's
#: parsing and matching cost ~25 µs, half of writing a 10-row result; clients send the same few
#: values); at most 512 × 256 characters kept: any client can send any header
_CACHED_HEADER_CHARS = 256
_parse_short = lru_cache(maxsize=512)(_parse)
#: longer ones (up to the server's header limit) are remembered too, a few at a time: a
#: request reads its ``Accept`` at each step of its negotiation, and parsing a 100 KB one cost
#: ~0.2 s each time (a review: 4 times a request)
_parse_long = lru_cache(maxsize=4)(_parse)


def _ranges(header: str | None) -> tuple[_Range, ...]:
    """The media ranges of ``header``, parsed once (remembered: :func:`_parse`)."""
    if not header:
        return ()
    return (_parse_short if len(header) <= _CACHED_HEADER_CHARS else _parse_long)(header)


def _rating(ranges: tuple[_Range, ...], media: str, form: str | None) -> tuple[float, int] | None:
    """The quality ``ranges`` give ``media`` (JSON-LD in ``form``) and the specificity of the
    range that gives it, or None when no range matches. As RFC 9110 (section 12.5.1) asks, the
    most specific matching range decides: ``application/ld+json`` with a ``profile`` naming the
    form (3), the media type (2), ``type/*`` (1), ``*/*`` (0)."""
    best: tuple[int, float] | None = None
    major = media.split("/", 1)[0]
    for kind, named, q in ranges:
        if kind == media:
            if named and form not in named:
                continue
            specificity = 3 if named else 2
        elif kind == "*/*":
            specificity = 0
        elif kind.endswith("/*") and kind[:-2] == major:
            specificity = 1
        else:
            continue
        if best is None or (specificity, q) > best:
            best = (specificity, q)
    return None if best is None else (best[1], best[0])


#: one choice of a client: a media type, its JSON-LD form (None for other types), its quality
Choice = tuple[str, str | None, float]


def choices(header: str | None, offers: Sequence[str], prefer: Sequence[str] = COMPACTED_FIRST,
            *, named: bool = False) -> tuple[Choice, ...]:
    """What ``header`` accepts among ``offers`` (media types in the server's order; JSON-LD
    offered in each of its forms, in the order of ``prefer``), best first: by quality, then by
    the specificity of the range that gives it, then in the server's order. JSON-LD is rated
    form by form (:func:`_rating`), alongside the other media types: a client that rates both
    forms 0.1 and Turtle 0.5 gets Turtle, whatever it gives ``application/ld+json`` alone. No
    ``Accept`` (or one that is unreadable) takes every offer, in the server's order.

    ``named``: the URL named the media type (a suffix, ``.jsonld``): ``Accept`` only chooses the
    JSON-LD form, and a form it excludes (``q=0``) is not sent; when it takes no form (a
    browser's ``text/html``; ``compacted;q=0``), every form it does not exclude is taken.

    >>> c, e = (f'application/ld+json;profile="http://www.w3.org/ns/json-ld#{f}"' for f in ("compacted", "expanded"))
    >>> [m + (f"#{f}" if f else "") for m, f, _ in choices(
    ...     f"application/ld+json;q=0.9, {c};q=0.1, {e};q=0.1, text/turtle;q=0.5", GRAPH_OFFERS)]
    ['text/turtle', 'application/ld+json#compacted', 'application/ld+json#expanded']
    >>> choices(f"{c};q=0, {e};q=0, application/ld+json;q=0.5, text/turtle;q=0.1", GRAPH_OFFERS)
    (('text/turtle', None, 0.1),)
    >>> choices(f"{c};q=0", (JSONLD,), named=True), choices(c, (JSONLD,), named=True)
    ((('application/ld+json', 'expanded', 1.0),), (('application/ld+json', 'compacted', 1.0),))
    >>> choices(f"{c};q=0, {e};q=0", (JSONLD,), named=True), len(choices("text/html", (JSONLD,), named=True))
    ((), 2)
    """
    ranges = _ranges(header)
    rated = []
    for position, media in enumerate(offers):
        forms = prefer if media == JSONLD else (None,)
        ratings = [_rating(ranges, media, form) if ranges else (1.0, 0) for form in forms]
        if named:  # (the URL chose the type: Accept only chooses the form, or excludes it)
            taken = any(r is not None and r[0] > 0 for r in ratings) and media == JSONLD
            ratings = [r if (r is not None and media == JSONLD) or taken else (1.0, 0)
                       for r in ratings]
        for order, (form, rating) in enumerate(zip(forms, ratings, strict=True)):
            if rating is not None and rating[0] > 0:
                rated.append((-rating[0], -rating[1], position, order, (media, form, rating[0])))
    return tuple(item[-1] for item in sorted(rated))


_cached_choices = lru_cache(maxsize=1024)(choices)


def best_match(accept_header: str | None, offers: Sequence[str]) -> str | None:
    """The offer the client prefers, or None when it accepts none of them (:func:`choices`: the
    most specific range of the header decides an offer's quality, ``text/turtle;q=0`` beats
    ``*/*``; ties go to the more specific range, then to the server's order).

    :param accept_header: the ``Accept`` value; empty, None or unreadable accepts the first offer.
    :param offers: media types in the server's order of preference.
    """
    found = _choices(accept_header, tuple(offers))
    return found[0][0] if found else None


def _choices(header: str | None, offers: tuple[str, ...],
             prefer: tuple[str, ...] = COMPACTED_FIRST, named: bool = False) -> tuple[Choice, ...]:
    if header is not None and len(header) > _CACHED_HEADER_CHARS:
        return choices(header, offers, prefer, named=named)
    return _cached_choices(header, offers, prefer, named=named)


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


def jsonld_forms(accept: str | None,
                 prefer: Sequence[str] = COMPACTED_FIRST) -> tuple[tuple[str, float], ...]:
    """The JSON-LD forms ``accept`` takes, with their quality, best first (ties in the order of
    ``prefer``); empty when it takes none (:func:`choices` for JSON-LD alone).

    >>> jsonld_forms("application/ld+json")
    (('compacted', 1.0), ('expanded', 1.0))
    >>> c, e = (f'application/ld+json;profile="http://www.w3.org/ns/json-ld#{f}"' for f in ("compacted", "expanded"))
    >>> jsonld_forms(f"{c}, {e};q=0.5"), jsonld_forms(f"{c};q=0, */*;q=0.1")
    ((('compacted', 1.0), ('expanded', 0.5)), (('expanded', 0.1),))
    """
    return tuple((form or "", q) for _, form, q in _choices(accept, (JSONLD,), tuple(prefer)))


class Unwritable(ValueError):
    """This answer cannot be written in the media type tried (a refusal of its content: triple
    terms in JSON-LD, a character XML cannot carry); ``media``: every media type the reason
    rules out (the one tried when empty). :func:`negotiate` goes on to the client's next choice."""

    def __init__(self, reason: str, media: Collection[str] = ()) -> None:
        super().__init__(reason)
        self.media = frozenset(media)


class NotAcceptable(ValueError):
    """The 406 of an answer: the client accepts none of its offers, or none it can be written
    in; the message says why and what to ask for."""


class Negotiated(NamedTuple):
    """What :func:`negotiate` sends: the media type, the JSON-LD form (None for other types),
    the body, and the ``Content-Type`` (naming the JSON-LD profile; ``charset`` for text)."""

    media: str
    form: str | None
    body: bytes
    content_type: str


def negotiate(
    accept: str | None,
    offers: Sequence[str],
    write: Callable[[str, str | None], bytes],
    *,
    prefer: Sequence[str] = COMPACTED_FIRST,
    named: bool = False,
    refusal: str = "",
) -> Negotiated:
    """The answer in the client's first choice that it can be written in: every route's one
    chain. The choices are those of :func:`choices` (best first); for each, ``write(media,
    form)`` writes the answer, ``form`` the JSON-LD form or None. A content refusal goes to the
    next choice: :class:`Unwritable` raised by ``write``, or compacted JSON-LD that compaction
    could not write (``write`` then returns the expanded form, an
    :class:`~provml.query.serialization.Uncompacted` naming the IRI, which serves the expanded
    choice if the client has one: it goes first among the choices of its quality, already
    written). Any other error goes through (``InputRefused``: too large is not a refusal of
    the content).

    :param named: the URL named the media type (``offers`` is it alone; see :func:`choices`).
    :param refusal: the 406's message when the client accepts none of ``offers``.
    :raises NotAcceptable: no choice, or none the answer can be written in.
    """
    found = _choices(accept, tuple(offers), tuple(prefer), named)
    if not found:
        raise NotAcceptable(refusal or "no acceptable format; offered: " + ", ".join(offers))
    refused: dict[str, str] = {}  # media type -> why this answer cannot be written in it
    expanded: bytes | None = None  # written where compacted JSON-LD was asked for
    uncompacted = ""
    queue = list(found)
    while queue:
        media, form, _ = queue.pop(0)
        if media in refused:
            continue
        if media == JSONLD and form == "expanded" and expanded is not None:
            body = expanded
        else:
            try:
                body = write(media, form)
            except Unwritable as error:
                for ruled_out in error.media or (media,):
                    refused.setdefault(ruled_out, str(error))
                continue
        if media == JSONLD and form == "compacted" and written_form(body) == "expanded":
            expanded, uncompacted = body, _compaction_failure(body)
            # (the expanded form, written, goes first among the client's choices it ties with)
            at = next((i for i, c in enumerate(queue) if c[:2] == (JSONLD, "expanded")), None)
            if at is not None and queue[at][2] >= queue[0][2]:
                queue.insert(0, queue.pop(at))
            continue
        if media == JSONLD:
            return Negotiated(media, written_form(body), body, jsonld_type(written_form(body)))
        text = media.startswith("text/")
        return Negotiated(media, form, body, media + ("; charset=utf-8" if text else ""))
    raise NotAcceptable(_refused(offers, refused, uncompacted))


def _compaction_failure(body: bytes) -> str:
    """Why compaction could not write an answer: what the compaction code said on its expanded
    form (:class:`~provml.query.serialization.Uncompacted`), its IRI cut short."""
    iri = getattr(body, "iri", None)
    if iri:
        shown = iri if len(iri) <= _QUOTED else iri[:_QUOTED] + "…"
        return (f"the IRI <{shown}> would read as a compact IRI of the context's prefix "
                f"{iri.partition(':')[0]!r}")
    return str(getattr(body, "reason", "") or "compaction failed").split(";")[0]


#: the characters of an IRI a 406 quotes (an IRI may be megabytes long)
_QUOTED = 200


def _refused(offers: Sequence[str], refused: dict[str, str], uncompacted: str) -> str:
    """The message of a 406 for an answer that cannot be written in any of the client's
    choices: why, choice by choice, and what to ask for instead."""
    others = [o for o in offers if o not in refused and o != JSONLD]
    reasons = [f"as {media}, {why}" for media, why in refused.items() if media in offers]
    if uncompacted:
        instead = (f"expanded JSON-LD ({jsonld_type('expanded')})"
                   + (" or another format: " + ", ".join(others) if others else ""))
        return ("this answer cannot be written as compacted JSON-LD, the only form of JSON-LD "
                f"this request accepts: {uncompacted}"
                + "".join(f"; {reason}" for reason in reasons) + f"; ask for {instead}")
    available = [o for o in offers if o not in refused]
    why = "; ".join(dict.fromkeys(why for media, why in refused.items() if media in offers))
    return (f"no acceptable format: {why}"
            + (f"; ask for one of {', '.join(available)}" if available else ""))
