"""`provml validate`: exit 0 conforms, 1 does not (a report per result), 2 could not run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provml.cli import main
from provml.ontology import path as ontology_path

FIG8 = ontology_path("examples/fig8.ttl")
INVALID = Path(__file__).parent / "shapes" / "invalid"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_conforming_file_exits_0_with_one_line(runner: CliRunner) -> None:
    result = runner.invoke(main, ["validate", str(FIG8)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "conforms: no results"


def test_non_conforming_file_exits_1_with_a_readable_report(runner: CliRunner) -> None:
    file = INVALID / "data-reference-without-location.ttl"
    result = runner.invoke(main, ["validate", str(file)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "does not conform: 3 violations"
    assert "Violation 3: provml-shapes:DataReferenceShape" in lines
    assert "  focus node: https://w3id.org/provml/id/data/loc-1" in lines
    assert "  path:       provml:location" in lines
    assert "  constraint: sh:MinCountConstraintComponent" in lines
    assert '  value:      "-5"^^xsd:integer' in lines
    assert any(line.startswith("  message:    A data reference needs its location") for line in lines)


def test_json_report(runner: CliRunner) -> None:
    file = INVALID / "execution-start-without-timezone.ttl"
    result = runner.invoke(main, ["validate", "--format", "json", str(file)])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["conforms"] is False
    (only,) = data["results"]
    assert only["shape"] == "https://w3id.org/provml/shapes#ExecutionShape"
    assert only["path"] == "http://www.w3.org/ns/prov#startedAtTime"
    assert only["focus_node"] == "https://w3id.org/provml/id/run/r1"
    assert "timezone" in only["message"]
    ok = runner.invoke(main, ["validate", "--format", "json", str(FIG8)])
    assert ok.exit_code == 0 and json.loads(ok.output) == {"conforms": True, "results": []}


def test_several_files_and_an_input_format(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "fig8.data"
    data.write_bytes(FIG8.read_bytes())
    plan = tmp_path / "plan.ttl"
    plan.write_text(
        '<https://w3id.org/provml/id/plan/x> a <https://w3id.org/provml#Workflow> ; '
        '<http://www.w3.org/2000/01/rdf-schema#label> "x" .', encoding="utf-8")
    result = runner.invoke(main, ["validate", str(data), str(plan), "--input-format", "turtle"])
    assert result.exit_code == 0, result.output
    unknown = runner.invoke(main, ["validate", str(data)])
    assert unknown.exit_code == 2
    assert "cannot tell the RDF format" in unknown.output
    assert "Traceback" not in unknown.output


def test_custom_shapes(runner: CliRunner, tmp_path: Path) -> None:
    shapes = tmp_path / "strict.ttl"
    shapes.write_text(
        """@prefix sh: <http://www.w3.org/ns/shacl#> .
        <urn:persona-email> a sh:NodeShape ;
            sh:targetClass <https://w3id.org/provml#Persona> ;
            sh:property [ sh:path <urn:email> ; sh:minCount 1 ; sh:message "needs an email" ] .""",
        encoding="utf-8")
    result = runner.invoke(main, ["validate", str(FIG8), "--shapes", str(shapes)])
    assert result.exit_code == 1
    assert "needs an email" in result.output


def test_broken_file_exits_2_naming_file_line_and_column(runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttl"
    broken.write_text("@prefix ex: <http://e/> .\nex:a ex:b\n ex:c ex:d .\n", encoding="utf-8")
    result = runner.invoke(main, ["validate", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}:3:7: A dot is expected" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["validate", str(tmp_path / "nope.ttl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_help_names_the_exit_codes(runner: CliRunner) -> None:
    result = runner.invoke(main, ["validate", "--help"])
    assert result.exit_code == 0
    assert "Exit 0 when the data conforms, 1 when it does not, 2 when it could not run" in " ".join(
        result.output.split())


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "provml"
    ok = subprocess.run([str(exe), "validate", str(FIG8)], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "conforms: no results"
    bad = subprocess.run([str(exe), "validate", str(INVALID / "value-orphan.ttl")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "provml-shapes:ValueShape" in bad.stdout
    broken = tmp_path / "broken.nt"
    broken.write_text("<http://e/a> <http://e/b> .\n", encoding="utf-8")
    failed = subprocess.run([str(exe), "validate", str(broken)], capture_output=True, text=True,
                            timeout=120)
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"Error: {broken}:1:")
    assert "Traceback" not in failed.stderr and failed.stdout == ""


WARNING_ONLY = """@prefix provml: <https://w3id.org/provml#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
<https://w3id.org/provml/id/run/w1> a provml:WorkflowExecution .
"""


def test_warnings_only_do_not_conform_as_shacl_says(runner: CliRunner, tmp_path: Path) -> None:
    """SHACL: any result, whatever its severity, means sh:conforms false; the exit code is 1
    unless --allow-warnings; the text names the results as warnings."""
    file = tmp_path / "warn.ttl"
    file.write_text(WARNING_ONLY)
    result = runner.invoke(main, ["validate", str(file)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == "does not conform: 1 warning"
    assert "Warning 1: provml-shapes:ExecutionShape" in lines
    as_json = runner.invoke(main, ["validate", "--format", "json", str(file)])
    data = json.loads(as_json.output)
    assert data["conforms"] is False and [r["severity"] for r in data["results"]] == ["Warning"]
    allowed = runner.invoke(main, ["validate", "--allow-warnings", str(file)])
    assert allowed.exit_code == 0 and allowed.output.splitlines()[0] == "does not conform: 1 warning"
    violating = runner.invoke(main, ["validate", "--allow-warnings",
                                     str(INVALID / "value-orphan.ttl")])
    assert violating.exit_code == 1


def test_the_same_verdict_as_pyshacl_without_allow_warnings(tmp_path: Path) -> None:
    """The reference engine, run as SHACL defines it, agrees: warnings only → not conforming."""
    import pyshacl
    import rdflib

    from provml.ingest.enrichment import class_closure, default_ontology
    from provml.ingest.validation import default_shapes

    file = tmp_path / "warn.ttl"
    file.write_text(WARNING_ONLY)
    data = rdflib.Graph().parse(file)
    closure = class_closure(tuple(str(p) for p in default_ontology()))
    for s, _, o in list(data.triples((None, rdflib.RDF.type, None))):
        for sup in closure.get(__import__("pyoxigraph").NamedNode(str(o)), ()):
            data.add((s, rdflib.RDF.type, rdflib.URIRef(sup.value)))
    conforms, _, _ = pyshacl.validate(data, shacl_graph=str(default_shapes()[0]))
    assert conforms is False


UNREADABLE_TIMES = """@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix provml: <https://w3id.org/provml#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<https://w3id.org/provml/id/run/t24> a provml:WorkflowExecution ;
    prov:startedAtTime "2026-01-01T24:00:00Z"^^xsd:dateTime .
