"""Content negotiation: ``Accept`` parsing with q-values, and the format tables of the endpoint.

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

from provml.store.rdfio import MEDIA_TYPES

__all__ = [
    "BOOLEAN_OFFERS",
    "DATASET_OFFERS",
    "GRAPH_OFFERS",
    "RDF_FORMATS",
    "RESULTS_FORMATS",
    "RESULTS_OFFERS",
    "best_match",
    "media_type",
    "parse_accept",
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


def media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """Split a ``Content-Type`` value into its lower-cased type and its parameters.

    >>> media_type("application/sparql-query; charset=UTF-8")
    ('application/sparql-query', {'charset': 'UTF-8'})
    """
    if not header:
        return "", {}
    kind, *params = header.split(";")
    out: dict[str, str] = {}
    for param in params:
        key, _, value = param.partition("=")
        if key.strip():
            out[key.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), out


@lru_cache(maxsize=256)
def parse_accept(header: str) -> tuple[tuple[str, str, float, int], ...]:
    """Parse ``Accept`` into ``(type, subtype, q, specificity)`` ranges; bad q-values count as 0.

    >>> parse_accept("text/*;q=0.5, */*;q=0.1")
    (('text', '*', 0.5, 1), ('*', '*', 0.1, 0))
    """
    ranges = []
    for item in header.split(","):
        kind, params = media_type(item)
        if not kind:
            continue
        main, _, sub = kind.partition("/")
        if not sub:
            main, sub = (main, "*") if main == "*" else (main, "")
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        q = min(max(q, 0.0), 1.0)
        specificity = 0 if main == "*" else (1 if sub == "*" else 2)
        ranges.append((main, sub, q, specificity))
    return tuple(ranges)


def _quality(ranges: tuple[tuple[str, str, float, int], ...], offer: str) -> float:
    main, _, sub = offer.partition("/")
    best_specificity, best_q = -1, 0.0
    for r_main, r_sub, q, specificity in ranges:
        if (r_main in ("*", main)) and (r_sub in ("*", sub)) and specificity > best_specificity:
            best_specificity, best_q = specificity, q
    return best_q


def best_match(accept_header: str | None, offers: Sequence[str]) -> str | None:
    """The offer the client prefers, or None when it accepts none of them.

    :param accept_header: the ``Accept`` value; empty or None accepts the first offer.
    :param offers: media types in the server's order of preference.
    """
    if not offers:
        return None
    if not accept_header or not accept_header.strip():
        return offers[0]
    ranges = parse_accept(accept_header)
    if not ranges:
        return offers[0]
    best, best_q = None, 0.0
    for offer in offers:
        q = _quality(ranges, offer)
        if q > best_q:
            best, best_q = offer, q
    return best
