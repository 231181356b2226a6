"""`provml import mlflow` on what MLflow itself wrote: a metric logged more than once at one step
(MLflow's step is 0 when none is given) and experiments with more runs than one search answers.
Found by an interop audit (twentieth session): the first rejected the whole run, the second left
every run past the 1,000th out without a word; a deleted run was stored as any other. The same
audit listed as not changed: nested runs (linked to their parent only by a tag) and params
spelled as numbers but not as the store writes them ("007" stored as 7)."""

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


def logged(tmp: Path, script: str) -> Path:
    """The SQLite tracking store that ``script`` (run by MLflow itself) logs into, in ``tmp``."""
    (tmp / "log.py").write_text(script)
    subprocess.run([sys.executable, str(tmp / "log.py"), f"sqlite:///{tmp / 'mlflow.db'}"], cwd=tmp,
                   check=True, capture_output=True, timeout=240)
    return tmp / "mlflow.db"


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return logged(tmp_path_factory.mktemp("mlflow"), SCRIPT)


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


NESTED = textwrap.dedent("""
    import sys, mlflow
    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("nested")
    with mlflow.start_run(run_name="search"):
        with mlflow.start_run(run_name="trial-0", nested=True):
            mlflow.log_params({"as_int": "7", "zero_padded": "007", "exponent": "1e3", "plus": "+5",
                               "trailing_zero": "1.50", "half": "0.5", "flag": "true", "python_flag": True,
                               "one": 1.0, "small": 1e-05})
    # a parent that is not in this tracking store (a run of another server, say)
    with mlflow.start_run(run_name="orphan", tags={"mlflow.parentRunId": "0123456789abcdef0123456789abcdef"}):
        pass
    with mlflow.start_run(run_name="diverged"):  # a loss that went to NaN and infinity
        for step, loss in enumerate((0.5, float("nan"), float("inf"), float("-inf"))):
            mlflow.log_metric("loss", loss, step=step)
""")


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return logged(tmp_path_factory.mktemp("mlflow-nested"), NESTED)


def _run_iri(store: Path, name: str) -> str:
    with open_kg(store) as kg:
        (row,) = kg.query(f"""SELECT ?r WHERE {{ ?r a <{PROVML}LearningProcessExecution> ;
            <{PROVML}tag> "mlflow.runName={name}" }}""")
        return str(row["r"].value)


@pytest.mark.slow
def test_a_nested_run_is_informed_by_its_parent_run(nested: Path, tmp_path: Path) -> None:
    """A nested run was linked to its parent only by its ``mlflow.parentRunId`` tag; it is now
    ``prov:wasInformedBy`` the parent run, as any nested execution is by the one that encloses
    it. A parent the tracking store does not hold is linked to by its IRI (run IRIs are
    deterministic), and the report says so."""
    store = tmp_path / "store"
    report = _import(nested, store)
    assert not report.get("rejected"), report
    child, parent, orphan = (_run_iri(store, n) for n in ("trial-0", "search", "orphan"))
    with open_kg(store) as kg:
        informed = {(r["c"].value, r["p"].value) for r in kg.query(f"""SELECT ?c ?p WHERE {{
            ?c a <{PROVML}LearningProcessExecution> ; <{PROV}wasInformedBy> ?p }}""")}
        base = kg.base
    assert informed == {(child, parent), (orphan, f"{base}run/mlflow-0123456789abcdef0123456789abcdef")}
    assert report["notes"]["nested runs (prov:wasInformedBy their parent run)"] == 2
    assert report["notes"]["parent runs not in the tracking store (linked to by IRI all the same)"] == 1


@pytest.mark.slow
def test_params_are_typed_only_when_spelled_as_python_or_the_store_writes_them(nested: Path,
                                                                              tmp_path: Path) -> None:
    """A param that spells a number was stored as that number whatever its spelling: "007" as 7,
    "1e3" as 1000, and the text was lost. A param is typed only when it is spelled as Python
    writes the value (what MLflow logs: a Python bool as "True", a float 1.0 as "1.0") or as the
    store writes it back."""
    store = tmp_path / "store"
    report = _import(nested, store)
    with open_kg(store) as kg:
        values = {r["name"].value: (r["v"].value, r["v"].datatype.value.rsplit("#", 1)[-1])
                  for r in kg.query(f"""SELECT ?name ?v WHERE {{ ?h a <{PROVML}LearningHyperparameterValue> ;
                      <{PROVML}attributeName> ?name ; <{PROV}value> ?v }}""")}
    assert values == {"as_int": ("7", "integer"), "half": ("0.5", "double"), "flag": ("true", "boolean"),
                      "zero_padded": ("007", "string"), "exponent": ("1e3", "string"), "plus": ("+5", "string"),
                      "trailing_zero": ("1.50", "string"), "python_flag": ("true", "boolean"),
                      "one": ("1", "double"), "small": ("0.00001", "double")}
    assert report["notes"]["params kept as text: numbers or booleans written otherwise than Python or "
                           'the store writes them ("007", "1e3", "+5")'] == 4


