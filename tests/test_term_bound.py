"""RDF written to the store directly is held to the bound events are held to
(``provml.store.term_bound``): a literal's text at most ``MAX_WRITTEN`` (7 MiB) as written, an
IRI, blank node label or language tag at most ``MAX_TEXT`` (1 MiB) characters, on every path
that parses RDF into the store: ``KnowledgeGraph.ingest_rdf`` / ``ingest_quads``, ``provml
load`` of RDF files (their ontology graphs too) and ``provml import prov-json`` (the Graph
Store: ``tests/endpoint/test_graph_store_term_bound.py``). Before, such a literal was stored,
and a JSON-LD export of the store could not be loaded again (past 16 MiB, N-Quads neither).
A text of more than ``MAX_TEXT`` characters within the bound (a 1000 × 1000 matrix's JSON)
is stored and reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    RdfFormat,
    Triple,
    parse,
    serialize,
)

from provml.cli import main
from provml.errors import TermTooLong
from provml.events import MAX_TEXT, MAX_WRITTEN, written_size
from provml.knowledge import ONTOLOGY_GRAPHS, open_kg
from provml.store.term_bound import long_term, refuse_long_terms

E = "http://example.org/"
S, P = NamedNode(E + "s"), NamedNode(E + "p")
OVER = "\n" * (MAX_WRITTEN // 2 + 1)  # 2 bytes each as written ("\n"): 7 MiB + 2
WITHIN = "\x01" * (MAX_WRITTEN // 6)  # 6 bytes each ("\u0001"): just within 7 MiB, 1.2 Mi characters


def nquads(*quads: Quad) -> bytes:
    return serialize(list(quads), format=RdfFormat.N_QUADS)


def test_every_term_position_and_kind_is_held_to_its_bound() -> None:
    assert len(WITHIN) > MAX_TEXT and written_size(WITHIN) <= MAX_WRITTEN < written_size(OVER)
    assert long_term(Quad(S, P, Literal(WITHIN))) is None
    long_iri = NamedNode(E + "x" * MAX_TEXT)
    cases = [
        (Quad(S, P, Literal(OVER)), "object", written_size(OVER), MAX_WRITTEN),
        (Quad(S, P, Literal(OVER, language="en")), "object", written_size(OVER), MAX_WRITTEN),
        (Quad(long_iri, P, S), "subject", len(long_iri.value), MAX_TEXT),
        (Quad(S, long_iri, S), "predicate", len(long_iri.value), MAX_TEXT),
        (Quad(S, P, long_iri), "object", len(long_iri.value), MAX_TEXT),
        (Quad(S, P, S, long_iri), "graph name", len(long_iri.value), MAX_TEXT),
        (Quad(S, P, Literal("1", datatype=long_iri)), "object", len(long_iri.value), MAX_TEXT),
        (Quad(S, P, BlankNode("b" * (MAX_TEXT + 1))), "object", MAX_TEXT + 1, MAX_TEXT),
        (Quad(S, P, Triple(S, P, Literal(OVER))), "object", written_size(OVER), MAX_WRITTEN),
    ]
    for quad, position, size, limit in cases:
        error = long_term(quad)
        assert error is not None, position
        assert (error.fields["position"], error.fields["size"], error.fields["limit"]) == (position, size, limit)
        with pytest.raises(TermTooLong):
            refuse_long_terms([Quad(S, P, Literal("ok"), DefaultGraph()), quad])
    # the subject and predicate are quoted, cut to 200 characters
    assert len(str(long_term(Quad(long_iri, P, S)))) < 1000


def test_ingest_rdf_refuses_the_data_whole_and_stores_nothing(tmp_path: Path) -> None:
    with open_kg(tmp_path / "store") as kg:
        before = len(kg.store)
        data = nquads(Quad(S, P, Literal("fine")), Quad(NamedNode(E + "t"), P, Literal(OVER)))
        with pytest.raises(TermTooLong) as caught:
            kg.ingest_rdf(data, format=RdfFormat.N_QUADS)
        assert f"{written_size(OVER):,}" in str(caught.value) and "7,340,032" in str(caught.value)
        assert len(kg.store) == before
        kg.ingest_rdf(nquads(Quad(S, P, Literal(WITHIN))), format=RdfFormat.N_QUADS)
        assert len(kg.store) == before + 1


def _load(path: Path, store: Path) -> tuple[int, dict[str, object]]:
    load = CliRunner().invoke(main, ["load", str(path), "--store", str(store), "--format", "json"])
    return load.exit_code, json.loads(load.stdout)


def test_provml_load_rejects_the_file_and_loads_the_others(tmp_path: Path) -> None:
    (tmp_path / "long.nq").write_bytes(nquads(Quad(S, P, Literal("fine")), Quad(S, P, Literal(OVER))))
    (tmp_path / "ok.nq").write_bytes(nquads(Quad(S, P, Literal("other"))))
    code, summary = _load(tmp_path, tmp_path / "store")
    assert code == 1
    [rejected] = summary["rejected"]  # type: ignore[misc]
    assert rejected["source"].endswith("long.nq") and "nothing of it stored" in rejected["error"]
    assert f"{written_size(OVER):,}" in rejected["error"]
    with open_kg(tmp_path / "store") as kg:
        assert [q.object.value for q in kg.store.quads() if q.predicate == P] == ["other"]


def test_provml_load_holds_a_files_ontology_graph_to_the_bound_too(tmp_path: Path) -> None:
    """An ontology graph in a file is written as it is, without validation: it is held to the
    bound before anything of the file is stored."""
    ontology = ONTOLOGY_GRAPHS[0]
    (tmp_path / "onto.nq").write_bytes(nquads(Quad(S, P, Literal("data"), NamedNode(E + "g")),
                                              Quad(S, P, Literal(OVER), ontology)))
    with open_kg(tmp_path / "store") as kg:
        ontology_before = set(kg.store.quads(graph=ontology))
    code, summary = _load(tmp_path / "onto.nq", tmp_path / "store")
    assert code == 1 and "the object of a quad" in summary["rejected"][0]["error"]  # type: ignore[index]
    with open_kg(tmp_path / "store") as kg:
        assert set(kg.store.quads(graph=ontology)) == ontology_before
        assert not [q for q in kg.store.quads() if q.predicate == P]


@pytest.mark.parametrize("fmt", ["nquads", "jsonld"])
def test_a_text_within_the_bound_loaded_from_rdf_reads_back_from_its_export(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "in.nq").write_bytes(nquads(Quad(S, P, Literal(WITHIN), NamedNode(E + "g"))))
    assert _load(tmp_path / "in.nq", tmp_path / "store")[0] == 0
    out = tmp_path / ("export." + {"nquads": "nq", "jsonld": "jsonld"}[fmt])
    export = CliRunner().invoke(main, ["export", "--store", str(tmp_path / "store"), "--format", fmt, "-o", str(out)])
    assert export.exit_code == 0, export.output
    assert _load(out, tmp_path / "again")[0] == 0
    with open_kg(tmp_path / "again") as kg:
        assert [q.object.value for q in kg.store.quads() if q.predicate == P] == [WITHIN]


def test_import_prov_json_of_a_long_label_exits_1_and_stores_nothing(tmp_path: Path) -> None:
    document = {"prefix": {"ex": E}, "entity": {"ex:report": {"prov:label": OVER, "prov:value": "short"}},
                "activity": {"ex:run": {}}}
    (tmp_path / "doc.json").write_text(json.dumps(document))
    with open_kg(tmp_path / "store") as kg:
        before = len(kg.store)
    result = CliRunner().invoke(main, ["import", "prov-json", str(tmp_path / "doc.json"), "--store", str(tmp_path / "store")])
    assert result.exit_code == 1, result.output
    assert "rejected:" in result.stderr and "rdf-schema#label" in result.stderr
    with open_kg(tmp_path / "store") as kg:
        assert len(kg.store) == before


def test_a_triple_term_under_a_predicate_no_shape_follows_is_refused_as_validated_whole(tmp_path: Path) -> None:
    """Validation cannot take a triple term; the representatives' neighbourhoods leave out what
    no shape's path follows, so such data was stored while the same data validated whole raised
    (a review): it is validated whole now, with the same refusal."""
    from provml.ingest.validation import validate_triples

    data = (Path(__file__).parent / "shapes" / "valid" / "execution-without-times.ttl").read_bytes()
    first = next(iter(parse(data, format=RdfFormat.TURTLE))).subject
    note = f'\n<{first.value}> <{E}note> <<( <{first.value}> <{E}p> "v" )>> .\n'.encode()
    triples = list(parse(data + note, format=RdfFormat.TURTLE))
    for grouped in (True, False):
        with pytest.raises(ValueError, match="triple"):
            validate_triples(triples, representatives=grouped)
    with open_kg(tmp_path / "store") as kg:
        before = len(kg.store)
        with pytest.raises(ValueError, match="triple"):
            kg.ingest_rdf(data + note, format=RdfFormat.TURTLE)
        assert len(kg.store) == before
