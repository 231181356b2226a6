"""The ontologies opened by the tools people use on them: the OWL API (Debian libowlapi-java; a
small Java check compiled by tests/owlapi/Makefile) with imports resolved only through the
catalog and the OWL 2 DL profile checked; owlready2 on the RDF/XML twins."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pyoxigraph import CanonicalizationAlgorithm, Dataset, Quad, RdfFormat, parse

from provml.ontology import path
from provml.ontology_twins import TWINS, rdfxml

OWLAPI = Path(__file__).parent / "owlapi"
CATALOG = path("catalog-v001.xml")


@pytest.fixture(scope="module")
def owlapi_check() -> list[str]:
    """The compiled check's command line (make builds it when the source changed)."""
    if shutil.which("javac") is None or not Path("/usr/share/java/owlapi-distribution.jar").exists():
        pytest.fail("the OWL API check needs javac and libowlapi-java: run make system-deps")
    subprocess.run(["make", "-s", "-C", str(OWLAPI)], check=True, capture_output=True, timeout=300)
    return ["java", "-cp", f"{OWLAPI / 'build'}:/usr/share/java/*", "OntologyCheck", str(CATALOG)]


def check(command: list[str], *files: Path) -> tuple[int, list[str]]:
    done = subprocess.run([*command, *map(str, files)], capture_output=True, text=True, timeout=300)
    return done.returncode, [line for line in done.stdout.splitlines() if not line.startswith("SLF4J")]


@pytest.mark.slow
def test_owl_api_loads_both_ontologies_without_a_dl_violation_of_their_own(owlapi_check: list[str]) -> None:
    code, lines = check(owlapi_check, path("provml.ttl"), path("domains/oil-gas.ttl"))
    assert code == 0, lines
    assert any(line.startswith("LOADED https://w3id.org/provml axioms=") for line in lines)
    assert any(line.startswith("LOADED https://w3id.org/provml/oil-gas axioms=") for line in lines)
    assert "imports=2" in next(line for line in lines if line.startswith("LOADED https://w3id.org/provml "))
    assert "OWN_VIOLATIONS 0" in lines
    assert not any(line.startswith("VIOLATION") for line in lines)


@pytest.mark.slow
def test_owl_api_check_fails_on_the_old_rdfs_member_axiom(owlapi_check: list[str], tmp_path: Path) -> None:
    """The axiom the issue reported (provml:hadMember rdfs:subPropertyOf rdfs:member) is caught."""
    copy = tmp_path / "ontology"
    shutil.copytree(path("provml.ttl").parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    ttl = copy / "provml.ttl"
    ttl.write_text(ttl.read_text() + "\n:hadMember rdfs:subPropertyOf rdfs:member .\n")
    owlapi_check = [*owlapi_check[:-1], str(copy / "catalog-v001.xml")]
    code, lines = check(owlapi_check, ttl)
    assert code == 1
    assert any(line.startswith("VIOLATION") and "rdfs:member" in line for line in lines)


@pytest.mark.slow
def test_owl_api_check_fails_on_an_unresolved_import(owlapi_check: list[str], tmp_path: Path) -> None:
    onto = tmp_path / "x.ttl"
    onto.write_text("@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
                    "<http://example.org/x> a owl:Ontology ; owl:imports <http://example.org/nowhere> .\n")
    code, lines = check(owlapi_check, onto)
    assert code == 2 and any("UNLOADABLE" in line and "nowhere" in line for line in lines)


@pytest.mark.parametrize(("turtle", "twin"), TWINS, ids=[t.name for t, _ in TWINS])
def test_rdfxml_twins_hold_the_same_triples(turtle: Path, twin: Path) -> None:
    """Each shipped .owl twin is its Turtle source (python -m provml.ontology_twins rewrites them)."""
    def canonical(quads: list[Quad]) -> set[Quad]:
        dataset = Dataset(quads)
        dataset.canonicalize(CanonicalizationAlgorithm.RDFC_1_0)
        return set(dataset)

    source = canonical(list(parse(path=str(turtle), format=RdfFormat.TURTLE)))
    shipped = canonical(list(parse(path=str(twin), format=RdfFormat.RDF_XML)))
    assert shipped == source
    assert canonical(list(parse(rdfxml(turtle), format=RdfFormat.RDF_XML))) == source


def test_owlready2_opens_the_rdfxml_twin_with_its_import(tmp_path: Path) -> None:
    """owlready2 (which cannot read the Turtle) opens provml.owl; PROV-O comes from the local
    twin in imports/ through owlready2's onto_path, not from the web."""
    import owlready2

    world = owlready2.World(filename=str(tmp_path / "quadstore.sqlite3"))
    owlready2.onto_path.insert(0, str(path("imports")))
    try:
        onto = world.get_ontology(path("provml.owl").as_uri()).load()
    finally:
        owlready2.onto_path.remove(str(path("imports")))
    assert onto.base_iri == "https://w3id.org/provml#"
    (prov,) = onto.imported_ontologies
    assert prov.base_iri == "http://www.w3.org/ns/prov-o#" and len(list(prov.classes())) > 20
    assert {c.name for c in onto.Model.is_a if hasattr(c, "name")} >= {"DataReference", "Collection"}
    assert len(list(onto.classes())) > 60
