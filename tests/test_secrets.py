"""No secret recorded or printed, on the paths a secret-leak audit (seventeenth session) found
open, each against the real parts: ``provml serve`` over a loopback socket, the capture client,
the CLI, real on-disk stores.

- a token read whole from a file (a line break at its end) works, and a token or a remote
  credential that cannot be sent is refused without being repeated (it went into the rejected
  file, the log, the CLI's error and dead letters);
- credentials in a URL (``user:password@``) are refused by name of the URL without them (they
  were printed, logged and shown by ``repr``);
- events that did not come through the capture client (``POST /api/events``, ``provml load``,
  the MLflow, Flowcept and PROV-JSON imports) are redacted at ingest as the client redacts;
- an unreachable MLflow server named with credentials: exit 2, no traceback, no password;
- the endpoint's settings never show their tokens in a ``repr``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from servers import free_port
from test_client_http import TOKEN, Endpoint

import provml
from provml.capture.sinks import HttpSink
from provml.cli import main
from provml.knowledge import open_kg
from provml.store.oxigraph import OxigraphStore
from provml.store.remote import RemoteStore

SECRET = "s3cret-XYZ"


def mlflow_imported(tmp_path: Path, script: str) -> str:
    """What ``provml import mlflow`` stores of the SQLite tracking store ``script`` logs into
    (MLflow itself, in a process of its own), as text (:func:`stored_text`)."""
    (tmp_path / "log.py").write_text(script)
    subprocess.run([sys.executable, str(tmp_path / "log.py"), f"sqlite:///{tmp_path / 'mlflow.db'}"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=240)
    result = CliRunner().invoke(main, ["import", "mlflow", str(tmp_path / "mlflow.db"), "--store", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    return stored_text(tmp_path / "s")


def stored_text(store: Path) -> str:
    """Everything a store holds, as N-Quads."""
    from pyoxigraph import RdfFormat

    s = OxigraphStore(store, read_only=True)
    try:
        return s.dump(format=RdfFormat.N_QUADS).decode()
    finally:
        s.close()


def leaky_events(run: str) -> list[dict[str, Any]]:
    """Events as another client could send them, with secrets in every field the capture
    client redacts: values by name and by text, an error, tags, the environment."""
    common = {"v": 1, "run": run, "workflow": "wf-secrets"}
    task = {**common, "task": "train", "name": "train", "type": "training"}
    return [
        {**common, "kind": "workflow_begin", "t": 1700000000.0, "type": "learning",
         "tags": [f"token={SECRET}"], "meta": {"hostname": "node1", "env": {"DB_PASSWORD": SECRET, "SSHPASS": SECRET}}},
        {**task, "kind": "task_begin", "t": 1700000001.0,
         "used": [{"name": "db_password", "role": "hyperparameter", "value": SECRET},
                  {"name": "dsn", "value": f"host=db password={SECRET}"}]},
        {**task, "kind": "task_end", "t": 1700000002.0, "status": "errored",
         "error": {"type": "ConnectionError", "message": f"cannot reach postgres://admin:{SECRET}@db/prod"}},
        {**common, "kind": "workflow_end", "t": 1700000003.0, "status": "finished"},
    ]


@pytest.fixture
def endpoint(tmp_path: Path) -> Any:
    ep = Endpoint(tmp_path / "served")
    ep.start()
    yield ep
    ep.stop()


@pytest.mark.slow
def test_events_posted_or_loaded_are_redacted_at_ingest(endpoint: Endpoint, tmp_path: Path) -> None:
    answer = requests.post(endpoint.url + "/api/events", json={"events": leaky_events("posted")},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert answer.status_code == 202, answer.text
    spool = tmp_path / "in.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in leaky_events("loaded")))
    result = CliRunner().invoke(main, ["load", str(spool), "--store", str(tmp_path / "loaded")])
    assert result.exit_code == 0, result.output
    endpoint.stop()
    for store in (endpoint.store, tmp_path / "loaded"):
        text = stored_text(store)
        assert SECRET not in text
        assert "host=db password=[redacted]" in text and "postgres://admin:[redacted]@db/prod" in text


@pytest.mark.slow
def test_a_token_read_whole_from_a_file_works_and_a_bad_one_is_not_repeated(
        endpoint: Endpoint, tmp_path: Path) -> None:
    client = provml.Client(endpoint=endpoint.url, token=TOKEN + "\n", spool_dir=tmp_path / "spool",
                           install_signal_handler=False)
    with client.workflow("wf", meta=False):
        pass
    client.close()
    assert client.stats().sent == 2 and client.stats().rejected == 0
    assert not list((tmp_path / "spool").glob("rejected-*"))
    for token in (f"{SECRET}\x00x", f"{SECRET} x"):
        with pytest.raises(ValueError) as caught:
            HttpSink(endpoint.url, token=token)
        assert SECRET not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        provml.Client(endpoint=f"http://alice:{SECRET}@127.0.0.1:{free_port()}", install_signal_handler=False)
    assert SECRET not in str(caught.value) and "token=" in str(caught.value)


@pytest.mark.slow
def test_remote_credentials_are_sent_stripped_and_never_printed(endpoint: Endpoint) -> None:
    remote = f"provml+{endpoint.url}"
    ok = CliRunner().invoke(main, ["stats", "--remote", remote], env={"PROVML_REMOTE_TOKEN": TOKEN + "\n"})
    assert ok.exit_code == 0, ok.output  # a token file's line break: stripped
    for env, spec in (({"PROVML_REMOTE_TOKEN": f"{SECRET}\x01"}, remote),
                      ({}, remote.replace("http://", f"http://alice:{SECRET}@")),
                      ({}, f"query=http://alice:{SECRET}@127.0.0.1:1/q;nope=1")):
        result = CliRunner().invoke(main, ["stats", "--remote", spec], env=env)
        assert result.exit_code == 2, result.output
        assert SECRET not in result.output and "Traceback" not in result.output
    assert SECRET not in repr(RemoteStore(f"http://h:1/sparql?token={SECRET}"))


def test_imports_are_redacted(tmp_path: Path) -> None:
    buffer = tmp_path / "flowcept_buffer.jsonl"
    buffer.write_text(json.dumps(
        {"type": "task", "task_id": "t1", "workflow_id": "wf-1", "activity_id": "connect",
         "used": {"api_key": SECRET, "dsn": f"postgres://admin:{SECRET}@db/prod", "rows": 3},
         "started_at": 1735725601.0, "ended_at": 1735725603.5, "status": "ERROR",
         "stderr": f"login failed: password={SECRET}"}) + "\n")
    document = tmp_path / "doc.json"
    document.write_text(json.dumps({
        "prefix": {"ex": "http://example.org/"},
        "entity": {"ex:cfg": {"ex:password": SECRET, "prov:value": f"postgres://admin:{SECRET}@db/prod"},
                   "ex:param": {"prov:label": "db_password", "prov:value": SECRET}}}))
    for kind, path in (("flowcept", buffer), ("prov-json", document)):
        store = tmp_path / kind
        result = CliRunner().invoke(main, ["import", kind, str(path), "--store", str(store)])
        assert result.exit_code == 0, result.output
        text = stored_text(store)
        assert SECRET not in text and "[redacted]" in text, kind


MLFLOW_SCRIPT = textwrap.dedent("""
    import sys, mlflow
    mlflow.set_tracking_uri(sys.argv[1])
    with mlflow.start_run(run_name="leaky"):
        mlflow.log_params({"learning_rate": 0.01, "db_password": "s3cret-XYZ"})
        mlflow.set_tags({"source_repo": "https://alice:s3cret-XYZ@git.example.org/x.git"})
        mlflow.log_metric("loss", 0.5, step=0)
