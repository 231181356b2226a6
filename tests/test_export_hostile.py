"""`provml export` against hostile or unlucky data and outputs (a hostile probe, twenty-seventh
session): RO-Crate locations outside the crate or outside --root, outputs that cannot be
written or lie inside the store, --graph in quad formats, and statements XML or compacted
JSON-LD cannot hold. Every store is a real on-disk store; every export goes through the CLI."""

from __future__ import annotations

import json
import xml.parsers.expat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, parse

import provml
from provml.cli import main

EX = "http://ex.org/"
GRAPH = NamedNode(EX + "graph/one")


def cli(*args: str) -> Result:
    """The CLI's result; an exception other than click's exit is a failure (a traceback)."""
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback, exit {result.exit_code}") from result.exception
    return result


def quad_store(path: Path, quads: list[Quad]) -> Path:
    """An on-disk store holding ``quads`` (written straight to it: what any load could leave)."""
    from provml.knowledge import open_kg

    kg = open_kg(path)
    try:
        kg.store.add(quads)
    finally:
        kg.close()
    return path


def crate_store(tmp_path: Path, locations: list[str]) -> Path:
    """A store whose one task used data at ``locations`` (captured, as a client sends them)."""
    store = tmp_path / "store"
    used = [provml.data(f"d{i}", loc) for i, loc in enumerate(locations)]
    with provml.Client(store=store, install_signal_handler=False) as client, \
            client.workflow("crate", meta=False) as wf, wf.task("t", used=used):
        pass
    return store


def file_ids(crate: Path) -> set[str]:
    graph = json.loads((crate / "ro-crate-metadata.json").read_text())["@graph"]
    return {e["@id"] for e in graph if e.get("@type") == "File"}


@pytest.fixture
def escaping(tmp_path: Path) -> tuple[Path, Path]:
    """A store naming ``../outside.txt`` and ``sub/../../outside.txt`` beside ``in.txt``; the
    root ``work/`` holds ``in.txt``, its parent a secret ``outside.txt``."""
    root = tmp_path / "work"
    root.mkdir()
    (root / "in.txt").write_text("inside")
    (tmp_path / "outside.txt").write_text("SECRET-PARENT")
    store = crate_store(tmp_path, ["../outside.txt", "sub/../../outside.txt", "in.txt"])
    return store, root


def test_ro_crate_writes_nothing_outside_the_crate(escaping: tuple[Path, Path]) -> None:
    """``../outside.txt`` was copied to ``CRATE/../outside.txt``, over the file there."""
    store, root = escaping
    beside = root / "outside.txt"  # CRATE/../outside.txt
    beside.write_text("ORIGINAL")
    crate = root / "crate"
    result = cli("export", "--store", str(store), "--format", "ro-crate", "-o", str(crate),
                 "--root", str(root))
    assert result.exit_code == 0, result.stderr
    assert beside.read_text() == "ORIGINAL"
    written = {p.relative_to(crate).as_posix() for p in crate.rglob("*") if p.is_file()}
    assert written == {"in.txt", "provenance.trig", "ro-crate-metadata.json"}
    ids = file_ids(crate)
    assert "in.txt" in ids and (root.parent / "outside.txt").as_uri() in ids
    assert not any(i.startswith((".", "/")) or "/../" in i for i in ids)


def test_ro_crate_zip_has_no_entry_outside_it(escaping: tuple[Path, Path]) -> None:
    """The .zip held an entry ``../outside.txt`` (zip-slip: extracting it writes outside)."""
    store, root = escaping
    dest = root / "crate.zip"
    result = cli("export", "--store", str(store), "--format", "ro-crate", "-o", str(dest),
                 "--root", str(root))
    assert result.exit_code == 0, result.stderr
    names = zipfile.ZipFile(dest).namelist()
    assert sorted(names) == ["in.txt", "provenance.trig", "ro-crate-metadata.json"]
    assert b"SECRET-PARENT" not in dest.read_bytes()


