"""The paper's questions Q1–Q7 and provml's own, answered on the paper's case (Fig. 8 values).

Expected answers are computed from the fixture's numbers (``paper_fixture``), never copied from
query output.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import paper_fixture as pf
import pytest
from pyoxigraph import NamedNode, RdfFormat

from provml.errors import ParameterError, QueryNotFound
from provml.knowledge import KnowledgeGraph
from provml.query.named import bind, get_query, list_queries, load_query_file, run_query
from provml.store import Store


@pytest.fixture
def paper_kg(store: Store) -> Iterator[KnowledgeGraph]:
    kg = KnowledgeGraph(store)
    kg.load_ontologies()
    for batch in (pf.curation_events(), pf.preparation_events(), pf.training_events("train-a"),
                  pf.training_events("train-b")):
        kg.ingest_events(batch)
    kg.ingest_rdf(pf.DOMAIN_TTL.encode(), format=RdfFormat.TURTLE, graph=NamedNode("http://ibm.com/kg"))
    yield kg




def _rows(kg: KnowledgeGraph, name: str, **params: str) -> list[dict[str, Any]]:
    result = run_query(kg, name, params)
    names = [v.value for v in result.variables]
    return [{n: (None if s[n] is None else s[n].value) for n in names} for s in result]


def data_iri(kg: KnowledgeGraph, sha: str) -> str:
    return kg.base + "data/sha256-" + sha


def model_iri(kg: KnowledgeGraph, run: str, iteration: int) -> str:
    return data_iri(kg, f"{run}{iteration}".encode().hex().ljust(64, "0")[:64])


def best_run_and_epoch() -> tuple[str, int, float, float]:
    """From the fixture's numbers: the (run, epoch, loss, mean_iou) with the least epoch loss."""
    candidates = [(loss, run, it, iou) for run, spec in pf.RUNS.items() for it, _, loss, iou in spec["epochs"]]
    loss, run, it, iou = min(candidates)
    return run, it, loss, iou


def test_every_named_query_runs_as_is_and_returns_rows(paper_kg: KnowledgeGraph) -> None:
    for query in list_queries():
        if query.domain:
            continue  # written against a domain ontology; tested with its case
        assert _rows(paper_kg, query.name), f"{query.name} returned no rows on the paper's case"


def test_q1_domain_context_of_a_model(paper_kg: KnowledgeGraph) -> None:
    run, it, _, _ = best_run_and_epoch()
    got = _rows(paper_kg, "q1", model=model_iri(paper_kg, run, it))
    domain_rows = [r for r in got if r["kind"] != "training set"]
    assert {r["domain"] for r in domain_rows} == {pf.SEISMIC_RESOURCE}
    assert {r["source"] for r in domain_rows} == {data_iri(paper_kg, pf.RAW_SHA)}
    assert {"F3 block", "North Sea basin"} <= {r["value_label"] for r in domain_rows}
    # the raw file's number of slices, and the training set's characteristics
    assert ("slices", "651") in {(r["name"], r["value"]) for r in got if r["kind"] == "source"}
    assert {r["source"] for r in got if r["kind"] == "training set"} == {data_iri(paper_kg, pf.TRAIN_SHA)}


def test_q2_preparation_parameters_behind_a_model(paper_kg: KnowledgeGraph) -> None:
    got = _rows(paper_kg, "q2", model=model_iri(paper_kg, "train-b", 1))
    values = {r["parameter"]: r["value"] for r in got}
    assert set(values) == set(pf.PREP_PARAMS)
    assert float(values["noise_threshold"]) == pf.PREP_PARAMS["noise_threshold"]
    assert int(values["tile_size"]) == pf.PREP_PARAMS["tile_size"]
    assert {r["training_set"] for r in got} == {data_iri(paper_kg, pf.TRAIN_SHA)}


def test_q3_best_model_of_the_training_set(paper_kg: KnowledgeGraph) -> None:
    run, it, loss, iou = best_run_and_epoch()
    got = _rows(paper_kg, "q3", training_set=data_iri(paper_kg, pf.TRAIN_SHA))
    assert {r["model"] for r in got} == {model_iri(paper_kg, run, it)}
    assert {float(r["score"]) for r in got} == {loss}
    hyper = {r["name"]: r["value"] for r in got if r["kind"] == "hyperparameter"}
    assert float(hyper["learning_rate"]) == pf.RUNS[run]["lr"] and int(hyper["batch_size"]) == 60
    evals = {(r["stage"], r["name"]): float(r["value"]) for r in got if r["kind"] == "evaluation"}
    assert evals[("training", "mean_iou")] == iou
    assert evals[("validation", "loss")] == pf.VALIDATION_LOSS[run]
    mh = {r["name"]: r["value"] for r in got if r["kind"] == "model_hyperparameter"}
    assert int(mh["epoch"]) == it