""")


@pytest.mark.slow
def test_mlflow_imports_are_redacted_and_an_unreachable_server_is_named_without_its_password(
        tmp_path: Path) -> None:
    text = mlflow_imported(tmp_path, MLFLOW_SCRIPT)
    assert SECRET not in text and "https://alice:[redacted]@git.example.org" in text
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
    down = subprocess.run([sys.executable, "-c", "import sys; from provml.cli import main; sys.exit(main())",
                           "import", "mlflow",
                           f"http://alice:{SECRET}@127.0.0.1:{free_port()}", "--store", str(tmp_path / "s2")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert down.returncode == 2, down.stderr[-2000:]
    assert SECRET not in down.stdout + down.stderr and "Traceback" not in down.stderr
    assert "http://***@127.0.0.1" in down.stderr


def test_the_endpoint_settings_never_show_their_tokens() -> None:
    from provml.endpoint.config import Config

    config = Config(token=SECRET, read_token=SECRET + "-read")
    assert SECRET not in repr(config) and config.token == SECRET


def test_a_store_opened_after_ingest_holds_what_was_redacted(tmp_path: Path) -> None:
    """In-process ingest (``Client(store=...)``, a broker worker) redacts as well."""
    kg = open_kg(tmp_path / "store")
    kg.ingest_events(leaky_events("in-process"))
    kg.close()
    assert SECRET not in stored_text(tmp_path / "store")


def test_data_named_like_secrets_is_kept_whole(tmp_path: Path) -> None:
    """What the redaction must not touch (review, 17th session: a broad ``token`` rule turned
    ``token_accuracy`` into text, and the whole batch was rejected by the shapes; a port then an
    ``@`` in a path was cut as a password; an Enum's value became its redacted repr)."""
    import enum

    class Granularity(enum.Enum):
        TOKEN = 1

    metrics = {"token_accuracy": 0.91, "per_token_loss": 0.25, "first_token_latency_ms": 12.5,
               "pass_at_1": 0.5, "token_dropout": 0.1,
               # a metric's number whatever its name (made text, its whole event was rejected:
               # an audit, twenty-first session)
               "password_strength_acc": 0.8}
    location = "http://minio:9000/models/bert@v2/model.safetensors"
    client = provml.Client(store=str(tmp_path / "store"), spool_dir=tmp_path / "spool", install_signal_handler=False)
    with client.workflow("wf", type="learning", meta=False) as wf, \
            wf.stage("train", kind="training", used={"granularity": Granularity.TOKEN,
                                                      "dsn": b"postgres://admin:" + SECRET.encode() + b"@db/x"}) as st:
        st.generated(*[provml.evaluation(name, value) for name, value in metrics.items()],
                     provml.model("model", location))
    client.close()
    assert client.stats().rejected == 0 and SECRET not in client.spool_path.read_text()  # type: ignore[union-attr]
    with open_kg(tmp_path / "store") as kg:
        rows = {str(r["n"].value): r["v"].value for r in kg.query(
            "SELECT ?n ?v WHERE { ?x <https://w3id.org/provml#attributeName> ?n ; <http://www.w3.org/ns/prov#value> ?v }")}
        located = {r["l"].value for r in kg.query("SELECT ?l WHERE { ?d <https://w3id.org/provml#location> ?l }")}
    assert {n: float(rows[n]) for n in metrics} == metrics
    assert rows["granularity"] == "1" and location in located


# -- the gaps of a secret-leak audit (twenty-first session), each test failing on the code before --

def every_text_events(run: str) -> list[dict[str, Any]]:
    """Events as another client could send them, with a secret in every text of the wire
    format that is not a value (audit M3: names, study, persona, implementation, a value's
    name, store, media type, tag and ``about``) and in a spec (audit H3)."""
    common = {"v": 1, "run": run, "workflow": f"wf password={SECRET}"}
    task = {**common, "task": "t", "name": f"t password={SECRET}", "type": "training"}
    return [
        {**common, "kind": "workflow_begin", "t": 1700000000.0, "study": f"postgresql://u:{SECRET}@h/db",
         "persona": {"id": "bob", "name": f"api_key={SECRET}"}, "type": "learning",
         "used": [{"name": "passwords", "value": [SECRET]},
                  {"name": "src", "role": "data", "tag": f"secret={SECRET}",
                   "data": {"store": f"https://u:{SECRET}@h", "location": "x", "media_type": f"password={SECRET}"}}]},
        {**common, "kind": "spec", "t": 1700000000.5, "spec": {
            "workflow": f"wf password={SECRET}", "description": f"loads postgresql://etl:{SECRET}@db/x",
            "stores": [{"name": "warehouse", "uri": f"postgresql://etl:{SECRET}@db/x", "password": SECRET}],
            "transformations": [{"name": f"t password={SECRET}", "description": f"token={SECRET}",
                                 "used": [{"name": "lr", "role": "hyperparameter", "description": f"api_key: {SECRET}"}]}]}},
        {**task, "kind": "task_begin", "t": 1700000001.0, "used": [{"name": "lr", "value": 0.1}],
         "implementation": {"name": "impl", "algorithm": f"algo https://u:{SECRET}@h", "software": "sw",
                            "version": f"token={SECRET}"}},
        {**task, "kind": "task_end", "t": 1700000002.0, "status": "errored",
         "error": {"type": "E", "message": f"curl -u admin:{SECRET} https://x --token {SECRET}"},
         "generated": [{"name": f"postgresql://u:{SECRET}@h/db", "value": 1},
                       {"name": "acc", "role": "evaluation", "value": 0.9,
                        "about": {"store": "s", "location": f"https://u:{SECRET}@h/m.pt"}}]},
        {**common, "kind": "workflow_end", "t": 1700000003.0, "status": "finished"},
    ]


@pytest.mark.parametrize("path", ["in-process", "load"])
def test_every_text_of_an_event_and_its_spec_is_redacted_at_ingest(tmp_path: Path, path: str) -> None:
    """Ingest's redaction covers every text of an event and a spec's (audit M3, H3: they were
    stored, in the plans graph too, and reached every export), on the shared path of every
    source; the spec's roles still type the values captured under its (redacted) names."""
    store = tmp_path / "store"
    if path == "in-process":
        kg = open_kg(store)
        kg.ingest_events(every_text_events(path))
        assert SECRET not in repr(kg.specs)
        kg.close()
    else:
        spool = tmp_path / "in.jsonl"
        spool.write_text("".join(json.dumps(e) + "\n" for e in every_text_events(path)))
        result = CliRunner().invoke(main, ["load", str(spool), "--store", str(store)])
        assert result.exit_code == 0, result.output
    text = stored_text(store)
    assert [line for line in text.splitlines() if SECRET in line] == []
    for redacted in ("wf password=[redacted]", "api_key=[redacted]", "password=[redacted]",
                     "loads postgresql://etl:[redacted]@db/x", "curl -u admin:[redacted] https://x --token [redacted]",
                     "token=[redacted]", "secret=[redacted]"):
        assert redacted in text, redacted
    with open_kg(store) as kg:
        assert bool(kg.query('ASK { ?v <https://w3id.org/provml#attributeName> "lr" ; '
                             'a <https://w3id.org/provml#LearningHyperparameterValue> }'))


def test_a_flowcept_stderr_is_redacted_before_it_is_cut(tmp_path: Path) -> None:
    """The Flowcept import cut ``stderr`` to 2,000 characters before ingest redacted it: a DSN
    cut before its ``@`` kept its password's start (audit M1: ``admin:ZF10v``)."""
    buffer = tmp_path / "flowcept_buffer.jsonl"
    buffer.write_text(json.dumps(
        {"type": "task", "task_id": "t1", "workflow_id": "wf-1", "activity_id": "connect",
         "started_at": 1735725601.0, "ended_at": 1735725603.5, "status": "ERROR",
         "stderr": "y" * 1975 + f" postgresql://admin:{SECRET}{SECRET}@db/prod failed"}) + "\n")
    result = CliRunner().invoke(main, ["import", "flowcept", str(buffer), "--store", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    text = stored_text(tmp_path / "s")
    assert SECRET[:4] not in text and "postgresql://admin:" in text


def test_a_prov_json_record_named_as_a_secret_keeps_no_value(tmp_path: Path) -> None:
    """A PROV-JSON entity whose id names a secret, without a label, kept its value (audit L4:
    only labels were read)."""
    document = tmp_path / "doc.json"
    document.write_text(json.dumps({
        "prefix": {"ex": "http://example.org/"},
        "entity": {"ex:db_password": {"prov:value": SECRET}, "ex:run1/api_key": {"prov:value": SECRET},
                   "ex:lr": {"prov:value": "0.1"}}}))
    result = CliRunner().invoke(main, ["import", "prov-json", str(document), "--store", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    text = stored_text(tmp_path / "s")
    assert SECRET not in text and text.count('"[redacted]"') == 2 and "0.1" in text


MLFLOW_TAGS_SCRIPT = textwrap.dedent("""
    import sys, mlflow
    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("exp password=s3cret-XYZ")
    with mlflow.start_run(run_name="leaky"):
        mlflow.log_params({"lr": 0.01, "api_keys": "s3cret-XYZ"})
        mlflow.set_tags({"api_key": "first s3cret-XYZ", "note": "curl -u admin:s3cret-XYZ https://x"})
        mlflow.log_metric("loss", 0.5, step=0)
""")


@pytest.mark.slow
def test_mlflow_tags_plural_params_and_experiment_names_are_redacted(tmp_path: Path) -> None:
    """An MLflow tag named as a secret whose value holds a space kept all but its first word
    (audit M4: ``api_key=[redacted] second-word``); the experiment's name (the workflow's) and a
    plural secret param were kept (M3, M2)."""
    text = mlflow_imported(tmp_path, MLFLOW_TAGS_SCRIPT)
    assert SECRET not in text
    assert "api_key=[redacted]" in text and "exp password=[redacted]" in text


def test_an_errors_nested_values_are_redacted_at_capture(tmp_path: Path) -> None:
    """``end(error=...)`` redacted only the top-level strings: a nested value kept its secret in
    the spool (an audit, twenty-first session; the event format then refuses the nested value,
    and the rejected file kept it too)."""
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf:
        task = wf.task("t")
        task.__enter__()
        task.end(status="errored", error={"type": "E", "message": f"token={SECRET}",
                                          "context": {"password": SECRET, "dsn": f"postgresql://u:{SECRET}@h/db"}})
    client.close()
    written = "".join(p.read_text() for p in tmp_path.glob("*.jsonl"))
    assert "task_end" in written and SECRET not in written


def test_numpy_arrays_of_text_or_objects_are_redacted_at_capture(tmp_path: Path) -> None:
    """A numpy array of text, or of objects, went to the spool (and the wire) as it was, secrets
    in it (a probe, twenty-seventh session): the same text in a list was redacted. Arrays of
    numbers are passed as they are."""
    import numpy as np

    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    used = {"texts": np.array([f"password={SECRET}", "plain"]),
            "objects": np.array([{"password": SECRET}], dtype=object), "weights": np.array([0.5, 0.25])}
    with client.workflow("wf", meta=False) as wf, wf.stage("train", kind="training", used=used) as train, \
            train.cycle("epoch", 0) as epoch:
        epoch.generated(provml.value("notes", np.array([f"token={SECRET}"])))
    client.close()
    written = "".join(p.read_text() for p in tmp_path.glob("*.jsonl"))
    assert SECRET not in written and "plain" in written and "[0.5,0.25]" in written


def test_a_value_whose_repr_raises_or_a_tuple_key_never_stops_the_script(tmp_path: Path) -> None:
    """An object whose ``repr`` raises made ``task(used=...)`` raise into the training script,
    and a tuple key (``{("cat", "dog"): 0.5}``) set the whole begin event aside with every
    other value (a probe, twenty-seventh session): the first is written as its type, the
    second with its key as text."""
    import enum

    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("repr boom")

    class Split(str, enum.Enum):  # noqa: UP042 - as user code writes it; a str key stays, written as its value
        TRAIN = "train"

    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf:
        with wf.task("t", used={"bad": BadRepr(), "pairs": {("cat", "dog"): 0.5}, "lr": 0.1,
                                "sizes": {Split.TRAIN: 10}}):
            pass
        with wf.task("u", used=[provml.hyperparameter("bad", BadRepr())]):
            pass
    assert client.close()
    assert not list(tmp_path.glob("rejected-*"))
    from provml.capture.spool import read_events

    events = [e for p in tmp_path.glob("*.jsonl") for e in read_events(p)]
    [begin] = [e for e in events if e["kind"] == "task_begin" and e["task"] == "t"]
    values = {v["name"]: v["value"] for v in begin["used"]}
    assert values == {"bad": "<BadRepr that cannot be written>", "pairs": {"('cat', 'dog')": 0.5}, "lr": 0.1,
                      "sizes": {"train": 10}}


def test_a_key_that_is_a_str_subclass_is_redacted_by_its_text(tmp_path: Path) -> None:
    """A numpy ``str_`` or a str Enum holding a secret, as a mapping key, went to the spool as
    it was (a review, twenty-seventh session): redacted by its text, as a str key is."""
    import enum

    import numpy as np

    class Conn(str, enum.Enum):  # noqa: UP042 - as user code writes it
        MAIN = f"postgresql://admin:{SECRET}@db.example.org/prod"

    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf, wf.task(
            "t", used={"by_dsn": {Conn.MAIN: 1}, "by_token": {np.str_(f"token={SECRET}"): 2}}):
        pass
    assert client.close()
    written = "".join(p.read_text() for p in tmp_path.glob("*.jsonl"))
    assert "task_begin" in written and SECRET not in written