def test_ro_crate_copies_only_files_inside_root(tmp_path: Path) -> None:
    """An absolute location anywhere was copied, whatever --root said; a symbolic link under
    --root to a file elsewhere is not followed out either. An absolute path under --root is
    copied, at its path relative to --root."""
    root, secret = tmp_path / "root", tmp_path / "secret"
    (root / "data").mkdir(parents=True)
    secret.mkdir()
    (secret / "key.txt").write_text("PRIVATE-KEY")
    (root / "link.txt").symlink_to(secret / "key.txt")
    (root / "data" / "in.csv").write_text("a,b")
    store = crate_store(tmp_path, [str(secret / "key.txt"), "link.txt", str(root / "data" / "in.csv")])
    crate = tmp_path / "crate"
    result = cli("export", "--store", str(store), "--format", "ro-crate", "-o", str(crate),
                 "--root", str(root))
    assert result.exit_code == 0, result.stderr
    for file in crate.rglob("*"):
        assert not file.is_file() or b"PRIVATE-KEY" not in file.read_bytes(), file
    assert (crate / "data" / "in.csv").read_text() == "a,b"
    assert not (crate / "link.txt").exists()
    assert not any(p.name == "key.txt" for p in crate.rglob("*"))
    ids = file_ids(crate)
    assert {"data/in.csv", "link.txt", (secret / "key.txt").as_uri()} <= ids


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one triple in :data:`GRAPH` and one in another graph."""
    tmp = tmp_path_factory.mktemp("plain")
    return quad_store(tmp / "store", [
        Quad(NamedNode(EX + "a"), NamedNode(EX + "p"), Literal("one"), GRAPH),
        Quad(NamedNode(EX + "b"), NamedNode(EX + "p"), Literal("two"), NamedNode(EX + "graph/two")),
    ])


@pytest.mark.parametrize("target", ["folder", "missing/parent/x.nq"])
def test_an_output_that_cannot_be_written_exits_2(plain: Path, tmp_path: Path, target: str) -> None:
    (tmp_path / "folder").mkdir()
    output = tmp_path / target
    result = cli("export", "--store", str(plain), "--format", "nquads", "-o", str(output))
    assert result.exit_code == 2
    assert f"cannot write {output}" in result.stderr


@pytest.mark.parametrize("fmt,inside", [("nquads", "CURRENT"), ("trig", "new.trig"), ("ro-crate", ".")])
def test_an_output_inside_the_store_is_refused(tmp_path: Path, fmt: str, inside: str) -> None:
    """``-o STORE/CURRENT`` overwrote RocksDB's file: the store no longer opened."""
    store = quad_store(tmp_path / "store", [Quad(NamedNode(EX + "a"), NamedNode(EX + "p"),
                                                  Literal("x"), GRAPH)])
    before = sorted(p.name for p in store.iterdir())
    current = (store / "CURRENT").read_bytes()
    result = cli("export", "--store", str(store), "--format", fmt, "-o", str(store / inside))
    assert result.exit_code == 2 and "inside the store" in result.stderr
    assert sorted(p.name for p in store.iterdir()) == before
    assert (store / "CURRENT").read_bytes() == current
    assert cli("stats", "--store", str(store)).exit_code == 0