@pytest.mark.slow
def test_a_diverged_metric_is_stored_as_an_xsd_double(nested: Path, tmp_path: Path) -> None:
    """A NaN metric (a loss that diverged) was left out and reported lost: the event format had
    no way to write it. It is now stored as that ``xsd:double`` at its step."""
    store = tmp_path / "store"
    report = _import(nested, store)
    assert not report.get("rejected") and not report.get("lost"), report
    with open_kg(store) as kg:
        steps = {int(r["i"].value): (float(r["v"].value), r["v"].datatype.value.rsplit("#", 1)[-1])
                 for r in kg.query(f"""SELECT ?i ?v WHERE {{
            ?run <{PROVML}tag> "mlflow.runName=diverged" .
            ?e a <{PROVML}ModelEvaluation> ; <{PROVML}attributeName> "loss" ; <{PROV}value> ?v ;
               <{PROV}wasGeneratedBy> ?g .
            ?g <{PROVML}workflowExecution> ?run ; <{PROVML}iteration> ?i }}""")}
    nan = steps.pop(1)
    assert nan[0] != nan[0] and nan[1] == "double", nan
    # MLflow itself keeps an infinity as the largest double (its SQL store clamps it)
    assert steps == {0: (0.5, "double"), 2: (sys.float_info.max, "double"),
                     3: (-sys.float_info.max, "double")}, steps


# --- what is no MLflow tracking store (a probe of the import command, twenty-sixth session) ---

def _refused(where: str, store: Path) -> str:
    """The import of ``where`` ends with exit 2 and a message, no traceback; the message."""
    result = CliRunner().invoke(main, ["import", "mlflow", where, "--store", str(store)])
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr and not isinstance(result.exception, (TypeError, AttributeError))
    return result.stderr


def test_a_file_that_is_no_sqlite_database_is_refused_unchanged(tmp_path: Path) -> None:
    (tmp_path / "bad.db").write_bytes(b"garbage\n")
    # was a SQLAlchemy traceback
    assert "bad.db: not a SQLite database" in _refused(str(tmp_path / "bad.db"), tmp_path / "store")
    assert (tmp_path / "bad.db").read_bytes() == b"garbage\n"


def test_an_empty_or_missing_database_is_refused_and_not_created(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    # MLflow wrote its tables into it (954 kB) and the import said "stored: 0 events", exit 0
    assert "not an MLflow tracking store (no experiments or runs tables)" in _refused(
        str(tmp_path / "empty.db"), tmp_path / "store")
    assert (tmp_path / "empty.db").stat().st_size == 0
    message = _refused(f"sqlite:///{tmp_path}/nodir/x.db", tmp_path / "store")
    assert "nodir/x.db: no such SQLite file" in message and not (tmp_path / "nodir").exists()
    assert "in-memory SQLite database holds no runs" in _refused("sqlite://", tmp_path / "store")


def test_a_directory_with_no_experiment_is_refused_unchanged(tmp_path: Path) -> None:
    (tmp_path / "mydir").mkdir()
    assert "not an MLflow file store" in _refused(str(tmp_path / "mydir"), tmp_path / "store")
    assert list((tmp_path / "mydir").iterdir()) == []  # MLflow made .trash in it


def test_an_unsupported_uri_is_refused_without_a_traceback(tmp_path: Path) -> None:
    assert "foo://bar cannot be read" in _refused("foo://bar", tmp_path / "store")


def test_a_tracking_server_that_fails_is_asked_a_bounded_number_of_times(tmp_path: Path) -> None:
    """MLflow retries a failing server 7 times, waiting 2 s doubling (≈ 250 s before an import
    failed); the import asks it 3 times (2 retries) unless the environment says otherwise."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class Failing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        message = _refused(f"http://127.0.0.1:{server.server_address[1]}/", tmp_path / "store")
    finally:
        server.shutdown()
        server.server_close()
    assert "cannot be read" in message
    assert len(asked) == 3 and all("experiments/search" in path for path in asked), asked
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in __import__("os").environ  # (set for the import only)