def test_q3_higher_is_better_picks_the_max(paper_kg: KnowledgeGraph) -> None:
    best_iou = max(iou for spec in pf.RUNS.values() for *_, iou in spec["epochs"])
    got = _rows(paper_kg, "q3", metric="mean_iou", higher_is_better="true")
    assert {float(r["score"]) for r in got} == {best_iou}


def test_q4_batch_timing_per_epoch(paper_kg: KnowledgeGraph) -> None:
    got = _rows(paper_kg, "q4", training_set=data_iri(paper_kg, pf.TRAIN_SHA))
    epochs = sum(len(spec["epochs"]) for spec in pf.RUNS.values())
    assert len(got) == epochs
    for r in got:
        assert int(r["batches"]) == len(pf.BATCH_SECONDS)
        assert float(r["avg_s"]) == pytest.approx(statistics.mean(pf.BATCH_SECONDS))
        assert float(r["min_s"]) == min(pf.BATCH_SECONDS) and float(r["max_s"]) == max(pf.BATCH_SECONDS)


def test_q5_models_of_a_data_selection(paper_kg: KnowledgeGraph) -> None:
    got = _rows(paper_kg, "q5", selection="inline_range", selection_value="[100,750]")
    n_models = sum(len(spec["epochs"]) for spec in pf.RUNS.values())
    assert len({r["model"] for r in got}) == n_models
    assert {float(r["avg_batch_s"]) for r in got} == {statistics.mean(pf.BATCH_SECONDS)}
    assert {int(r["epochs"]) for r in got} == {2}
    assert not _rows(paper_kg, "q5", selection="inline_range", selection_value="[0,1]")


def test_q6_raw_data_behind_a_training_set(paper_kg: KnowledgeGraph) -> None:
    got = _rows(paper_kg, "q6", training_set=data_iri(paper_kg, pf.TRAIN_SHA))
    assert {r["raw"] for r in got} == {data_iri(paper_kg, pf.RAW_SHA)}
    assert {int(r["bytes"]) for r in got} == {pf.RAW_SIZE}
    chars = {r["name"]: r["value"] for r in got if r["kind"] == "characteristic"}
    assert int(chars["slices"]) == 651
    assert {r["domain_label"] for r in got} == {"Netherlands F3 seismic cube"}
    assert {"F3 block", "North Sea basin"} <= {r["value_label"] for r in got}


def test_q7_models_ranked_by_minimum_batch_loss(paper_kg: KnowledgeGraph) -> None:
    got = _rows(paper_kg, "q7", selection="tile_size", selection_value="40")
    expected = sorted(
        (min(losses), model_iri(paper_kg, run, it))
        for run, spec in pf.RUNS.items() for it, losses, _, _ in spec["epochs"]
    )
    order = list(dict.fromkeys(r["model"] for r in got))
    assert order == [m for _, m in expected]
    first = [r for r in got if r["model"] == expected[0][1]]
    assert float(first[0]["min_batch_loss"]) == expected[0][0]
    val = [r for r in first if r["stage"] == "validation"]
    run = "train-a" if "747261696e2d61" in expected[0][1] else "train-b"
    assert [float(r["value"]) for r in val] == [pf.VALIDATION_LOSS[run]]


def test_lineage_reaches_raw_data_across_workflows(paper_kg: KnowledgeGraph) -> None:
    got = _rows(paper_kg, "lineage", node=model_iri(paper_kg, "train-a", 188))
    raw = {r["ancestor"] for r in got if r["raw"] == "true"}
    assert data_iri(paper_kg, pf.RAW_SHA) in raw
    assert data_iri(paper_kg, pf.CURATED_SHA) in {r["ancestor"] for r in got}


def test_impact_of_raw_data(paper_kg: KnowledgeGraph) -> None:
    got = _rows(paper_kg, "impact", source=data_iri(paper_kg, pf.RAW_SHA))
    models = {r["affected"] for r in got if r["kind"] == "model"}
    n_models = sum(len(spec["epochs"]) for spec in pf.RUNS.values())
    assert len(models) == n_models
    assert {data_iri(paper_kg, s) for s in (pf.TRAIN_SHA, pf.VALID_SHA, pf.TEST_SHA)} <= {r["affected"] for r in got}


def test_epoch_metrics_series(paper_kg: KnowledgeGraph) -> None:
    got = _rows(paper_kg, "epoch_metrics", run=paper_kg.base + "run/train-b")
    series = {int(r["epoch"]): float(r["value"]) for r in got if r["metric"] == "loss"}
    assert series == {it: loss for it, _, loss, _ in pf.RUNS["train-b"]["epochs"]}
    batch_means = {int(r["epoch"]): float(r["value"]) for r in got if r["metric"] == "loss (batch mean)"}
    assert batch_means == pytest.approx({it: statistics.mean(ls) for it, ls, _, _ in pf.RUNS["train-b"]["epochs"]})


