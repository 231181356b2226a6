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


def test_a_rejected_file_changes_no_ontology_graph(tmp_path: Path) -> None:
    """A file whose instance data breaks the shapes is rejected whole: its ontology graph
    does not replace the store's either."""
    graph = "https://w3id.org/provml/oil-gas"
    file = tmp_path / "bad.trig"
    file.write_text(f"<{graph}> {{ <{graph}> a <http://www.w3.org/2002/07/owl#Ontology> . }}\n"
                    "<https://w3id.org/provml/id/bundle/x> { <https://w3id.org/provml/id/run/x> "
                    "a <https://w3id.org/provml#WorkflowExecution> ; "
                    "<http://www.w3.org/ns/prov#startedAtTime> \"2026-01-01T00:00:00\" . }\n")
    fresh = tmp_path / "fresh"
    code, _, err = run("load", str(file), "--store", str(fresh))
    assert code == 1 and "ExecutionShape" in err
    out = tmp_path / "g.nt"
    assert run("export", "--store", str(fresh), "--graph", graph, "--format", "ntriples",
               "-o", str(out))[0] == 0
    assert len(out.read_text().splitlines()) > 100  # the shipped ontology, untouched


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
    """The quads without blank nodes, xsd:double literals as floats to 16 significant digits.

    pyld writes a double as ``%1.15E`` (16 significant digits), so a mean such as
    0.44499999999999995 comes back from its RDF conversion as 0.445."""
    out: set[tuple[object, ...]] = set()
    for q in parse(nquads.encode(), format=RdfFormat.N_QUADS):
        if "BlankNode" in (type(q.subject).__name__, type(q.object).__name__):
            continue
        obj: object = q.object
        if isinstance(q.object, Literal) and q.object.datatype.value.endswith("#double"):
            obj = float(f"{float(q.object.value):.15e}")
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


# -- PROV-JSON / PROV-N / PROV-XML (the prov package) and RO-Crate (rocrate) ---------------------


def prov_records(document: object) -> dict[str, object]:
    bundles = list(document.bundles)  # type: ignore[attr-defined]
    return {str(r.identifier): r for b in bundles for r in b.get_records() if r.identifier is not None}


@pytest.mark.parametrize("fmt,prov_format", [("prov-json", "json"), ("prov-xml", "xml")])
def test_prov_exports_read_back_by_prov(loaded: Path, tmp_path: Path, fmt: str, prov_format: str) -> None:
    """prov reads its own PROV-JSON and PROV-XML: one bundle per run graph, the runs as
    activities with their times, the data they used and generated."""
    import prov.model

    file = tmp_path / f"doc.{prov_format}"
    code, _, err = run("export", "--store", str(loaded), "--format", fmt, "-o", str(file))
    assert code == 0, err
    document = prov.model.ProvDocument.deserialize(str(file), format=prov_format)
    bundles = {str(b.identifier) for b in document.bundles}
    assert {"id:bundle/train-a", "id:bundle/train-b", "id:bundle/curation-1"} <= bundles
    assert not any("provml/oil-gas" in b or b == "provml:" for b in bundles)  # no ontology bundle
    records = prov_records(document)
    train = records["id:run/train-a/train"]
    assert isinstance(train, prov.model.ProvActivity)
    assert train.get_startTime().isoformat() == "2026-01-01T00:16:41+00:00"
    types = {str(t) for t in train.get_asserted_types()}
    assert "provml:TrainingExecution" in types
    used = [r for b in document.bundles for r in b.get_records(prov.model.ProvUsage)]
    assert any(str(u.formal_attributes[0][1]) == "id:run/curation-1/curate" for u in used)


