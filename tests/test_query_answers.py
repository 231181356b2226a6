"""Q1-Q7 on the paper-shaped synthetic workload (``benchmarks/paper_workload.py``), checked against
answers computed in Python from what the generator produced (``Truth``) — never from query
output or from the workflows' own summaries. The events go through the whole ingest pipeline
(schema check, translation, shortcuts, class closure, SHACL).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import paper_workload as pw  # noqa: E402

from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.query.named import run_query  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402

DATA = "https://w3id.org/provml/id/data/sha256-"
OG = pw.OG


@pytest.fixture(scope="module")
def case() -> Iterator[tuple[KnowledgeGraph, pw.Truth]]:
    runs, truth = pw.generate(2, runs_per_selection=5, epochs=3, batches=4, wells=6)
    kg = KnowledgeGraph(OxigraphStore())
    kg.load_ontologies()
    for run in runs:
        kg.ingest_events(run)
    kg.store.add(pw.domain_quads(truth, _graph()))
    yield kg, truth


def _graph() -> Any:
    from pyoxigraph import NamedNode

    return NamedNode("https://w3id.org/provml/id/graph/domain/bench")


def rows(kg: KnowledgeGraph, name: str, **params: str) -> list[dict[str, Any]]:
    result = run_query(kg, name, params)
    names = [v.value for v in result.variables]
    return [{n: (None if s[n] is None else s[n].value) for n in names} for s in result]


def model_iri(digest: str) -> str:
    return DATA + digest


def trainings(truth: pw.Truth, key: str) -> list[pw.Training]:
    return [t for t in truth.trainings if t.selection == key]


def test_q1_samples_coordinates_field_block_and_basin(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, truth = case
    tr = trainings(truth, "sel-1")[0]
    got = rows(kg, "q1", model=model_iri(tr.models[-1]))
    # the number of samples of the training set behind the model
    assert {(r["source"], r["name"], int(r["value"])) for r in got if r["kind"] == "training set"} == {
        (DATA + truth.train_set["sel-1"], "samples", truth.train_samples["sel-1"])}
    wells = [truth.wells[w] for w in truth.selections["sel-1"]]
    # raw and curated files of the selected wells: their samples
    raw_samples = {(r["source"], int(r["value"])) for r in got if r["kind"] == "source"}
    assert {(DATA + truth.raw[w.id], w.samples) for w in wells} <= raw_samples
    assert {r["domain"] for r in got if r["domain"]} == {w.iri for w in wells}
    facts = {(r["domain"], r["name"], r["value"]) for r in got if r["kind"] == "domain"}
    for w in wells:
        assert (w.iri, OG + "wellInField", w.field) in facts
        assert (w.iri, OG + "wellInBlock", w.block) in facts
        easting = {float(v) for d, n, v in facts if d == w.iri and n == OG + "easting"}
        northing = {float(v) for d, n, v in facts if d == w.iri and n == OG + "northing"}
        assert easting == {w.easting} and northing == {w.northing}
    basins = {(r["domain"], r["via"], r["value"]) for r in got if r["kind"] == "domain via" and r["name"] == OG + "fieldInBasin"}
    assert basins == {(w.iri, OG + "wellInField", truth.basin) for w in wells}


def test_q2_selection_behind_a_model(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, truth = case
    tr = trainings(truth, "sel-0")[1]
    got = rows(kg, "q2", model=model_iri(tr.models[0]))
    values = {r["parameter"]: r["value"] for r in got}
    assert values["train_wells"] == pw.selection_text(truth.selections["sel-0"])
    assert set(values) == {"train_wells", "seed"}


@pytest.mark.parametrize(("metric", "stage", "higher"), [
    ("loss", None, False), ("accuracy", None, True), ("macro_f1", None, True), ("loss", "validation", False)])
def test_q3_best_model_by_a_measure_of_any_stage(case: tuple[KnowledgeGraph, pw.Truth], metric: str,
                                                  stage: str | None, higher: bool) -> None:
    kg, truth = case
    params = {"training_set": DATA + truth.train_set["sel-0"], "metric": metric, "higher_is_better": str(higher).lower()}
    if stage:
        params["metric_stage"] = stage
    got = rows(kg, "q3", **params)
    # independent: every (model, stage, value) of the measure; the first stage that has it; the best
    candidates: list[tuple[int, float, str, pw.Training]] = []
    for t in trainings(truth, "sel-0"):
        for digest, ev in zip(t.models, t.train_eval, strict=True):
            if metric in ev and stage in (None, "training"):
                candidates.append((1, ev[metric], digest, t))
        if metric in t.validation and stage in (None, "validation"):
            candidates.append((2, t.validation[metric], t.models[-1], t))
    first = min(c[0] for c in candidates)
    pool = [c for c in candidates if c[0] == first]
    best = (max if higher else min)(c[1] for c in pool)
    winners = {c[2] for c in pool if c[1] == best}
    assert {r["model"] for r in got} == {model_iri(w) for w in winners}
    assert {float(r["score"]) for r in got} == {best}
    assert {r["score_stage"] for r in got} == {"training" if first == 1 else "validation"}
    winner = next(c[3] for c in pool if c[1] == best)
    hyper = {r["name"]: r["value"] for r in got if r["kind"] == "hyperparameter" and r["stage"] == "training"}
    assert {k: str(v) for k, v in winner.hyper.items()} == hyper
    vh = {r["name"]: r["value"] for r in got if r["kind"] == "hyperparameter" and r["stage"] == "validation"}
    if next(iter(winners)) == winner.models[-1]:
        assert vh == {"batch_size": "1024"}


def test_q4_batch_timing_per_epoch(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, truth = case
    got = rows(kg, "q4", training_set=DATA + truth.train_set["sel-1"])
    expected = {}
    for t in trainings(truth, "sel-1"):
        for e, secs in enumerate(t.batch_seconds):
            expected[(kg.base + f"run/{t.run}/train", e)] = secs
    assert {(r["training"], int(r["epoch"])) for r in got} == set(expected)
    for r in got:
        secs = expected[(r["training"], int(r["epoch"]))]
        assert int(r["batches"]) == len(secs)
        assert float(r["avg_s"]) == pytest.approx(statistics.mean(secs), abs=2e-6)
        assert float(r["min_s"]) == pytest.approx(min(secs), abs=2e-6)
        assert float(r["max_s"]) == pytest.approx(max(secs), abs=2e-6)


def test_q5_models_of_a_selection_without_duplicates(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, truth = case
    value = pw.selection_text(truth.selections["sel-0"])
    got = rows(kg, "q5", selection="train_wells", selection_value=value)
    keys = [(r["model"], r["stage"], r["metric"]) for r in got]
    assert len(keys) == len(set(keys))  # no duplicate rows
    expected = set()
    for t in trainings(truth, "sel-0"):
        for digest, ev in zip(t.models, t.train_eval, strict=True):
            expected |= {(model_iri(digest), "training", k, v) for k, v in ev.items()}
        expected |= {(model_iri(t.models[-1]), "validation", k, v) for k, v in t.validation.items()}
    assert {(r["model"], r["stage"], r["metric"], float(r["metric_value"])) for r in got} == expected
    for t in trainings(truth, "sel-0"):
        mine = [r for r in got if r["model"] == model_iri(t.models[0])]
        if t.gb:  # gradient boosting: no epochs, but its training time
            assert {r["epochs"] for r in mine} == {"0"} and {r["avg_batch_s"] for r in mine} == {None}
            assert [float(r["training_s"]) for r in mine] == pytest.approx([2.5] * len(mine))
        else:
            batch = [s for epoch in t.batch_seconds for s in epoch]
            assert {int(r["epochs"]) for r in mine} == {len(t.batch_seconds)}
            assert [float(r["avg_batch_s"]) for r in mine] == pytest.approx(
                [statistics.mean(batch)] * len(mine), abs=2e-6)
            assert [float(r["avg_epoch_s"]) for r in mine] == pytest.approx(
                [statistics.mean(t.epoch_seconds)] * len(mine), abs=2e-6)
    assert not rows(kg, "q5", selection="train_wells", selection_value='["nowhere"]')


def test_q6_raw_files_with_field_and_basin(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, truth = case
    got = rows(kg, "q6", training_set=DATA + truth.train_set["sel-0"])
    wells = [truth.wells[w] for w in truth.selections["sel-0"]]
    assert {r["raw"] for r in got} == {DATA + truth.raw[w.id] for w in wells}
    assert {(r["raw"], int(r["value"])) for r in got if r["kind"] == "characteristic"} == {
        (DATA + truth.raw[w.id], w.samples) for w in wells}
    assert {(r["raw"], int(r["bytes"])) for r in got} == {(DATA + truth.raw[w.id], w.samples * 80) for w in wells}
    fields = {(r["raw"], r["value"]) for r in got if r["name"] == OG + "wellInField" and r["kind"] == "domain"}
    assert fields == {(DATA + truth.raw[w.id], w.field) for w in wells}
    basins = {(r["raw"], r["value"]) for r in got if r["kind"] == "domain via" and r["name"] == OG + "fieldInBasin"}
    assert basins == {(DATA + truth.raw[w.id], truth.basin) for w in wells}


@pytest.mark.parametrize("key", ["sel-0", "sel-1"])
def test_q7_min_batch_loss_with_validation(case: tuple[KnowledgeGraph, pw.Truth], key: str) -> None:
    kg, truth = case
    got = rows(kg, "q7", selection="train_wells", selection_value=pw.selection_text(truth.selections[key]))
    expected = sorted((min(losses), model_iri(t.models[e]), t)
                      for t in trainings(truth, key) if not t.gb for e, losses in enumerate(t.batch_losses))
    order = list(dict.fromkeys(r["model"] for r in got))
    assert order == [m for _, m, _ in expected]
    for loss, model, t in expected:
        mine = [r for r in got if r["model"] == model]
        assert {float(r["min_batch_loss"]) for r in mine} == {loss}
        assert {r["name"]: r["value"] for r in mine if (r["stage"], r["kind"]) == ("training", "hyperparameter")} \
            == {k: str(v) for k, v in t.hyper.items()}
        epoch = t.models.index(model[len(DATA):])
        assert {r["name"]: float(r["value"]) for r in mine if (r["stage"], r["kind"]) == ("training", "evaluation")} \
            == t.train_eval[epoch]
        validation = {r["name"]: float(r["value"]) for r in mine if (r["stage"], r["kind"]) == ("validation", "evaluation")}
        vhyper = {r["name"]: r["value"] for r in mine if (r["stage"], r["kind"]) == ("validation", "hyperparameter")}
        if epoch == len(t.models) - 1:  # the validated model: the validation stage's values
            assert validation == t.validation and vhyper == {"batch_size": "1024"}
        else:
            assert validation == {} and vhyper == {}


def test_every_triple_counted_once_on_the_workload(case: tuple[KnowledgeGraph, pw.Truth]) -> None:
    kg, _ = case

    def n(text: str) -> int:
        return int(next(iter(kg.query(text)))["n"].value)

    total = n("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert total == n("SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }") == len(kg.store)


def _two_parameter_run(run: str, epochs: int) -> list[dict[str, Any]]:
    """A preparation with two parameters generates the training set; a training of ``epochs``
    epochs (1 s each) uses it."""
    base = {"v": 1, "run": run, "workflow": "w"}
    cycle = {"stage": "train", "stage_type": "training", "name": "epoch", "parent": "train"}
    data = {"store": "fs", "location": "data/train.npz"}
    events: list[dict[str, Any]] = [
        {**base, "kind": "workflow_begin", "t": 1.0, "type": "learning"},
        {**base, "kind": "task_begin", "t": 1.0, "task": "prep", "name": "prep", "type": "generic",
         "used": [{"name": "train_wells", "value": "A"}, {"name": "scale", "value": 1.5}]},
        {**base, "kind": "task_end", "t": 2.0, "task": "prep", "name": "prep", "type": "generic",
         "status": "finished", "generated": [{"name": "train", "role": "learning_dataset", "data": data}]},
        {**base, "kind": "task_begin", "t": 2.0, "task": "train", "name": "train", "type": "training",
         "used": [{"name": "train", "role": "learning_dataset", "data": data}]}]
    for e in range(epochs):
        model = {"name": "model", "role": "model", "data": {"store": "fs", "location": f"m/{run}/{e}.pt"}}
        events += [{**base, **cycle, "kind": "cycle_begin", "t": 2.0 + e, "task": f"train/epoch-{e}", "iteration": e},
                   {**base, **cycle, "kind": "cycle_end", "t": 3.0 + e, "task": f"train/epoch-{e}", "iteration": e,
                    "status": "finished", "generated": [model]}]
    events.append({**base, "kind": "task_end", "t": 2.0 + epochs, "task": "train", "name": "train",
                   "type": "training", "status": "finished"})
    return events


def test_q5_counts_each_epoch_once_whatever_the_selection_joins() -> None:
    """Q5 counted an epoch once per (preparation, parameter) the training set came from: two
    parameters doubled every count, and two runs preparing the same data doubled it again
    (a correctness audit, twentieth session)."""
    kg = KnowledgeGraph(OxigraphStore())
    kg.ingest_events(_two_parameter_run("r1", 2))
    everything = rows(kg, "q5")
    assert everything and {(r["selection"], int(r["epochs"])) for r in everything} == {
        ("train_wells", 2), ("scale", 2)}
    assert {float(r["avg_epoch_s"]) for r in everything} == {1.0}
    kg.ingest_events(_two_parameter_run("r2", 3))
    chosen = rows(kg, "q5", selection="train_wells", selection_value="A")
    epochs = {(r["model"], int(r["epochs"])) for r in chosen}
    assert sorted(count for _model, count in epochs) == [2, 2, 3, 3, 3]  # each model, its training's
