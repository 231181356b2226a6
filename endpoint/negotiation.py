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
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from pyoxigraph import QueryResultsFormat, RdfFormat
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from provml.store.rdfio import MEDIA_TYPES

__all__ = [
    "jsonld_profile",
    "BOOLEAN_OFFERS",
    "DATASET_OFFERS",
    "ERROR_OFFERS",
    "GRAPH_OFFERS",
    "RDF_FORMATS",
    "RESULTS_FORMATS",
    "RESULTS_OFFERS",
    "accept",
    "best_match",
    "media_type",
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


def jsonld_profile(accept: str | None) -> str:
    """``expanded`` when ``Accept`` asks for JSON-LD with the expanded profile (and not for the
    compacted one), else ``compacted``.

    >>> jsonld_profile('application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded"')
    'expanded'
    >>> jsonld_profile("application/ld+json")
    'compacted'
    """
    from provml.query.serialization import JSONLD_PROFILES

    asked: set[str] = set()
    for item in _first_ranges(accept).split(","):
        kind, params = media_type(item)
        if kind == "application/ld+json" and "profile" in params:
            asked.update(JSONLD_PROFILES.get(p, "") for p in params["profile"].split())
    return "expanded" if "expanded" in asked and "compacted" not in asked else "compacted"