<https://w3id.org/provml/id/run/bad> a provml:WorkflowExecution ;
    prov:startedAtTime "yesterday"^^xsd:dateTime .
"""


@pytest.mark.parametrize("command", ["validate", "load"])
def test_literals_rdflib_cannot_read_print_no_traceback(tmp_path: Path, command: str) -> None:
    """rdflib logged a warning with a seven-line traceback for each literal it could not read
    into a value — an ill-typed one, or XSD's T24:00:00 — while provml validated; the report
    says what is wrong with the data, so those lines are dropped during validation only."""
    data = tmp_path / "times.ttl"
    data.write_text(UNREADABLE_TIMES, encoding="utf-8")
    exe = Path(sys.executable).parent / "provml"
    args = [str(exe), command, str(data)] + (["--store", str(tmp_path / "store")] if command == "load" else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert '"yesterday"^^xsd:dateTime' in done.stdout + done.stderr  # the report names the bad value
    assert "Traceback" not in done.stderr and "Failed to convert" not in done.stderr, done.stderr


def test_rdflib_warns_as_before_outside_validation(caplog: pytest.LogCaptureFixture) -> None:
    import rdflib

    from provml.ingest.validation import validate_files

    validate_files([FIG8])  # the filter is installed
    with caplog.at_level("WARNING", logger="rdflib.term"):
        rdflib.Literal("yesterday", datatype=rdflib.XSD.dateTime)
    assert any("Failed to convert" in r.getMessage() for r in caplog.records)
