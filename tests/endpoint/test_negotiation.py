"""Accept parsing and best_match: q-values, specificity, the server's order on ties."""

from __future__ import annotations

import pytest

from provml.endpoint.negotiation import (
    GRAPH_OFFERS,
    RESULTS_OFFERS,
    accept,
    best_match,
    media_type,
)


@pytest.mark.parametrize(("accept", "offers", "expected"), [
    (None, RESULTS_OFFERS, "application/sparql-results+json"),
    ("", GRAPH_OFFERS, "text/turtle"),
    ("*/*", GRAPH_OFFERS, "text/turtle"),
    ("application/rdf+xml, text/turtle", GRAPH_OFFERS, "text/turtle"),  # tie: server's order
    ("text/turtle;q=0.5, application/rdf+xml", GRAPH_OFFERS, "application/rdf+xml"),
    ("text/turtle;q=0, */*", GRAPH_OFFERS, "application/n-triples"),  # q=0 excludes
    ("text/*", GRAPH_OFFERS, "text/turtle"),
    ("text/*;q=0.3, text/plain;q=0.9", GRAPH_OFFERS, "text/plain"),  # the specific range wins
    ("application/*;q=0.2, text/csv;q=0.1", RESULTS_OFFERS, "application/sparql-results+json"),
    ("image/png, text/html", RESULTS_OFFERS, None),
    ("text/csv;q=abc, text/tab-separated-values;q=0.1", RESULTS_OFFERS,
     "text/tab-separated-values"),  # an unreadable q counts as 0
    ("TEXT/CSV", RESULTS_OFFERS, "text/csv"),  # case-insensitive
    ("application/sparql-results+json; charset=utf-8", RESULTS_OFFERS,
     "application/sparql-results+json"),
])
def test_best_match(accept: str | None, offers: tuple[str, ...], expected: str | None) -> None:
    assert best_match(accept, offers) == expected


def test_accept_is_werkzeugs_and_sets_parameters_aside() -> None:
    ranges = accept("Text/CSV;q=0.4;charset=utf-8, text/*;q=0.2, */*;q=7")
    assert ranges.quality("text/csv") == 0.4 and ranges.quality("text/plain") == 0.2
    assert ranges.quality("image/png") == 0  # a q outside 0-1 makes its range ignored
    assert best_match("text/csv;q=7, text/tab-separated-values;q=0.1", RESULTS_OFFERS) == (
        "text/tab-separated-values")


def test_media_type() -> None:
    assert media_type('Application/SPARQL-Update ; charset="utf-8"') == (
        "application/sparql-update", {"charset": "utf-8"})
    assert media_type(None) == ("", {})