def test_prov_n_is_the_same_document(loaded: Path, tmp_path: Path) -> None:
    """prov has no PROV-N reader: the PROV-N export is compared with prov's own PROV-N of the
    PROV-JSON export read back (the same document, written twice)."""
    import prov.model

    code, provn, _ = run("export", "--store", str(loaded), "--format", "prov-n")
    assert code == 0 and provn.startswith("document")
    file = tmp_path / "doc.json"
    run("export", "--store", str(loaded), "--format", "prov-json", "-o", str(file))
    document = prov.model.ProvDocument.deserialize(str(file), format="json")
    assert "bundle id:bundle/train-a" in provn
    assert statements(provn) == statements(document.get_provn())
    assert len(statements(provn)) > 100


def statements(provn: str) -> set[tuple[str, str]]:
    """Each PROV-N statement as (keyword, its first argument); attribute order set aside."""
    import re

    found = re.findall(r"^\s*(\w+)\(([^,)]*)", provn, flags=re.MULTILINE)
    return {(kind, first.strip()) for kind, first in found}


def test_ro_crate_export_read_by_rocrate(loaded: Path, tmp_path: Path) -> None:
    """rocrate reads the crate: the graph as provenance.trig, a data entity per referenced file
    (copied when present under --root), a CreateAction per run with its inputs and outputs."""
    from rocrate.rocrate import ROCrate

    root = tmp_path / "root"
    (root / "input").mkdir(parents=True)
    (root / "input" / "train.hdf5").write_bytes(b"training data")
    dest = tmp_path / "crate"
    code, _, err = run("export", "--store", str(loaded), "--format", "ro-crate", "-o", str(dest),
                       "--root", str(root))
    assert code == 0, err
    crate = ROCrate(dest)
    ids = {e.id for e in crate.data_entities}
    assert {"provenance.trig", "data/netherlands.sgy", "input/train.hdf5",
            "models/train-a/model188.hdf5"} <= ids
    assert (dest / "input" / "train.hdf5").read_bytes() == b"training data"
    raw = crate.dereference("data/netherlands.sgy")
    assert raw["contentSize"] == str(pf.RAW_SIZE) and raw["identifier"] == f"sha256:{pf.RAW_SHA}"
    actions = {a.id: a for a in crate.get_by_type("CreateAction")}
    train = actions["https://w3id.org/provml/id/run/train-a"]
    assert train["startTime"].startswith("2026-01-01T00:16:40")
    assert "input/train.hdf5" in {o.id for o in train["object"]}
    assert "models/train-a/model188.hdf5" in {r.id for r in train["result"]}
    graph = Dataset(parse(path=str(dest / "provenance.trig")))
    assert len(list(graph)) > 500


def test_ro_crate_export_takes_a_url_whose_password_was_redacted(tmp_path: Path) -> None:
    """A data location ``https://alice:s3cr3t@host/raw.csv`` is captured as
    ``https://alice:[redacted]@host/raw.csv``; the crate read its brackets as an IPv6 address
    and the whole export failed (an audit, twenty-first session). The entity's ``@id`` now
    leaves the user information out."""
    from rocrate.rocrate import ROCrate

    import provml

    store = tmp_path / "store"
    with provml.Client(store=store, install_signal_handler=False) as client, \
            client.workflow("crate", meta=False) as wf, \
            wf.task("fetch", used=[provml.data("raw", "https://alice:s3cr3t@data.example.org/raw.csv"),
                                   provml.data("lake", "abfss://raw-zone-2024@acct.dfs.core.windows.net/w.parquet")]):
        pass
    dest = tmp_path / "crate"
    code, _, err = run("export", "--store", str(store), "--format", "ro-crate", "-o", str(dest))
    assert code == 0, err
    ids = {e.id for e in ROCrate(dest).data_entities}
    assert "https://data.example.org/raw.csv" in ids
    # an Azure container is no credential: kept (a review of the fix found it dropped)
    assert "abfss://raw-zone-2024@acct.dfs.core.windows.net/w.parquet" in ids
    assert "s3cr3t" not in (dest / "ro-crate-metadata.json").read_text()


def test_ro_crate_needs_an_output(loaded: Path) -> None:
    code, _, err = run("export", "--store", str(loaded), "--format", "ro-crate")
    assert code == 2 and "-o" in err
