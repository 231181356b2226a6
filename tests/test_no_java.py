"""Ingest, ``Client(store=...)``, ``provml load`` and ``provml serve`` run on a machine without Java.

Each runs as a real process whose ``PATH`` holds only the virtual environment's ``bin`` (no
``java``), with an empty ``PROVML_CACHE_DIR`` so no cached reasoner answer can stand in for Java.
Types are still entailed (the SPARQL class closure of provml.ingest.enrichment): the queries ask
for super-classes only enrichment writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent / "endpoint"))
from endpoint_servers import Serve  # noqa: E402

BIN = Path(sys.executable).parent
#: an execution typed prov:Activity: only enrichment writes that type
ASK_ACTIVITY = ("ASK { ?x a <http://www.w3.org/ns/prov#Activity> ; "
                "a <https://w3id.org/provml#WorkflowExecution> }")


@pytest.fixture
def no_java(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PROVML_STORE")}
    env.update(PATH=str(BIN), PROVML_CACHE_DIR=str(tmp_path / "empty-cache"))
    assert shutil.which("java", path=env["PATH"]) is None
    return env


def _events(run: str) -> list[dict[str, object]]:
    return [
        {"v": 1, "kind": "workflow_begin", "t": 1.0, "run": run, "workflow": "wf"},
        {"v": 1, "kind": "task_begin", "t": 1.5, "run": run, "workflow": "wf", "task": "t1",
         "name": "train", "type": "training"},
        {"v": 1, "kind": "task_end", "t": 1.7, "run": run, "workflow": "wf", "task": "t1",
         "name": "train", "type": "training", "status": "finished"},
        {"v": 1, "kind": "workflow_end", "t": 2.0, "run": run, "workflow": "wf", "status": "finished"},
    ]


def _python(code: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_client_with_a_store_and_ingest_need_no_java(tmp_path: Path, no_java: dict[str, str]) -> None:
    out = _python(f"""
        import json, sys
        import provml
        from provml.knowledge import open_kg
        with provml.Client(store={str(tmp_path / "s")!r}, spool_dir={str(tmp_path / "spool")!r},
                           install_signal_handler=False) as client:
            with client.workflow("wf") as wf, wf.task("train", type="training"):
                pass
        kg = open_kg({str(tmp_path / "s")!r})
        kg.ingest_events({json.dumps(_events("r2"))})
        print(json.dumps({{"stats": client.stats().rejected,
                          "ask": kg.query({ASK_ACTIVITY!r}).__bool__(),
                          "owlready2": "owlready2" in sys.modules}}))
        kg.close()
    """, no_java)
    assert json.loads(out) == {"stats": 0, "ask": True, "owlready2": False}


def test_provml_load_needs_no_java(tmp_path: Path, no_java: dict[str, str]) -> None:
    spool = tmp_path / "events.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in _events("r1")), encoding="utf-8")
    store = str(tmp_path / "store")
    load = subprocess.run([str(BIN / "provml"), "load", str(spool), "--store", store], env=no_java,
                          capture_output=True, text=True, timeout=120)
    assert load.returncode == 0, load.stderr
    assert "4 events" in load.stdout
    out = _python(f"""
        from provml.store import open_store
        with open_store({store!r}, read_only=True) as store:
            print(bool(store.query({ASK_ACTIVITY!r})))
    """, no_java)
    assert out.strip() == "True"


@pytest.mark.slow
def test_provml_serve_ingests_without_java(tmp_path: Path, no_java: dict[str, str]) -> None:
    serve = Serve("--store", str(tmp_path / "kg"), "--token", "no-java-token-1", env=no_java)
    try:
        posted = requests.post(serve.url + "/api/events", json={"events": _events("r3")},
                               headers={"Authorization": "Bearer no-java-token-1"}, timeout=60)
        assert posted.status_code == 202, posted.text
        asked = requests.get(serve.url + "/sparql", params={"query": ASK_ACTIVITY}, timeout=30)
        assert asked.json()["boolean"] is True
    finally:
        code, output = serve.stop()
    assert code == 0, output
