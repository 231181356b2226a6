"""`provml import mlflow` on what MLflow itself wrote: a metric logged more than once at one step
(MLflow's step is 0 when none is given) and experiments with more runs than one search answers.
Found by an interop audit (twentieth session): the first rejected the whole run, the second left
every run past the 1,000th out without a word; a deleted run was stored as any other."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import provml.interop.mlflow_import as mlflow_import
from provml.cli import main
from provml.knowledge import open_kg

PROVML = "https://w3id.org/provml#"
PROV = "http://www.w3.org/ns/prov#"

SCRIPT = textwrap.dedent("""
    import sys, time, mlflow
    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("no-steps")
    with mlflow.start_run(run_name="logged-without-steps"):
        for loss in (0.9, 0.6, 0.4):
            mlflow.log_metric("loss", loss)  # step 0, three times
            time.sleep(0.01)
        mlflow.log_metric("accuracy", 0.8)
        mlflow.log_metric("loss", 0.2, step=1)
    for i in range(4):
        with mlflow.start_run(run_name=f"plain-{i}") as run:
            mlflow.log_param("i", i)
            mlflow.log_metric("loss", 1.0 / (i + 1), step=0)
    mlflow.MlflowClient().delete_run(run.info.run_id)  # plain-3
""")


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("mlflow")
    (tmp / "log.py").write_text(SCRIPT)
    subprocess.run([sys.executable, str(tmp / "log.py"), f"sqlite:///{tmp / 'mlflow.db'}"], cwd=tmp,
                   check=True, capture_output=True, timeout=240)
    return tmp / "mlflow.db"


def _import(tracking: Path, store: Path) -> dict[str, dict[str, int]]:
    result = CliRunner().invoke(main, ["import", "mlflow", str(tracking), "--store", str(store),
                                       "--format", "json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report: dict[str, dict[str, int]] = json.loads(result.stdout)
    return report


@pytest.mark.slow
def test_a_metric_logged_several_times_at_one_step_keeps_every_value(tracking: Path, tmp_path: Path) -> None:
    report = _import(tracking, tmp_path / "store")
    assert not report.get("rejected"), report
    with open_kg(tmp_path / "store") as kg:
        rows = [(r["i"].value, r["pi"].value if r["pi"] else None, r["name"].value, float(r["v"].value))
                for r in kg.query(f"""SELECT DISTINCT ?e ?i ?pi ?name ?v WHERE {{
            ?run <{PROVML}tag> "mlflow.runName=logged-without-steps" .
            ?e a <{PROVML}ModelEvaluation> ; <{PROVML}attributeName> ?name ; <{PROV}value> ?v ;
               <{PROV}wasGeneratedBy> ?g .
            ?g <{PROVML}workflowExecution> ?run ; <{PROVML}iteration> ?i .
            OPTIONAL {{ ?g <{PROV}wasInformedBy> ?p . ?p <{PROVML}iteration> ?pi }} }}""")]
    # step 0: three loggings of loss and one of accuracy, each value kept
    # (the logging's iteration, the step's; a step logged once generates its values itself)
    # (a new logging where a metric comes again: the accuracy, logged last, goes with the last loss)
    assert sorted(rows, key=str) == sorted([("0", "0", "loss", 0.9), ("1", "0", "loss", 0.6),
                                            ("2", "0", "loss", 0.4), ("2", "0", "accuracy", 0.8),
                                            ("1", None, "loss", 0.2)], key=str), rows
    assert report["notes"]["steps with a metric logged more than once (a cycle a logging)"] == 1
    with open_kg(tmp_path / "store") as kg:
        spans = sorted((int(r["i"].value), datetime.fromisoformat(r["start"].value),
                        datetime.fromisoformat(r["end"].value)) for r in kg.query(f"""
            SELECT DISTINCT ?i ?start ?end WHERE {{
              ?run <{PROVML}tag> "mlflow.runName=logged-without-steps" .
              ?log <{PROVML}workflowExecution> ?run ; <{PROVML}iteration> ?i ; <{PROV}wasInformedBy> ?step ;
                   <{PROV}startedAtTime> ?start ; <{PROV}endedAtTime> ?end .
              ?step <{PROVML}iteration> ?n }}"""))
    # each logging spans its own values' times, one after another (the first spanned them all)
    assert [i for i, _, _ in spans] == [0, 1, 2]
    assert all(spans[k][2] <= spans[k + 1][1] for k in range(2)) and spans[0][1] == spans[0][2]


@pytest.mark.slow
def test_every_run_is_read_past_one_page_of_the_search(tracking: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlflow_import, "PAGE", 2)  # MLflow answers 1,000 a search: 2 here, 5 runs
    report = _import(tracking, tmp_path / "store")
    assert report["records"]["run"] == 5
    with open_kg(tmp_path / "store") as kg:
        runs = {r["t"].value for r in kg.query(f"""SELECT ?t WHERE {{
            ?r a <{PROVML}LearningProcessExecution> ; <{PROVML}tag> ?t FILTER(STRSTARTS(?t, "mlflow.runName=")) }}""")}
    assert runs == {"mlflow.runName=logged-without-steps"} | {f"mlflow.runName=plain-{i}" for i in range(4)}
    # a deleted run is read, and says so (it was stored as any finished run)
    with open_kg(tmp_path / "store") as kg:
        deleted = {r["t"].value for r in kg.query(f"""SELECT ?t WHERE {{
            ?r <{PROVML}tag> "mlflow.lifecycleStage=deleted" ; <{PROVML}tag> ?t FILTER(STRSTARTS(?t, "mlflow.runName=")) }}""")}
    assert deleted == {"mlflow.runName=plain-3"}
