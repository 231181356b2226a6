"""`provml import prov-json | mlflow | flowcept`: inputs written by the real tools (the `prov`
package, as yProv4ML uses it; MLflow's own client on SQLite and on mlruns/), read into a real
on-disk store through the normal validation; what was mapped is queried back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import paper_fixture as pf
import pytest
from click.testing import CliRunner
from pyoxigraph import CanonicalizationAlgorithm, Dataset

from provml.cli import main
from provml.knowledge import open_kg

PROVML = "https://w3id.org/provml#"
PROV = "http://www.w3.org/ns/prov#"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def select(store: Path, sparql: str) -> list[dict[str, str]]:
    with open_kg(store) as kg:
        result = kg.query(sparql)
        names = [v.value for v in result.variables]
        return [{n: row[n].value for n in names if row[n] is not None} for row in result]


# -- PROV-JSON ------------------------------------------------------------------------------------


def yprov4ml_document(path: Path, *, learning_rate: str = "0.01") -> None:
    """A PROV-JSON file written the way yProv4ML writes it, with the prov package: a default
    namespace that is the experiment's name, provml -> 'prov-ml', the 2000/10 XSD namespace,
    values as strings, zone-less times, one as the string of a dict, types as plain strings."""
    import prov.model

    doc = prov.model.ProvDocument()
    doc.add_namespace("yprov", "https://github.com/HPCI-Lab/yProv4ML")
    doc.set_default_namespace("mnist_GR0_0")
    doc.add_namespace("xsd", "http://www.w3.org/2000/10/XMLSchema#")
    doc.add_namespace("provml", "prov-ml")
    doc.add_namespace("dcterms", "http://purl.org/dc/terms/")
    user = doc.agent("alice")
    root = doc.activity("mnist_GR0_0")
    root.add_attributes({"yprov:run_id": "0", "prov:startedAtTime": "2025-03-01T10:00:00.123456"})
    root.wasAssociatedWith(user)
    training = doc.activity("training")
    training.add_attributes({"prov:startedAtTime": str({"$": "2025-03-01T10:00:01", "type": "xsd:dateTime"})})
    training.wasInformedBy(root)
    for name, value in (("learning_rate", learning_rate), ("batch_size", "32")):
        training.used(doc.entity(name, {"prov:type": "provml:HyperParameter", "prov:label": name,
                                        "prov:value": value}))
    model = doc.entity("model//training", {"prov:type": "provml:Model", "prov:label": "model",
                                           "dcterms:identifier": "artifacts/model.pth",
                                           "yprov:file_size": "1024", "prov:role": "output"})
    model.wasGeneratedBy(training)
    doc.entity("Loss//training", {"prov:type": "provml:Metric"}).wasGeneratedBy(training)
    doc.serialize(str(path), format="json")


def test_prov_json_from_yprov4ml_maps_to_provml(tmp_path: Path) -> None:
    file = tmp_path / "mnist.json"
    yprov4ml_document(file)
    store = tmp_path / "store"
    code, out, err = run("import", "prov-json", str(file), "--store", str(store), "--format", "json")
    assert code == 0, (out, err)
    report = json.loads(out)
    assert report["mapped"]["LearningHyperparameterValue"] == 2
    assert report["mapped"]["Model"] == 1 and report["mapped"]["TrainingExecution"] == 1
    assert report["plain_types"] == {"provml:Metric": 1}
    assert report["lost"] == {"prov:role": 1}
    assert report["notes"]["times without a zone read as UTC"] == 2
    rows = select(store, f"""SELECT ?v ?name WHERE {{ ?h a <{PROVML}LearningHyperparameterValue> ;
        <http://www.w3.org/ns/prov#value> ?v ; <http://www.w3.org/ns/prov#wasDerivedFrom> ?a .
        ?a <http://www.w3.org/2000/01/rdf-schema#label> ?name }} ORDER BY ?name""")
    assert [(r["name"], r["v"]) for r in rows] == [("batch_size", "32"), ("learning_rate", "0.01")]
    (model,) = select(store, f"SELECT ?loc WHERE {{ ?m a <{PROVML}Model> ; <{PROVML}location> ?loc }}")
    assert model["loc"] == "artifacts/model.pth"
    (stage,) = select(store, f"""SELECT ?start WHERE {{ ?t a <{PROVML}TrainingExecution> ;
        <http://www.w3.org/ns/prov#startedAtTime> ?start }}""")
    assert stage["start"] in ("2025-03-01T10:00:01Z", "2025-03-01T10:00:01+00:00")


def test_prov_json_rejected_by_the_shapes_leaves_the_store_unchanged(tmp_path: Path) -> None:
    """A hyperparameter with an empty value breaks the shapes: exit 1, the report, nothing stored."""
    import prov.model

    doc = prov.model.ProvDocument()
    doc.add_namespace("provml", "prov-ml")
    doc.set_default_namespace("http://example.org/")
    act = doc.activity("training")
    act.wasInformedBy(doc.activity("root"))
    act.used(doc.entity("lr", {"prov:type": "provml:HyperParameter"}))  # no prov:value
    file = tmp_path / "bad.json"
    doc.serialize(str(file), format="json")
    store = tmp_path / "store"
    with open_kg(store) as kg:
        before = len(kg.store)
    code, _, err = run("import", "prov-json", str(file), "--store", str(store))
    assert code == 1 and "LearningHyperparameterValueShape" in err
    with open_kg(store) as kg:
        assert len(kg.store) == before


def test_prov_json_export_imports_back_to_the_same_instance_quads(tmp_path: Path) -> None:
    """provml's PROV-JSON export, imported into a fresh store, gives back the PROV-ML instance
    quads it came from (the domain triples about non-PROV resources are what PROV-JSON loses)."""
    spool = tmp_path / "spool.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in pf.all_events()))
    first, second = tmp_path / "first", tmp_path / "second"
    assert run("load", str(spool), "--store", str(first))[0] == 0
    doc = tmp_path / "doc.json"
    assert run("export", "--store", str(first), "--format", "prov-json", "-o", str(doc))[0] == 0
    code, out, err = run("import", "prov-json", str(doc), "--store", str(second))
    assert code == 0, (out, err)

    def instance(store: Path) -> set[object]:
        with open_kg(store) as kg:
            quads = [q for q in kg.store.quads() if not q.graph_name.value.startswith(
                ("https://w3id.org/provml/oil-gas", "https://w3id.org/provml#"))
                and q.graph_name.value != "https://w3id.org/provml"]
        dataset = Dataset(quads)
        dataset.canonicalize(CanonicalizationAlgorithm.RDFC_1_0)
        return set(dataset)

    assert instance(second) == instance(first)


def test_prov_json_not_a_document_exits_2(tmp_path: Path) -> None:
    file = tmp_path / "x.json"
    file.write_text('{"hello": 1}')
    code, _, err = run("import", "prov-json", str(file), "--store", str(tmp_path / "s"))
    assert code == 2 and "not a PROV-JSON document" in err


# -- MLflow ---------------------------------------------------------------------------------------

MLFLOW_SCRIPT = textwrap.dedent("""
    import sys, mlflow, mlflow.pyfunc
    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("iris-search")

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    with mlflow.start_run(run_name="lr-0.01"):
        mlflow.log_params({"learning_rate": 0.01, "optimizer": "adam", "epochs": 3})
        mlflow.set_tags({"team": "geo"})
        for step, (loss, acc) in enumerate([(0.9, 0.5), (0.5, 0.7), (0.3, 0.8)]):
            mlflow.log_metric("loss", loss, step=step)
            mlflow.log_metric("accuracy", acc, step=step)
        with open("notes.txt", "w") as f:
            f.write("hello")
        mlflow.log_artifact("notes.txt", artifact_path="reports")
        mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])
    with mlflow.start_run(run_name="crashed"):
        mlflow.log_param("learning_rate", "1e-3")
        mlflow.log_metric("loss", 2.0, step=0)
        mlflow.end_run(status="FAILED")
""")


@pytest.fixture(scope="module", params=["sqlite", "mlruns"])
def mlflow_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow tracking store written by MLflow itself (in a subprocess): SQLite or mlruns/."""
    tmp = tmp_path_factory.mktemp(f"mlflow-{request.param}")
    script = tmp / "log.py"
    script.write_text(MLFLOW_SCRIPT)
    if request.param == "sqlite":
        uri, where = f"sqlite:///{tmp / 'mlflow.db'}", str(tmp / "mlflow.db")
    else:
        uri, where = (tmp / "mlruns").as_uri(), str(tmp / "mlruns")
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    subprocess.run([sys.executable, str(script), uri], cwd=tmp, env=env, check=True,
                   capture_output=True, timeout=240)
    return where


@pytest.mark.slow
def test_mlflow_runs_become_learning_executions(mlflow_store: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    code, out, err = run("import", "mlflow", mlflow_store, "--store", str(store), "--format", "json")
    assert code == 0, (out, err)
    report = json.loads(out)
    assert report["records"]["run"] == 2 and report["mapped"]["Model"] == 1
    assert report["mapped"]["LearningHyperparameterValue"] == 4
    runs = select(store, f"""SELECT ?status ?start ?end WHERE {{ ?r a <{PROVML}LearningProcessExecution> ;
        <{PROVML}status> ?status ; <http://www.w3.org/ns/prov#startedAtTime> ?start ;
        <http://www.w3.org/ns/prov#endedAtTime> ?end }} ORDER BY ?status""")
    assert [r["status"] for r in runs] == ["errored", "finished"]
    # compared as times: as strings "…:01Z" sorts after "…:01.200Z"
    assert all(datetime.fromisoformat(r["start"]) <= datetime.fromisoformat(r["end"]) for r in runs)
    params = select(store, f"""SELECT ?v WHERE {{ ?h a <{PROVML}LearningHyperparameterValue> ;
        <http://www.w3.org/ns/prov#value> ?v }}""")
    assert sorted(float(p["v"]) for p in params if p["v"] != "adam") == [0.001, 0.01, 3.0]
    steps = select(store, f"""SELECT ?i ?name ?v WHERE {{
        ?c a <{PROVML}TrainingSectionExecution> ; <{PROVML}iteration> ?i .
        ?e <http://www.w3.org/ns/prov#wasGeneratedBy> ?c ; a <{PROVML}ModelEvaluation> ;
           <http://www.w3.org/ns/prov#value> ?v ; <http://www.w3.org/ns/prov#wasDerivedFrom> ?a .
        ?a <http://www.w3.org/2000/01/rdf-schema#label> ?name }}""")
    loss = sorted((int(s["i"]), float(s["v"])) for s in steps if s["name"] == "loss")
    assert loss == [(0, 0.9), (0, 2.0), (1, 0.5), (2, 0.3)]
    (artifact,) = select(store, f"""SELECT ?loc ?size WHERE {{ ?d a <{PROVML}DataReference> ;
        <{PROVML}location> ?loc ; <{PROVML}byteSize> ?size FILTER(STRENDS(?loc, "notes.txt")) }}""")
    assert artifact["loc"].endswith("reports/notes.txt") and artifact["size"] == "5"
    tags = select(store, f"SELECT ?t WHERE {{ ?r <{PROVML}tag> ?t }}")
    assert "team=geo" in {t["t"] for t in tags}


def test_mlflow_nothing_there_exits_2(tmp_path: Path) -> None:
    code, _, err = run("import", "mlflow", str(tmp_path / "none"), "--store", str(tmp_path / "s"))
    assert code == 2 and "mlruns" in err


# -- Flowcept -------------------------------------------------------------------------------------


def flowcept_messages() -> list[dict[str, Any]]:
    """Messages with the fields of Flowcept's TaskObject / WorkflowObject (flowcept.commons.
    flowcept_dataclasses), as its buffer dumps them."""
    return [
        {"type": "workflow", "workflow_id": "wf-1", "name": "dask-pipeline", "campaign_id": "camp-7",
         "user": "alice", "utc_timestamp": 1735725600.0, "used": {"config": "pipeline.yaml"}},
        {"type": "task", "task_id": "t1", "workflow_id": "wf-1", "campaign_id": "camp-7",
         "activity_id": "load", "used": {"path": "data/in.csv", "rows": 100},
         "generated": {"frame": {"cols": ["a", "b"]}}, "started_at": 1735725601.0,
         "ended_at": 1735725603.5, "status": "FINISHED", "hostname": "node7", "login_name": "alice",
         "telemetry_at_start": {"cpu": {"percent_all": 3.1}}},
        {"type": "task", "task_id": "t2", "workflow_id": "wf-1", "activity_id": "train",
         "parent_task_id": "t1", "used": {"lr": 0.01}, "generated": {"loss": 0.25},
         "started_at": 1735725604.0, "ended_at": 1735725610.0, "status": "FINISHED"},
        {"type": "task", "task_id": "t3", "workflow_id": "wf-2", "activity_id": "crash",
         "used": {"x": 1}, "started_at": 1735725700.0, "ended_at": 1735725701.0, "status": "ERROR",
         "stderr": "ZeroDivisionError"},
    ]


def test_flowcept_buffer_becomes_workflow_executions(tmp_path: Path) -> None:
    buffer = tmp_path / "flowcept_buffer.jsonl"
    buffer.write_text("".join(json.dumps(m) + "\n" for m in flowcept_messages()))
    store = tmp_path / "store"
    code, out, err = run("import", "flowcept", str(buffer), "--store", str(store), "--format", "json")
    assert code == 0, (out, err)
    report = json.loads(out)
    assert report["records"] == {"workflow": 1, "task": 3}
    assert report["lost"] == {"telemetry_at_start": 1}
    runs = select(store, f"""SELECT ?label ?status WHERE {{ ?r a <{PROVML}WorkflowExecution> ;
        <http://www.w3.org/2000/01/rdf-schema#label> ?label ; <{PROVML}status> ?status }} ORDER BY ?label""")
    assert [(r["label"], r["status"]) for r in runs] == [("flowcept-wf-1", "finished"),
                                                         ("flowcept-wf-2", "errored")]
    (nested,) = select(store, """SELECT ?parent WHERE {
        ?t <http://www.w3.org/2000/01/rdf-schema#label> "t2" ;
           <http://www.w3.org/ns/prov#wasInformedBy> ?p . ?p <http://www.w3.org/2000/01/rdf-schema#label> ?parent }""")
    assert nested["parent"] == "t1"
    (loss,) = select(store, """SELECT ?v WHERE { ?e <http://www.w3.org/ns/prov#wasGeneratedBy> ?t ;
        <http://www.w3.org/ns/prov#value> ?v . ?t <http://www.w3.org/2000/01/rdf-schema#label> "t2" }""")
    assert float(loss["v"]) == 0.25


def test_flowcept_bad_line_exits_2(tmp_path: Path) -> None:
    buffer = tmp_path / "b.jsonl"
    buffer.write_text('{"type": "task"}\nnot json\n')
    code, _, err = run("import", "flowcept", str(buffer), "--store", str(tmp_path / "s"))
    assert code == 2 and "b.jsonl:2" in err


def test_flowcept_malformed_records_are_reported_not_tracebacks(tmp_path: Path) -> None:
    """``used`` / ``generated`` that are no objects, and an array file nested past Python's
    recursion limit, were tracebacks (a probe, twenty-sixth session): the first are reported as
    not kept and the rest imported, the second is refused with exit 2 naming the file."""
    messages = flowcept_messages()
    messages[1] = {**messages[1], "used": [1, 2], "generated": 5}
    buffer = tmp_path / "odd.jsonl"
    buffer.write_text("".join(json.dumps(m) + "\n" for m in messages))
    code, out, err = run("import", "flowcept", str(buffer), "--store", str(tmp_path / "s"), "--format", "json")
    assert code == 0, (out, err)
    lost = json.loads(out)["lost"]
    assert lost["used that is not an object of name: value"] == 1
    assert lost["generated that is not an object of name: value"] == 1
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run("import", "flowcept", str(deep), "--store", str(tmp_path / "t"))
    assert code == 2 and "deep.json" in err and "Traceback" not in err


def test_a_file_of_another_format_is_no_flowcept_buffer(tmp_path: Path) -> None:
    """provml's own events, or a PROV-JSON document, were "imported" with exit 0, nothing stored
    (a probe, twenty-sixth session): refused with exit 2, naming the importer to use."""
    spool = tmp_path / "events.jsonl"
    spool.write_text(json.dumps({"v": 1, "kind": "workflow_begin", "t": 1700000000, "run": "r1",
                                 "workflow": "wf", "type": "learning"}) + "\n")
    prov = tmp_path / "doc.json"
    prov.write_text(json.dumps({"prefix": {"ex": "http://e.org/"}, "entity": {"ex:e": {}}}))
    for file, hint in ((spool, "provml load"), (prov, "provml import prov-json")):
        code, out, err = run("import", "flowcept", str(file), "--store", str(tmp_path / "s"))
        assert code == 2 and "not a Flowcept buffer" in err and hint in err, (out, err)
    assert not select(tmp_path / "s", "SELECT * WHERE { ?s a <http://www.w3.org/ns/prov#Activity> } LIMIT 1")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run("import", "flowcept", str(empty), "--store", str(tmp_path / "s"))[0] == 0  # (an empty buffer)
    numbers = tmp_path / "numbers.json"
    numbers.write_text("[1, 2]")  # (dropped: exit 0, nothing stored; a review, 27th session)
    code, _, err = run("import", "flowcept", str(numbers), "--store", str(tmp_path / "s"))
    assert code == 2 and "item 1 of the array is not a JSON object" in err


def test_flowcept_times_written_in_iso_8601_are_read(tmp_path: Path) -> None:
    """A ``started_at`` string was passed over, and a workflow with no other time began at
    1970-01-01 without a word (a probe, twenty-sixth session): ISO 8601 is read (no zone: UTC);
    a time that is neither is reported as not kept, a workflow with no start time noted."""
    buffer = tmp_path / "iso.jsonl"
    records = [{"type": "workflow", "workflow_id": "w1", "name": "demo"},
               {"type": "task", "task_id": "t1", "workflow_id": "w1", "activity_id": "train",
                "started_at": "2023-01-01T00:00:00", "ended_at": "2023-01-01T00:00:10+00:00", "status": "FINISHED"},
               {"type": "task", "task_id": "t2", "workflow_id": "w1", "activity_id": "eval",
                "started_at": "2023-01-01T00:00:20Z", "ended_at": "soon", "status": "FINISHED"},
               {"type": "task", "task_id": "t3", "workflow_id": "w2", "activity_id": "x", "status": "FINISHED"},
               # a Unix time as text is read; one past any calendar is reported (was a traceback)
               {"type": "task", "task_id": "t4", "workflow_id": "w3", "activity_id": "y", "status": "FINISHED",
                "started_at": "1700000000", "ended_at": 10**400}]
    buffer.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, err = run("import", "flowcept", str(buffer), "--store", str(tmp_path / "s"), "--format", "json")
    assert code == 0, (out, err)
    report = json.loads(out)
    assert report["lost"] == {"ended_at that is neither a Unix time nor an ISO 8601 time": 2}
    assert report["notes"]["workflows with no start time: begun at 1970-01-01T00:00:00Z"] == 1
    rows = select(tmp_path / "s", f"""SELECT ?name ?start ?end WHERE {{
        ?t <{PROVML}workflowExecution> <https://w3id.org/provml/id/run/flowcept-w1> ; <{PROV}wasInfluencedBy> ?plan ;
           <{PROV}startedAtTime> ?start ; <{PROV}endedAtTime> ?end .
        BIND(STRAFTER(STR(?plan), "/plan/demo/") AS ?name) }}""")
    assert sorted((r["name"], r["start"], r["end"]) for r in rows) == [
        ("eval", "2023-01-01T00:00:20Z", "2023-01-01T00:00:20Z"),  # (its end unread: its start)
        ("train", "2023-01-01T00:00:00Z", "2023-01-01T00:00:10Z")]




FLOWCEPT_SCRIPT = textwrap.dedent("""
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def load(path: str, rows: int):
        return {"frame_rows": rows}

    @flowcept_task
    def train(lr: float, epochs: int):
        return {"loss": 0.25, "curve": [0.9, 0.5, 0.25]}

    with Flowcept(workflow_name="dask-pipeline"):
        load(path="data/in.csv", rows=100)
        train(lr=0.01, epochs=3)
""")


def test_a_buffer_written_by_flowcept_itself(tmp_path: Path) -> None:
    """Flowcept 1.x, offline (its default), dumps flowcept_buffer.jsonl; provml imports it."""
    script = tmp_path / "run.py"
    script.write_text(FLOWCEPT_SCRIPT)
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, capture_output=True,
                   timeout=240)
    buffer = tmp_path / "flowcept_buffer.jsonl"
    kinds = [json.loads(line)["type"] for line in buffer.read_text().splitlines()]
    assert kinds.count("task") == 2 and "workflow" in kinds
    store = tmp_path / "store"
    code, out, err = run("import", "flowcept", str(buffer), "--store", str(store), "--format", "json")
    assert code == 0, (out, err)
    (wf,) = select(store, f"""SELECT ?status ?start ?end WHERE {{ ?r a <{PROVML}WorkflowExecution> ;
        <{PROVML}status> ?status ; <http://www.w3.org/ns/prov#startedAtTime> ?start ;
        <http://www.w3.org/ns/prov#endedAtTime> ?end ; <http://www.w3.org/ns/prov#wasInfluencedBy> ?p .
        ?p <http://www.w3.org/2000/01/rdf-schema#label> "dask-pipeline" }}""")
    # compared as times: the store writes xsd:dateTime canonically (".681600Z" as ".6816Z"), so
    # the strings do not sort as the times do
    assert wf["status"] == "finished"
    assert datetime.fromisoformat(wf["start"]) <= datetime.fromisoformat(wf["end"])
    values = select(store, """SELECT ?task ?name ?v WHERE {
        ?t <http://www.w3.org/ns/prov#used> ?u ; <http://www.w3.org/2000/01/rdf-schema#label> ?task .
        ?u <http://www.w3.org/ns/prov#value> ?v ; <http://www.w3.org/ns/prov#wasDerivedFrom> ?a .
        ?a <http://www.w3.org/2000/01/rdf-schema#label> ?name }""")
    used = {(v["name"], v["v"]) for v in values}
    assert {("path", "data/in.csv"), ("rows", "100"), ("lr", "0.01"), ("epochs", "3")} <= used
    (curve,) = select(store, """SELECT ?v WHERE { ?g <http://www.w3.org/ns/prov#wasGeneratedBy> ?t ;
        <http://www.w3.org/ns/prov#value> ?v ; <http://www.w3.org/ns/prov#wasDerivedFrom> ?a .
        ?a <http://www.w3.org/2000/01/rdf-schema#label> "curve" }""")
    assert json.loads(curve["v"]) == [0.9, 0.5, 0.25]
