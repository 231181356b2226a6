"""Exports read back: exact round trips through `provml load`, prefixes, compacted JSON-LD, and
the exports read by the tools they are for (rdflib, pyld, the W3C `prov` package)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import paper_fixture as pf
import pytest
from click.testing import CliRunner
from pyoxigraph import CanonicalizationAlgorithm, Dataset, Literal, RdfFormat, parse

from provml.cli import main

TRAIN_A = "https://w3id.org/provml/id/bundle/train-a"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the paper's use case (and its domain triples), loaded by the CLI."""
    tmp = tmp_path_factory.mktemp("export")
    spool = tmp / "spool.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in pf.all_events()))
    (tmp / "domain.ttl").write_text(pf.DOMAIN_TTL)
    code, out, err = run("load", str(spool), str(tmp / "domain.ttl"), "--store", str(tmp / "store"))
    assert code == 0, (out, err)
    return tmp / "store"


def canonical(path: Path, fmt: RdfFormat | None = None) -> set[object]:
    dataset = Dataset(parse(path=str(path), format=fmt))
    dataset.canonicalize(CanonicalizationAlgorithm.RDFC_1_0)
    return set(dataset)


@pytest.mark.parametrize("fmt,suffix", [("trig", "trig"), ("nquads", "nq"), ("jsonld", "jsonld"),
                                        ("jsonld-expanded", "jsonld")])
def test_export_then_load_gives_the_same_quads(loaded: Path, tmp_path: Path, fmt: str,
                                               suffix: str) -> None:
    """Export → load into a fresh store → export: the same dataset (up to blank-node names):
    no ontology blank node stored twice, no type added by enrichment."""
    reference = tmp_path / "reference.nq"
    assert run("export", "--store", str(loaded), "--format", "nquads", "-o", str(reference))[0] == 0
    exported = tmp_path / f"export.{suffix}"
    assert run("export", "--store", str(loaded), "--format", fmt, "-o", str(exported))[0] == 0
    fresh = tmp_path / "fresh"
    code, out, err = run("load", str(exported), "--store", str(fresh))
    assert code == 0, (out, err)
    again = tmp_path / "again.nq"
    assert run("export", "--store", str(fresh), "--format", "nquads", "-o", str(again))[0] == 0
    before, after = canonical(reference), canonical(again)
    assert len(after) == len(before) and after == before


def test_a_changed_ontology_graph_replaces_the_stores(loaded: Path, tmp_path: Path) -> None:
    """An ontology graph in a file that is not the shipped one replaces the store's graph
    (it is not merged into it)."""
    graph = "https://w3id.org/provml/oil-gas"
    file = tmp_path / "onto.trig"
    file.write_text(f"<{graph}> {{ <{graph}> a <http://www.w3.org/2002/07/owl#Ontology> . }}\n")
    fresh = tmp_path / "fresh"
    assert run("load", str(file), "--store", str(fresh))[0] == 0
    out = tmp_path / "g.nt"
    assert run("export", "--store", str(fresh), "--graph", graph, "--format", "ntriples",
               "-o", str(out))[0] == 0
    assert len(out.read_text().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["turtle", "trig"])
def test_turtle_and_trig_carry_the_ontology_prefixes(loaded: Path, fmt: str) -> None:
    code, out, _ = run("export", "--store", str(loaded), "--format", fmt)
    assert code == 0
    declared = {line.split()[1] for line in out.splitlines() if line.startswith("@prefix")}
    assert {"provml:", "prov:", "xsd:", "rdfs:", "owl:", "oilgas:", "id:"} <= declared
    assert "provml:TrainingExecution" in out and "<https://w3id.org/provml#T" not in out


def test_jsonld_is_compacted_with_a_context_and_reads_back_with_pyld(loaded: Path) -> None:
    from pyld import jsonld

    code, out, _ = run("export", "--store", str(loaded), "--format", "jsonld")
    assert code == 0
    document = json.loads(out)
    assert document["@context"]["provml"] == "https://w3id.org/provml#"
    assert document["@context"]["prov"] == "http://www.w3.org/ns/prov#"
    graphs = {g["@id"]: g["@graph"] for g in document["@graph"]}
    train = {n["@id"]: n for n in graphs["id:bundle/train-a"]}
    assert "provml:TrainingExecution" in train["id:run/train-a/train"]["@type"]
    # pyld's own RDF conversion of the compacted document gives the exported quads (pyld
    # writes xsd:double values in canonical form, "2.0E-3" for "0.002": compared as numbers)
    nquads = jsonld.to_rdf(document, {"format": "application/n-quads"})
    code, ref, _ = run("export", "--store", str(loaded), "--format", "nquads")
    assert by_value(nquads) == by_value(ref)


def by_value(nquads: str) -> set[tuple[object, ...]]:
    """The quads without blank nodes, xsd:double literals as floats."""
    out: set[tuple[object, ...]] = set()
    for q in parse(nquads.encode(), format=RdfFormat.N_QUADS):
        if "BlankNode" in (type(q.subject).__name__, type(q.object).__name__):
            continue
        obj: object = q.object
        if isinstance(q.object, Literal) and q.object.datatype.value.endswith("#double"):
            obj = float(q.object.value)
        out.add((q.subject, q.predicate, obj, q.graph_name))
    return out


def test_rdflib_reads_every_quad_export(loaded: Path, tmp_path: Path) -> None:
    import rdflib

    code, ref, _ = run("export", "--store", str(loaded), "--format", "nquads")
    expected = len(ref.splitlines())
    for fmt, rdflib_format in (("trig", "trig"), ("jsonld", "json-ld"), ("nquads", "nquads")):
        code, out, _ = run("export", "--store", str(loaded), "--format", fmt)
        dataset = rdflib.Dataset()
        dataset.parse(data=out, format=rdflib_format)
        assert sum(len(g) for g in dataset.graphs()) == expected, fmt


@pytest.mark.parametrize("fmt,rdf_format,graph", [("trig", "trig", None), ("turtle", "turtle", TRAIN_A),
                                                  ("turtle", "turtle", None)])
def test_the_prov_package_reads_the_exports(loaded: Path, tmp_path: Path, fmt: str, rdf_format: str,
                                            graph: str | None) -> None:
    """The W3C-listed `prov` package reads the TriG export, a one-graph Turtle export and the
    whole-store Turtle (it needs a prefix for every IRI: `id:` names the instance base)."""
    import prov.model

    file = tmp_path / f"x.{fmt}"
    args = ["export", "--store", str(loaded), "--format", fmt, "-o", str(file)]
    assert run(*args, *(["--graph", graph] if graph else []))[0] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prov warns about OWL axioms it does not convert
        document = prov.model.ProvDocument.deserialize(str(file), format="rdf", rdf_format=rdf_format)
    records = list(document.get_records()) + [r for b in document.bundles for r in b.get_records()]
    ids = {str(r.identifier) for r in records if r.identifier is not None}
    assert "id:run/train-a/train" in ids
    if fmt == "trig":
        assert {str(b.identifier) for b in document.bundles} >= {"id:bundle/train-a", "id:bundle/train-b"}
