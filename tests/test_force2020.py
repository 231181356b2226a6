"""The FORCE 2020 case end to end: the demo's main job (``python -m examples.force2020 --quick
--no-serve``) runs once into a temporary folder; every question of ``docs/queries.md`` is then
answered from the store and checked against values computed independently from what the
workflows wrote (curation.json, preparation.json, metrics/*.json, inference.json, wells.csv,
the files themselves), and where it can be, from the raw LAS files (lasio) and the capture
spool — never copied from query output.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provml.knowledge import KnowledgeGraph, open_kg
from provml.query.named import run_query

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.force2020 import common  # noqa: E402
from examples.force2020.curation import PARAMETERS  # noqa: E402
from examples.force2020.preparation import INFERENCE_WELL, TEST_WELLS, TRAIN_WELLS, VALIDATION_WELLS  # noqa: E402

DATA = "https://w3id.org/provml/id/data/sha256-"
WELLS = {w.well_id: w for w in common.read_wells()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("force2020") / "demo"
    done = subprocess.run([sys.executable, "-m", "examples.force2020", "--quick", "--no-serve",
                           "--workdir", str(root)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[inference]" in done.stdout and "events validated and stored" in done.stdout
    return root


@pytest.fixture
def kg(demo: Path) -> Iterator[KnowledgeGraph]:  # per test: the serving test needs the store free
    with open_kg(demo / "store", load_ontologies=False) as graph:
        yield graph


def load(demo: Path, *parts: str) -> Any:
    return json.loads(demo.joinpath("work", *parts).read_text())


def metrics(demo: Path) -> list[dict[str, Any]]:
    return [load(demo, "metrics", f"{n}.json") for n in load(demo, "metrics", "learning.json")["runs"]]


def rows(kg: KnowledgeGraph, name: str, **params: str) -> list[dict[str, Any]]:
    result = run_query(kg, name, params)
    names = [v.value for v in result.variables]
    return [{n: (None if s[n] is None else s[n].value) for n in names} for s in result]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_workflow_outputs_are_the_captured_files(demo: Path) -> None:
    # every data reference the workflows recorded is the file on disk, byte for byte
    prep = load(demo, "datasets", "preparation.json")
    for entry in prep["sets"].values():
        assert sha(demo / entry["location"]) == entry["sha256"]
    for m in metrics(demo):
        assert sha(demo / m["model"]["location"]) == m["model"]["sha256"]
    inference = load(demo, "predictions", "inference.json")
    lines = (demo / inference["prediction"]["location"]).read_text().splitlines()
    assert len(lines) - 1 == inference["samples"] > 0
    for well in load(demo, "curated", "curation.json")["wells"].values():
        assert sha(common.DATA_DIR / well["raw"]["location"]) == well["raw"]["sha256"]


def test_q1_domain_context_of_the_best_model(demo: Path, kg: KnowledgeGraph) -> None:
    model = DATA + load(demo, "predictions", "inference.json")["model"]["sha256"]
    got = rows(kg, "q1", model=model)
    domains = {r["domain"] for r in got}
    train = {WELLS[w] for w in TRAIN_WELLS}
    assert {w.iri for w in train} <= domains
    assert {w.field_iri for w in train if w.field_iri} <= domains
    assert {w.block_iri for w in train} <= domains
    assert WELLS[INFERENCE_WELL].iri not in domains  # the held-out well never reached training
    related = {(r["domain"], r["value"]) for r in got if r["kind"] == "domain"}
    assert all((w.iri, w.field_iri) in related for w in train if w.field_iri)
    assert all((w.iri, w.block_iri) in related for w in train)
    # coordinates from the wells table, the basin two hops away, the samples of the training set
    east = {r["domain"]: float(r["value"]) for r in got if r["name"] == "https://w3id.org/provml/oil-gas#easting"}
    assert all(east[w.iri] == pytest.approx(w.x) for w in train)
    basins = {r["value"] for r in got if r["name"] == "https://w3id.org/provml/oil-gas#fieldInBasin"}
    assert len(basins) == 1
    prep = load(demo, "datasets", "preparation.json")
    samples = {int(r["value"]) for r in got if r["kind"] == "training set" and r["name"] == "samples"}
    assert samples == {prep["sets"]["train"]["samples"]}


def test_q2_preparation_parameters_of_a_training_set(demo: Path, kg: KnowledgeGraph) -> None:
    m = metrics(demo)[0]
    got = {r["parameter"]: r["value"] for r in rows(kg, "q2", model=DATA + m["model"]["sha256"])}
    prep = load(demo, "datasets", "preparation.json")
    assert json.loads(got["train_wells"]) == prep["train_wells"]
    assert json.loads(got["features"]) == prep["features"]
    assert got["split"] == "leave wells out"


def test_q3_best_model_of_the_training_set_by_training_loss(demo: Path, kg: KnowledgeGraph) -> None:
    train_set = DATA + load(demo, "datasets", "preparation.json")["sets"]["train"]["sha256"]
    got = rows(kg, "q3", training_set=train_set, metric="loss")
    best = min(metrics(demo), key=lambda m: m["train"]["loss"])
    assert {r["model"] for r in got} == {DATA + best["model"]["sha256"]}
    assert float(got[0]["score"]) == pytest.approx(best["train"]["loss"])
    hyper = {r["name"]: r["value"] for r in got if r["kind"] == "hyperparameter"}
    assert float(hyper["learning_rate"]) == best["hyperparameters"]["learning_rate"]
    evaluations = {(r["stage"], r["name"]): float(r["value"]) for r in got if r["kind"] == "evaluation"}
    assert evaluations[("validation", "macro_f1")] == pytest.approx(best["validation"]["macro_f1"])
    assert evaluations[("evaluation", "penalty_score")] == pytest.approx(best["test"]["penalty_score"])
    # a measure only the validation stage has ranks by its validation values
    by_f1 = rows(kg, "q3", training_set=train_set, metric="macro_f1", higher_is_better="true")
    top = max(metrics(demo), key=lambda m: m["validation"]["macro_f1"])
    assert {r["model"] for r in by_f1} == {DATA + top["model"]["sha256"]}
    assert {r["score_stage"] for r in by_f1} == {"validation"}


def test_q4_batches_per_epoch_of_the_mlp_trainings(demo: Path, kg: KnowledgeGraph) -> None:
    train_set = DATA + load(demo, "datasets", "preparation.json")["sets"]["train"]["sha256"]
    got = rows(kg, "q4", training_set=train_set)
    mlps = [m for m in metrics(demo) if m["family"] == "mlp"]
    assert len(got) == sum(len(m["epochs"]) for m in mlps)
    expected = sorted(len(e["batch_losses"]) for m in mlps for e in m["epochs"])
    assert sorted(int(r["batches"]) for r in got) == expected
    assert all(0 <= float(r["min_s"]) <= float(r["avg_s"]) <= float(r["max_s"]) for r in got)


def test_q5_models_of_the_well_selection(demo: Path, kg: KnowledgeGraph) -> None:
    selection = json.dumps(list(TRAIN_WELLS), separators=(",", ":"))
    got = rows(kg, "q5", selection="train_wells", selection_value=selection)
    # every model trained on the selection, the gradient-boosting ones too (no epochs); no duplicates
    ms = metrics(demo)
    assert {r["model"] for r in got} == {DATA + m["model"]["sha256"] for m in ms}
    keys = [(r["model"], r["stage"], r["metric"]) for r in got]
    assert len(keys) == len(set(keys))
    for m in ms:
        mine = [r for r in got if r["model"] == DATA + m["model"]["sha256"]]
        epochs = len(m.get("epochs", []))
        assert {int(r["epochs"]) for r in mine} == {epochs}
        f1 = {r["stage"]: float(r["metric_value"]) for r in mine if r["metric"] == "macro_f1"}
        assert f1 == pytest.approx({"validation": m["validation"]["macro_f1"], "evaluation": m["test"]["macro_f1"]})
    assert rows(kg, "q5", selection="train_wells", selection_value='["32/2-1"]') == []


def test_q6_raw_logs_behind_the_training_set(demo: Path, kg: KnowledgeGraph) -> None:
    train_set = DATA + load(demo, "datasets", "preparation.json")["sets"]["train"]["sha256"]
    got = rows(kg, "q6", training_set=train_set)
    wells = [WELLS[w] for w in TRAIN_WELLS]
    assert {r["location"] for r in got} == {w.file for w in wells}
    for w in wells:
        row = next(r for r in got if r["location"] == w.file)
        assert int(row["bytes"]) == (common.DATA_DIR / w.file).stat().st_size
        assert row["raw"] == DATA + sha(common.DATA_DIR / w.file)
        assert w.iri in {r["domain"] for r in got if r["location"] == w.file}
        characteristics = {r["name"]: int(r["value"]) for r in got
                           if r["location"] == w.file and r["kind"] == "characteristic"}
        assert characteristics == {"samples": w.samples, "labelled_samples": w.labelled}
        # the well's field and the basin, from the domain graph
        facts = {(r["name"], r["value"]) for r in got if r["location"] == w.file}
        if w.field_iri:
            assert ("https://w3id.org/provml/oil-gas#wellInField", w.field_iri) in facts
        assert any(n == "https://w3id.org/provml/oil-gas#fieldInBasin" for n, _ in facts) == bool(w.field_iri)


def test_q7_mlp_models_ranked_by_minimum_batch_loss(demo: Path, kg: KnowledgeGraph) -> None:
    got = rows(kg, "q7", selection="train_wells")
    mlps = sorted((min(b for e in m["epochs"] for b in e["batch_losses"]), m)
                  for m in metrics(demo) if m["family"] == "mlp")
    loss, best = mlps[0]
    assert got[0]["model"] == DATA + best["model"]["sha256"]
    assert float(got[0]["min_batch_loss"]) == pytest.approx(loss)
    validation = {r["name"]: float(r["value"]) for r in got
                  if r["model"] == got[0]["model"] and r["stage"] == "validation"}
    assert validation["accuracy"] == pytest.approx(best["validation"]["accuracy"])


def test_models_trained_on_a_field_and_their_score_on_a_lithology(demo: Path, kg: KnowledgeGraph) -> None:
    field = WELLS["16/2-6"].field_iri
    assert field is not None
    sandstone = common.LITHOLOGY_TERMS[30000].value
    got = rows(kg, "og_models_by_field", field=field, lithology=sandstone)
    ms = metrics(demo)
    assert {r["model"] for r in got} == {DATA + m["model"]["sha256"] for m in ms}
    for m in ms:
        score = next(float(r["score"]) for r in got if r["model"] == DATA + m["model"]["sha256"])
        assert score == pytest.approx(m["test"]["f1"]["sandstone"])
    # Grane's only well (25/11-15) is the validation well: no model was trained on it
    assert rows(kg, "og_models_by_field", field=WELLS["25/11-15"].field_iri or "") == []


def test_raw_files_and_curation_parameters_behind_the_prediction(demo: Path, kg: KnowledgeGraph) -> None:
    inference = load(demo, "predictions", "inference.json")
    got = rows(kg, "og_prediction_sources", prediction=DATA + inference["prediction"]["sha256"])
    expected_wells = {*TRAIN_WELLS, INFERENCE_WELL}  # the model's training wells and the predicted well
    assert {r["location"] for r in got} == {WELLS[w].file for w in expected_wells}
    assert {r["well"] for r in got} == expected_wells
    params = {(r["location"], r["parameter"]): r["value"] for r in got}
    for w in expected_wells:
        assert float(params[(WELLS[w].file, "max_abs_dcal_in")]) == PARAMETERS["max_abs_dcal_in"]
        assert json.loads(params[(WELLS[w].file, "curves")]) == PARAMETERS["curves"]


def test_what_a_revised_well_interpretation_affects(demo: Path, kg: KnowledgeGraph) -> None:
    prep = load(demo, "datasets", "preparation.json")["sets"]
    models = {DATA + m["model"]["sha256"] for m in metrics(demo)}
    prediction = DATA + load(demo, "predictions", "inference.json")["prediction"]["sha256"]

    def affected(well: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for r in rows(kg, "og_well_impact", well=WELLS[well].iri):
            out.setdefault(r["kind"], set()).add(r["affected"])
        return out

    sets = {k: DATA + prep[k]["sha256"] for k in ("train", "validation", "test")}
    # a training well: every set (the scaler is fitted on the training wells), every model, the prediction
    assert affected(TRAIN_WELLS[0]) == {"learning dataset": set(sets.values()), "model": models,
                                        "prediction": {prediction}}
    assert affected(VALIDATION_WELLS[0]) == {"learning dataset": {sets["validation"]}}
    assert affected(TEST_WELLS[0]) == {"learning dataset": {sets["test"]}}
    assert affected(INFERENCE_WELL) == {"prediction": {prediction}}


def test_best_model_and_domain_graph(demo: Path, kg: KnowledgeGraph) -> None:
    got = rows(kg, "best_model", metric="penalty_score")
    best = min(((v["penalty_score"], m) for m in metrics(demo) for v in (m["validation"], m["test"])),
               key=lambda t: t[0])
    assert {r["model"] for r in got} == {DATA + best[1]["model"]["sha256"]}
    wells = rows(kg, "og_wells")
    assert {r["well_id"] for r in wells} == set(WELLS)
    assert all(int(r["raw_files"]) == 1 for r in wells)
    gr = next(r for r in wells if r["well_id"] == "16/2-6")["curves"]
    assert "GR[gAPI]" in gr.split() and "RHOB[g/cm3]" in gr.split()


def test_a_second_run_reuses_the_store(demo: Path) -> None:
    before = (demo / "demo.json").read_text()
    done = subprocess.run([sys.executable, "-m", "examples.force2020", "--no-serve", "--workdir", str(demo)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "reusing the store" in done.stdout and "[curation]" not in done.stdout
    assert (demo / "demo.json").read_text() == before


def test_the_demo_serves_its_ready_made_queries_and_stops_on_ctrl_c(demo: Path) -> None:
    import signal
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "examples.force2020", "--workdir", str(demo), "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        urls = []
        for line in proc.stdout:
            if line.strip().startswith(f"http://127.0.0.1:{port}/api/queries/"):
                urls.append(line.strip())
            if "provml endpoint on" in line:
                break
        impact = next(u for u in urls if "og_well_impact" in u)
        with urllib.request.urlopen(impact, timeout=30) as response:
            body = json.loads(response.read())
        kinds = {b["kind"]["value"] for b in body["results"]["bindings"]}
        assert kinds == {"learning dataset", "model", "prediction"}  # 16/2-6 is a training well
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "stopped" in out


def test_the_specs_domain_concepts_are_in_the_plans(kg: KnowledgeGraph) -> None:
    import yaml

    from provml.vocab import OILGAS, PROVML, RDFS

    expected = set()
    for path in (ROOT / "examples" / "force2020" / "specs").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        for t in doc["transformations"]:
            for a in (*t.get("used", ()), *t.get("generated", ())):
                if "domain_concept" in a:
                    expected.add((a["name"], a["domain_concept"]))
    got = {(r["label"].value, r["concept"].value) for r in kg.query(
        f"SELECT ?label ?concept WHERE {{ ?a {PROVML.domainConcept} ?concept ; {RDFS.label} ?label }}")}
    assert ("raw_las", OILGAS.WellLog.value) in expected
    assert expected <= got


def test_a_second_fresh_run_reproduces_every_file_bit_for_bit(demo: Path, tmp_path: Path) -> None:
    other = tmp_path / "again"
    done = subprocess.run([sys.executable, "-m", "examples.force2020", "--quick", "--no-serve", "--fresh",
                           "--workdir", str(other)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for m in metrics(demo):
        assert load(other, "metrics", f"{m['name']}.json")["model"]["sha256"] == m["model"]["sha256"]
    assert load(other, "predictions", "inference.json")["prediction"] == load(demo, "predictions", "inference.json")["prediction"]
    assert load(other, "datasets", "preparation.json")["sets"] == load(demo, "datasets", "preparation.json")["sets"]


def test_the_answers_script_answers_every_question(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from examples.force2020 import answers

    assert answers.main(["--workdir", str(demo)]) == 0
    out = capsys.readouterr().out
    for q in answers.questions(common.Workspace(demo)):
        assert f"### {q.question}" in out
    assert "(no rows)" not in out
    assert "mlp-1.pt" in out and "las/16_2-6.las.gz" in out  # hashes shown as the files they name


def test_the_shipped_data_matches_its_manifest() -> None:
    import csv
    import gzip

    with open(common.DATA_DIR / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["file"].endswith(".las.gz")]
    assert {r["file"] for r in rows} == {w.file for w in WELLS.values()}
    for r in rows:
        path = common.DATA_DIR / r["file"]
        assert path.stat().st_size == int(r["bytes_stored"])
        raw = gzip.decompress(path.read_bytes())
        assert hashlib.sha256(raw).hexdigest() == r["sha256_uncompressed"]
    assert "CC BY 4.0" in (common.DATA_DIR / "NOTICE").read_text()


def test_every_triple_is_counted_once_on_captured_data(kg: KnowledgeGraph) -> None:
    # the union default graph is a multiset over named graphs: this holds only when each triple
    # is stored in exactly one graph (data references, models and plans shared by the runs)
    def n(text: str) -> int:
        return int(next(iter(kg.query(text)))["n"].value)

    total = n("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert total == n("SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }")
    assert total == len(kg.store)
    # the example: data references and their total size, counted once each
    refs = n("SELECT (COUNT(*) AS ?n) WHERE { ?d a <https://w3id.org/provml#DataReference> }")
    assert refs == n("SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { ?d a <https://w3id.org/provml#DataReference> }")


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's full configuration (what docs/queries.md shows): about 35 s here."""
    root = tmp_path_factory.mktemp("force2020-full") / "demo"
    done = subprocess.run([sys.executable, "-m", "examples.force2020", "--no-serve", "--workdir", str(root)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def _masked(doc: str) -> list[str]:
    """The lines of ``doc`` with the cells of the timing columns (``*_s``: seconds measured while the
    workflows ran, different on every run) replaced by "(seconds)" when they hold a number."""
    out: list[str] = []
    timing: list[int] = []
    for line in doc.split("\n"):
        if not line.startswith("| "):
            timing = []
            out.append(line)
            continue
        cells = line[2:-2].split(" | ")
        if not timing and not line.startswith("| ---"):
            timing = [i for i, c in enumerate(cells) if c.endswith("_s")] or [-1]
        elif not line.startswith("| ---"):
            for i in timing:
                if 0 <= i < len(cells) and cells[i]:
                    float(cells[i])  # a number, or the test fails here
                    cells[i] = "(seconds)"
        out.append("| " + " | ".join(cells) + " |")
    return out


def test_the_tables_of_docs_queries_md_are_what_the_queries_return_now(full_demo: Path) -> None:
    # every answer table in docs/queries.md is what its query returns now on the configuration the
    # docs were made from (the full one), value by value: the answers script rewrites the doc's
    # tables from a fresh run, and nothing changes but the timings
    from examples.force2020 import answers

    doc = (ROOT / "docs" / "queries.md").read_text()
    ws = common.Workspace(full_demo)
    qs = {q.question: q for q in answers.questions(ws)}
    with open_kg(ws.store, load_ontologies=False) as graph:
        blocks = answers.answers(graph, ws)
    titles = [section.partition("\n")[0] for section in doc.split("\n## ")[1:]]
    assert set(qs) <= set(titles), f"question(s) of the answers script missing from docs/queries.md: {set(qs) - set(titles)}"
    fresh = answers.update(doc, blocks)
    for q in qs.values():
        assert f"Named query `{q.query}`: `provml query {q.query} " in fresh
        assert "| " + " | ".join(q.columns) + " |" in fresh
    for mine, now in zip(_masked(doc), _masked(fresh), strict=True):
        assert mine == now
    assert "(seconds)" in "\n".join(_masked(doc))  # the timing columns are there (and masked)


# -- independent computations: the raw LAS files and the capture spool, not the workflows' output --


def test_q6_sample_counts_recomputed_from_the_raw_las_files(demo: Path, kg: KnowledgeGraph) -> None:
    """Each raw log's characteristics in the graph equal a count over the LAS file itself (read
    with lasio here, not with the curation workflow's reader)."""
    import gzip

    import lasio
    import numpy as np

    from examples.force2020.curation import LABEL

    train_set = DATA + load(demo, "datasets", "preparation.json")["sets"]["train"]["sha256"]
    got = rows(kg, "q6", training_set=train_set)
    assert {r["location"] for r in got} == {WELLS[w].file for w in TRAIN_WELLS}
    for location in {r["location"] for r in got}:
        with gzip.open(common.DATA_DIR / location, "rt", encoding="latin-1") as fh:
            las = lasio.read(fh)
        expected = {"samples": len(las.index), "labelled_samples": int(np.sum(~np.isnan(las[LABEL])))}
        characteristics = {r["name"]: int(r["value"]) for r in got
                           if r["location"] == location and r["kind"] == "characteristic"}
        assert characteristics == expected, location


def test_q7_minimum_batch_losses_recomputed_from_the_spool(demo: Path, kg: KnowledgeGraph) -> None:
    """Q7's minimum batch loss of every trained MLP equals the minimum over the ``loss`` values
    the capture client spooled for that run's batches."""
    from provml.capture.spool import read_events, spool_files

    losses: dict[str, list[float]] = {}
    for file in spool_files(demo / "spool"):
        for e in read_events(file):
            if e["kind"] == "cycle_end" and e.get("name") == "batch" and e.get("stage_type") == "training":
                losses.setdefault(e["run"], []).extend(
                    float(v["value"]) for v in e.get("generated", []) if v.get("name") == "loss")
    expected = sorted(min(v) for v in losses.values() if v)
    assert len(expected) == sum(1 for m in metrics(demo) if m["family"] == "mlp") > 0
    got = {r["model"]: float(r["min_batch_loss"]) for r in rows(kg, "q7", selection="train_wells")}
    assert sorted(got.values()) == pytest.approx(expected)
