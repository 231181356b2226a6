"""SPARQL JSON results written from collected rows (``provml.endpoint.sparql.results``): each
distinct term is written once and shared by the rows holding it; terms that look alike but
differ (an IRI and a literal of the same text, a language, a datatype) stay apart. Read back with
Oxigraph's own results parser, every row is the row written."""

from __future__ import annotations

import json

from pyoxigraph import (
    BlankNode,
    Literal,
    NamedNode,
    QueryResultsFormat,
    Triple,
    Variable,
    parse_query_results,
)

from provml.endpoint.sparql.results import write_solutions
from provml.vocab import XSD

EX = "http://example.org/"


def test_alike_terms_stay_apart_and_repeated_ones_are_shared() -> None:
    variables = [Variable("a"), Variable("b"), Variable("c")]
    iri = NamedNode(EX + "x")
    alike = [iri, Literal(EX + "x"), Literal(EX + "x", language="en"), Literal(EX + "x", language="fr"),
             Literal("1", datatype=XSD.integer), Literal("1"), Literal("01", datatype=XSD.integer),
             BlankNode("b1"), Triple(iri, NamedNode(EX + "p"), Literal("1", datatype=XSD.integer))]
    rows = [[term, alike[(i + 1) % len(alike)], None if i % 3 == 0 else iri] for i, term in enumerate(alike)] * 3
    body = write_solutions(variables, rows, "application/sparql-results+json")
    read = list(parse_query_results(body, format=QueryResultsFormat.JSON))
    assert [[solution[v] for v in variables] for solution in read] == rows
    bindings = json.loads(body)["results"]["bindings"]
    assert bindings[0]["a"] == {"type": "uri", "value": EX + "x"}
    assert bindings[1]["a"] == {"type": "literal", "value": EX + "x"}
    assert bindings[2]["a"] == {"type": "literal", "value": EX + "x", "xml:lang": "en"}
    assert bindings[4]["a"] == {"type": "literal", "value": "1", "datatype": XSD.integer.value}
    assert "c" not in bindings[0] and bindings[1]["c"] == bindings[0]["a"]


def test_long_results_read_back_equal_whether_their_terms_repeat_or_not() -> None:
    # past the memo's trial rows: kept when terms repeat, dropped when they hardly do
    variables = [Variable("s"), Variable("o")]
    repeated = [[NamedNode(f"{EX}s{i % 40}"), Literal(str(i % 3), datatype=XSD.integer)] for i in range(2_500)]
    distinct = [[NamedNode(f"{EX}s{i}"), None if i % 5 == 0 else Literal(f"v{i}", language="en")]
                for i in range(2_500)]
    for rows in (repeated, distinct, repeated[:1_000] + distinct, distinct[:1_000] + repeated):
        body = write_solutions(variables, rows, "application/sparql-results+json")
        read = list(parse_query_results(body, format=QueryResultsFormat.JSON))
        assert [[solution[v] for v in variables] for solution in read] == rows