def test_compare_runs_side_by_side(paper_kg: KnowledgeGraph) -> None:
    a, b = paper_kg.base + "run/train-a", paper_kg.base + "run/train-b"
    got = _rows(paper_kg, "compare_runs", run_a=a, run_b=b)
    lr = {r["run"]: float(r["value"]) for r in got if r["name"] == "learning_rate" and r["kind"] == "hyperparameter"}
    assert lr == {a: pf.RUNS["train-a"]["lr"], b: pf.RUNS["train-b"]["lr"]}
    final = {(r["run"], r["stage"]): float(r["value"]) for r in got if r["name"] == "loss" and r["kind"] == "evaluation"}
    assert final[(b, "train")] == pf.RUNS["train-b"]["epochs"][-1][2]
    assert final[(a, "validate")] == pf.VALIDATION_LOSS["train-a"]


def test_best_model_per_metric_infers_direction(paper_kg: KnowledgeGraph) -> None:
    run, it, loss, _ = best_run_and_epoch()
    got = _rows(paper_kg, "best_model")
    by_metric = {r["metric"]: (r["model"], float(r["score"])) for r in got}
    assert by_metric["loss"] == (model_iri(paper_kg, run, it), loss)
    best_iou = max(iou for spec in pf.RUNS.values() for *_, iou in spec["epochs"])
    assert by_metric["mean_iou"][1] == best_iou


# -- parameters ---------------------------------------------------------------------------------


def test_parameter_injection_cannot_change_the_query(paper_kg: KnowledgeGraph) -> None:
    evil = 'loss" } } UNION { ?model ?p ?o } #'
    text = bind(get_query("q3"), {"metric": evil})
    assert "UNION { ?model ?p ?o }" not in text.split("VALUES")[0]
    assert not _rows(paper_kg, "q3", metric=evil)  # bound as one literal: no metric has that name
    iri_evil = "http://x/> } ?s ?p ?o . { <http://y"
    with pytest.raises(ParameterError):
        _rows(paper_kg, "q1", model=iri_evil)


@pytest.mark.parametrize(("name", "params", "fragment"), [
    ("q3", {"nope": "1"}, "unknown"),
    ("q3", {"higher_is_better": "maybe"}, "boolean"),
    ("q1", {"model": "not an iri"}, "absolute IRI"),
])
def test_bad_parameters_are_named(name: str, params: dict[str, str], fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        bind(get_query(name), params)
    assert fragment in str(info.value) and list(params)[0] in str(info.value)


def test_unknown_query() -> None:
    with pytest.raises(QueryNotFound, match="provml queries"):
        get_query("q99")


def test_every_query_has_header_and_paper_queries_are_complete() -> None:
    queries = {q.name: q for q in list_queries()}
    assert {f"q{i}" for i in range(1, 8)} <= set(queries)
    assert {"lineage", "impact", "best_model", "epoch_metrics", "compare_runs"} <= set(queries)
    for i in range(1, 8):
        assert queries[f"q{i}"].paper == f"Q{i}"
    for q in queries.values():
        assert q.title and q.description, q.name
        for p in q.parameters:
            assert p.description, (q.name, p.name)


def test_load_query_file_reads_a_user_query(tmp_path: Any) -> None:
    path = tmp_path / "mine.rq"
    path.write_text("#+ name: mine\n#+ parameters:\n#+   - {name: x, type: integer}\nSELECT ?x WHERE { }\n")
    q = load_query_file(path)
    assert q.name == "mine" and q.parameters[0].type == "integer"
    assert "VALUES (?x) { (\"3\"^^<http://www.w3.org/2001/XMLSchema#integer>) }" in bind(q, {"x": "3"})


def test_pyoxigraph_substitutions_still_bind_only_projected_variables() -> None:
    """Why ``bind`` rewrites with ``VALUES`` instead of pyoxigraph's ``substitutions=`` (see
    provml.query.named): some parameters are not projected. When this fails, pyoxigraph lifted the
    limit and ``run_query`` can bind through ``substitutions=`` on the embedded store."""
    import pyoxigraph

    from provml.query.named import get_query

    q3 = get_query("q3")
    assert "?metric" not in q3.text.split("WHERE", 1)[0]
    with pytest.raises(RuntimeError, match="projection"):
        pyoxigraph.Store().query(q3.text, substitutions={pyoxigraph.Variable("metric"): pyoxigraph.Literal("loss")})
