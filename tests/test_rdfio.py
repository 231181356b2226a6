"""provml.store.rdfio: formats by name and suffix, every RDF syntax, errors that say where and why."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph
import pytest
from pyoxigraph import DefaultGraph, NamedNode, RdfFormat

from provml.errors import Error, RdfSyntaxError
from provml.store.rdfio import format_from_name, parse_bytes, parse_file

TURTLE = b"""@prefix ex: <http://example.org/> .
ex:a ex:p "x" ; ex:q ex:b .
"""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("turtle", RdfFormat.TURTLE),
        (".ttl", RdfFormat.TURTLE),
        ("TTL", RdfFormat.TURTLE),
        ("text/turtle", RdfFormat.TURTLE),
        ("nt", RdfFormat.N_TRIPLES),
        ("n-triples", RdfFormat.N_TRIPLES),
        ("nq", RdfFormat.N_QUADS),
        ("nquads", RdfFormat.N_QUADS),
        ("trig", RdfFormat.TRIG),
        ("jsonld", RdfFormat.JSON_LD),
        ("json", RdfFormat.JSON_LD),
        ("application/ld+json", RdfFormat.JSON_LD),
        ("rdfxml", RdfFormat.RDF_XML),
        (".owl", RdfFormat.RDF_XML),
        ("data.rdf", RdfFormat.RDF_XML),
        ("run.xml", RdfFormat.RDF_XML),
    ],
)
def test_format_from_name(name: str, expected: RdfFormat) -> None:
    assert format_from_name(name) == expected


def test_unknown_format_lists_the_names() -> None:
    with pytest.raises(ValueError, match="no RDF format is called 'csv'.*turtle"):
        format_from_name("csv")


@pytest.mark.parametrize(
    "fmt", [RdfFormat.TURTLE, RdfFormat.N_TRIPLES, RdfFormat.N_QUADS, RdfFormat.TRIG,
            RdfFormat.JSON_LD, RdfFormat.RDF_XML],
)
def test_every_format_by_suffix(tmp_path: Path, fmt: RdfFormat) -> None:
    triples = list(pyoxigraph.parse(TURTLE, format=RdfFormat.TURTLE))
    file = tmp_path / f"data.{fmt.file_extension}"
    file.write_bytes(pyoxigraph.serialize(triples, format=fmt) or b"")
    quads = parse_file(file)
    assert {q.triple for q in quads} == {q.triple for q in triples}
    assert all(q.graph_name == DefaultGraph() for q in quads)


def test_explicit_format_overrides_the_suffix(tmp_path: Path) -> None:
    file = tmp_path / "data.txt"
    file.write_bytes(TURTLE)
    assert len(parse_file(file, format="turtle")) == 2
    with pytest.raises(ValueError, match="cannot tell|no RDF format"):
        parse_file(tmp_path / "data")


def test_named_graphs_are_kept(tmp_path: Path) -> None:
    file = tmp_path / "data.trig"
    file.write_text("<http://e/g> { <http://e/a> <http://e/p> 1 . }", encoding="utf-8")
    (quad,) = parse_file(file)
    assert quad.graph_name == NamedNode("http://e/g")


def test_relative_iris_resolve_against_the_file(tmp_path: Path) -> None:
    file = tmp_path / "rel.ttl"
    file.write_text("<a> <http://e/p> <b> .", encoding="utf-8")
    (quad,) = parse_file(file)
    assert quad.subject == NamedNode((tmp_path / "a").resolve().as_uri())


@pytest.mark.parametrize(
    ("suffix", "text", "line", "column"),
    [
        ("ttl", '@prefix ex: <http://e/> .\nex:a ex:b\n ex:c ex:d .\n', 3, 7),
        ("nt", '<http://e/a> <http://e/b> <http://e/c> .\n<a> <http://e/b> "x" .\n', 2, 1),
        ("jsonld", '{"@id": ', 1, 9),
    ],
)
def test_syntax_error_names_file_line_column_and_reason(
    tmp_path: Path, suffix: str, text: str, line: int, column: int
) -> None:
    file = tmp_path / f"broken.{suffix}"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(RdfSyntaxError) as info:
        parse_file(file)
    error = info.value
    assert isinstance(error, Error)
    assert (error.path, error.line, error.column) == (str(file), line, column)
    assert error.reason and not error.reason.startswith("Parser error")
    assert str(error).startswith(f"{file}:{line}:{column}: ")


def test_syntax_error_without_position(tmp_path: Path) -> None:
    file = tmp_path / "broken.rdf"
    file.write_text('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><x/>',
                    encoding="utf-8")
    with pytest.raises(RdfSyntaxError) as info:
        parse_file(file)
    assert info.value.path == str(file)
    assert str(info.value).startswith(str(file))


def test_parse_bytes_names_the_document() -> None:
    assert len(parse_bytes(TURTLE, format="ttl")) == 2
    with pytest.raises(RdfSyntaxError, match="^batch-7:1:"):
        parse_bytes(b"<http://e/a> .", format="nt", name="batch-7")


def test_unreadable_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        parse_file(tmp_path / "missing.ttl")


def test_docstrings_run() -> None:
    import doctest

    import provml.store.rdfio

    result = doctest.testmod(provml.store.rdfio)
    assert result.attempted > 0 and result.failed == 0