@pytest.mark.parametrize("fmt", ["trig", "nquads", "jsonld"])
def test_one_graph_in_a_dataset_format_keeps_its_name(plain: Path, tmp_path: Path, fmt: str) -> None:
    """With --graph, TriG and N-Quads were written as triples: loading put them in
    ``graph/imported``, not back in their graph."""
    out = tmp_path / f"one.{ {'trig': 'trig', 'nquads': 'nq', 'jsonld': 'jsonld'}[fmt]}"
    result = cli("export", "--store", str(plain), "--graph", GRAPH.value, "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    fresh = tmp_path / "fresh"
    assert cli("load", str(out), "--store", str(fresh)).exit_code == 0
    back = tmp_path / "back.nq"
    assert cli("export", "--store", str(fresh), "--graph", GRAPH.value, "--format", "nquads",
               "-o", str(back)).exit_code == 0
    quads = list(parse(path=str(back), format=RdfFormat.N_QUADS))
    assert [(q.subject, q.object, q.graph_name) for q in quads] == [(NamedNode(EX + "a"), Literal("one"), GRAPH)]
    # a triples format holds the graph's triples only
    triples = cli("export", "--store", str(plain), "--graph", GRAPH.value, "--format", "ntriples")
    assert triples.exit_code == 0 and triples.stdout.strip() == f'<{EX}a> <{EX}p> "one" .'


@pytest.mark.parametrize("graph,says", [("", "--graph needs a graph IRI"),
                                        (EX + "graph/none", f"no graph <{EX}graph/none>"),
                                        ("not an iri", "is not an IRI")])
def test_a_graph_that_is_not_there_exits_2(plain: Path, graph: str, says: str) -> None:
    """``--graph ""`` exported the whole store; a graph not in the store gave empty output,
    exit 0, no word."""
    result = cli("export", "--store", str(plain), "--graph", graph, "--format", "nquads")
    assert result.exit_code == 2 and says in result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def controls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PROV entity whose value holds ESC (a coloured error message) and a U+0001."""
    tmp = tmp_path_factory.mktemp("controls")
    return quad_store(tmp / "store", [
        Quad(NamedNode(EX + "e"), NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
             NamedNode("http://www.w3.org/ns/prov#Entity"), GRAPH),
        Quad(NamedNode(EX + "e"), NamedNode("http://www.w3.org/ns/prov#value"),
             Literal("\x1b[31mboom\x01"), GRAPH),
    ])


@pytest.mark.parametrize("fmt", ["rdfxml", "prov-xml"])
def test_xml_exports_name_the_literal_xml_cannot_hold(controls: Path, tmp_path: Path, fmt: str) -> None:
    """PROV-XML failed naming nothing; RDF/XML wrote the raw character (ill-formed XML), exit 0."""
    out = tmp_path / "x.xml"
    result = cli("export", "--store", str(controls), "--format", fmt, "-o", str(out))
    assert result.exit_code == 2
    assert f"<{EX}e> <http://www.w3.org/ns/prov#value>" in result.stderr
    assert "U+001B" in result.stderr and "N-Quads" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("predicate", [EX + "p/", EX + "123"])
def test_rdfxml_refuses_a_property_that_is_no_xml_name(tmp_path: Path, predicate: str) -> None:
    """Such a property was written ``<oxprefix: xmlns:oxprefix=…>``: ill-formed, exit 0."""
    store = quad_store(tmp_path / "store", [Quad(NamedNode(EX + "a"), NamedNode(predicate),
                                                  Literal("x"), GRAPH)])
    result = cli("export", "--store", str(store), "--format", "rdfxml")
    assert result.exit_code == 2 and f"<{predicate}>" in result.stderr
    assert "oxprefix" not in result.stdout


def test_rdfxml_export_is_well_formed_or_refused(plain: Path, controls: Path) -> None:
    """Whatever the store holds, an RDF/XML export that exits 0 is well-formed XML."""
    good = cli("export", "--store", str(plain), "--format", "rdfxml")
    assert good.exit_code == 0, good.stderr
    xml.parsers.expat.ParserCreate(namespace_separator=" ").Parse(good.stdout_bytes, True)
    bad = cli("export", "--store", str(controls), "--format", "rdfxml")
    assert bad.exit_code == 2 and bad.stdout == ""


def test_compacted_jsonld_names_an_iri_it_cannot_write(tmp_path: Path) -> None:
    """``<oilgas:Well_16_2>`` (a scheme that is a prefix of the context) crashed pyld: a
    JsonLdError traceback, exit 1. The expanded form has no context, and writes it."""
    store = quad_store(tmp_path / "store", [Quad(NamedNode(EX + "w"), NamedNode(EX + "about"),
                                                  NamedNode("oilgas:Well_16_2"), GRAPH)])
    result = cli("export", "--store", str(store), "--format", "jsonld")
    assert result.exit_code == 2
    assert "<oilgas:Well_16_2>" in result.stderr and "jsonld-expanded" in result.stderr
    expanded = cli("export", "--store", str(store), "--format", "jsonld-expanded")
    assert expanded.exit_code == 0 and "oilgas:Well_16_2" in expanded.stdout


def test_prov_exports_refuse_an_iri_prov_would_read_back_as_another(tmp_path: Path) -> None:
    """``geo:60.1,2.5`` (a geo URI, RFC 5870) was written by ``prov`` as the qualified name of
    rdflib's default prefix ``geo`` and came back from ``provml import prov-json`` as
    ``http://www.opengis.net/ont/geosparql#60.1,2.5`` (a review, twenty-seventh session):
    refused, naming it; N-Quads keeps it."""
    events = [{"v": 1, "kind": "workflow_begin", "t": 1.7e9, "run": "g1", "workflow": "wf", "type": "generic"},
              {"v": 1, "kind": "task_begin", "t": 1.7e9 + 1, "run": "g1", "workflow": "wf", "task": "t", "name": "t",
               "type": "generic", "used": [{"name": "well", "domain": "geo:60.1,2.5"}]},
              {"v": 1, "kind": "task_end", "t": 1.7e9 + 2, "run": "g1", "workflow": "wf", "task": "t", "name": "t",
               "type": "generic", "status": "finished"},
              {"v": 1, "kind": "workflow_end", "t": 1.7e9 + 3, "run": "g1", "workflow": "wf", "status": "finished"}]
    spool = tmp_path / "geo.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in events))
    store = tmp_path / "s"
    assert CliRunner().invoke(main, ["load", str(spool), "--store", str(store)]).exit_code == 0
    for fmt in ("prov-json", "prov-n", "prov-xml"):
        result = CliRunner().invoke(main, ["export", "--store", str(store), "--format", fmt])
        assert result.exit_code == 2 and "<geo:60.1,2.5>" in result.stderr, (fmt, result.output)
    kept = CliRunner().invoke(main, ["export", "--store", str(store), "--format", "nquads"])
    assert kept.exit_code == 0 and "<geo:60.1,2.5>" in kept.stdout
    from provml.interop.prov_export import _rdflib_prefixes

    assert {"geo", "schema", "prov", "xsd", "xsi"} <= _rdflib_prefixes()  # (prov's own: xsi:type came back as another)
