"""The library behind the web UI on the fixture store: overview counts and latest runs, the
lineage graph from a prediction back to the raw seismic file, and two runs compared (values as
the paper fixture defines them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from flask import Flask
from paper_fixture import RUNS, VALIDATION_LOSS
from ui_fixture import PREDICTION, RAW, RUN_A, RUN_B, model_sha

from provml.endpoint.context import KG_KEY
from provml.endpoint.ui.comparison import compare
from provml.endpoint.ui.overview import list_runs, overview
from provml.knowledge import KnowledgeGraph
from provml.query.lineage import lineage_graph, most_specific
from provml.vocab import PROVML


def test_overview_counts_and_latest_runs(ui_kg: KnowledgeGraph) -> None:
    o = overview(ui_kg.store, sample=3)
    counts = {c.key: c.count for c in o.categories}
    assert counts == {"studies": 1, "workflows": 4, "runs": 5, "models": 4, "datasets": 3,
                      "data": 10, "predictions": 1}
    assert all(len(c.items) <= 3 for c in o.categories)
    assert [r.label for r in o.latest_runs] == ["infer-1", "train-b", "train-a", "prep-1", "curation-1"]
    assert [r.label for r in list_runs(ui_kg.store, learning_only=True)] == ["train-b", "train-a"]
    assert o.latest_runs[0].status == "finished" and o.latest_runs[0].workflow_label == "seismic-inference"


def test_lineage_graph_reaches_the_raw_file_from_a_prediction(ui_kg: KnowledgeGraph) -> None:
    g = lineage_graph(ui_kg.store, PREDICTION)
    raw = g.node(RAW)
    assert raw is not None and raw.raw and raw.side == "backward" and raw.label == "netherlands.sgy"
    model = g.node(f"https://w3id.org/provml/id/data/sha256-{model_sha('train-a', 188)}")
    assert model is not None and (model.cls, model.kind) == ("Model", "model")
    assert g.node(PREDICTION).kind == "prediction"  # type: ignore[union-attr]
    # no scalar values (hyperparameters, metrics) and no prospective plan nodes
    assert not any("/used/" in n.iri or "/generated/" in n.iri or "/plan/" in n.iri for n in g.nodes)
    ids = {n.iri for n in g.nodes}
    assert all(e.source in ids and e.target in ids for e in g.edges)
    assert not g.truncated


def test_lineage_graph_goes_forward_and_stops_at_max_nodes(ui_kg: KnowledgeGraph) -> None:
    forward = lineage_graph(ui_kg.store, RAW)
    assert forward.node(PREDICTION).side == "forward"  # type: ignore[union-attr]
    small = lineage_graph(ui_kg.store, RAW, max_nodes=5)
    assert len(small.nodes) == 5 and small.truncated
    with pytest.raises(ValueError):
        lineage_graph(ui_kg.store, "not an iri")


def test_most_specific_class() -> None:
    assert most_specific([PROVML.DataReference.value, PROVML.Prediction.value]) == ("Prediction", "prediction")
    assert most_specific(["http://example.org/X"]) == ("", "other")


def test_compare_two_runs(ui_kg: KnowledgeGraph) -> None:
    c = compare(ui_kg.store, [RUN_A, RUN_B, RUN_A])
    assert c.runs == (RUN_A, RUN_B)
    assert c.hyperparameters["learning_rate"] == {RUN_A: "0.01", RUN_B: "0.001"}
    assert float(c.evaluations["validate · loss"][RUN_B]) == VALIDATION_LOSS["train-b"]
    loss = c.curves["loss"]
    assert loss[RUN_A] == [(float(e), v) for e, _, v, _ in RUNS["train-a"]["epochs"]]
    assert [p[0] for p in loss[RUN_B]] == [0.0, 1.0]


def test_runs_the_store_does_not_know_cost_one_lookup_each(
    ui_kg: KnowledgeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run took three queries whether the store knew it or not: 20 unknown runs took the
    probe's server 14 s of an anonymous request (22nd session), 4.7 s on a store of 2×10^5
    quads. A run the store does not know is now one lookup, and adds nothing."""
    from provml.endpoint.ui import comparison

    asked: list[str] = []
    real = comparison._select
    monkeypatch.setattr(comparison, "_select", lambda store, text: asked.append(text) or real(store, text))
    alone = compare(ui_kg.store, [RUN_A])
    known = len(asked)
    unknown = [RUN_A + f"-unknown-{i}" for i in range(20)]
    c = compare(ui_kg.store, [*unknown, RUN_A])
    assert len(asked) - known == known + 20  # one lookup an unknown run; the known run's own
    assert c.runs == (*unknown, RUN_A) and c.hyperparameters
    assert (c.hyperparameters, c.evaluations, c.curves) == (alone.hyperparameters, alone.evaluations, alone.curves)


def test_compare_agrees_with_the_named_queries(ui_kg: KnowledgeGraph) -> None:
    """The direct queries of ``compare`` answer what ``epoch_metrics`` and ``compare_runs`` do."""
    from provml.query.named import run_query

    c = compare(ui_kg.store, [RUN_A, RUN_B])
    for run in (RUN_A, RUN_B):
        expected: dict[str, list[tuple[float, float]]] = {}
        for row in run_query(ui_kg.store, "epoch_metrics", {"run": run}):
            expected.setdefault(row["metric"].value, []).append(
                (float(row["epoch"].value), float(row["value"].value)))
        got = {m: by_run[run] for m, by_run in c.curves.items() if run in by_run}
        assert got.keys() == expected.keys()
        for metric, points in expected.items():
            assert [e for e, _ in got[metric]] == [e for e, _ in sorted(points)]
            assert [v for _, v in got[metric]] == pytest.approx([v for _, v in sorted(points)])
        for row in run_query(ui_kg.store, "compare_runs", {"run_a": run, "run_b": run}):
            table = c.hyperparameters if row["kind"].value == "hyperparameter" else c.evaluations
            key = row["name"].value if row["kind"].value == "hyperparameter" else \
                f"{row['stage'].value} · {row['name'].value}"
            assert table[key][run] == row["value"].value


def test_a_diverged_run_is_compared_and_drawn_without_its_nan_and_infinities(tmp_path: Path) -> None:
    """A run whose loss went to NaN and infinity (stored as xsd:double since diverged losses are
    kept) made the comparison page's chart raise (``cannot convert float infinity to
    integer``): a 500 for the whole page. Its finite points are drawn, the rest counted in the
    chart's title; a batch's NaN is left out of its epoch's mean, as the stored summaries leave
    it out."""
    import provml

    client = provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)
    with client.workflow("diverging", meta=False, type="learning") as wf, wf.stage("train") as tr:
        for epoch, losses in enumerate(((0.9, 0.7), (0.5, float("nan")), (float("inf"), 0.4))):
            with tr.cycle("epoch", epoch) as ep:
                for batch, loss in enumerate(losses):
                    with ep.cycle("batch", batch) as bt:
                        bt.generated(provml.evaluation("loss", loss))
                ep.generated(provml.evaluation("loss", (0.8, float("nan"), float("inf"))[epoch]))
    assert client.close()
    app = _served(tmp_path)
    try:
        run = f"{app.extensions[KG_KEY].base}run/{wf.run_id}"
        c = compare(app.extensions[KG_KEY].store, [run])
        # the epochs' own values, NaN and infinity as they are
        (e0, e1, e2) = c.curves["loss"][run]
        assert e0 == (0.0, 0.8) and e1[0] == 1.0 and e1[1] != e1[1] and e2 == (2.0, float("inf"))
        # the batches' means: epoch 1's NaN left out, epoch 2's infinity kept
        assert c.curves["loss (batch mean)"][run] == [(0.0, 0.8), (1.0, 0.5), (2.0, float("inf"))]
        page = app.test_client().get("/compare", query_string={"run": run})
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        text = page.get_data(as_text=True)
        assert "loss (2 NaN or infinite values not drawn)" in text
        assert "loss (batch mean) (1 NaN or infinite value not drawn)" in text
        # the page's JSON twin is JSON (Flask wrote NaN and Infinity, which JSON has not):
        # those numbers in XSD's spelling, as the event format writes them
        twin = app.test_client().get("/compare.json", query_string={"run": run})
        assert twin.status_code == 200

        def refuse(constant: str) -> None:
            raise AssertionError(f"{constant} is not JSON")

        body = json.loads(twin.get_data(as_text=True), parse_constant=refuse)
        assert body["curves"]["loss"][run] == [[0.0, 0.8], [1.0, "NaN"], [2.0, "INF"]]
        assert body["curves"]["loss (batch mean)"][run] == [[0.0, 0.8], [1.0, 0.5], [2.0, "INF"]]
    finally:
        app.extensions["provml.close"]()


@pytest.mark.parametrize("points", [
    pytest.param([(0, 1.7e308), (1, 1.7e308)], id="flat near the largest double"),
    pytest.param([(0, 0.5), (1, 1e308), (2, -1e308)], id="a span past the largest double"),
    pytest.param([(0, 0.5), (1, sys.float_info.max)], id="MLflow's infinity"),
])
def test_a_chart_of_huge_values_has_no_nan_or_infinity_in_its_drawing(points: list[tuple[float, float]]) -> None:
    """Values near the largest double (MLflow keeps an infinity as it) overflowed the chart's
    scale and margins: coordinates ``nan``, a tick ``inf``."""
    from provml.endpoint.ui.plots import line_chart

    svg = str(line_chart("loss", {"run": points}))
    drawing = svg.split("</text>", 1)[1]  # (after the title, which may say "infinite")
    assert "nan" not in drawing and "inf" not in drawing.lower(), drawing[:400]


def test_a_run_known_only_by_its_stages_links_is_compared() -> None:
    """The lookup that skips unknown runs first read only a run's own statements: a run whose
    ``workflow_begin`` never arrived, known by its stages' links to it, lost its hyperparameters
    (a review, 23rd session)."""
    from provml.store.oxigraph import OxigraphStore

    kg = KnowledgeGraph(OxigraphStore())
    kg.ingest_events([{"v": 1, "kind": "task_begin", "t": 11, "run": "r", "workflow": "wf", "task": "train",
                       "name": "train", "type": "training",
                       "used": [{"name": "lr", "value": 0.1, "role": "hyperparameter"}]}])
    run = kg.iris.run("r")
    assert not any(q.subject == run for q in kg.store.quads())  # known by incoming links only
    assert compare(kg.store, [run.value]).hyperparameters == {"lr": {run.value: "0.1"}}


@pytest.mark.parametrize("points", [
    pytest.param([(0, 1e-16), (1, 1e-16)], id="flat at 1e-16"),
    pytest.param([(0, 2e-18), (1, 3e-18)], id="a span far below 1e-12"),
    pytest.param([(0, 1e-19), (1, 1e-19)], id="flat at 1e-19"),
    pytest.param([(0, 0.0), (1, 5e-324)], id="zero and the least double"),
    pytest.param([(0, 0.0), (1, 2e-323)], id="a span of a few subnormals"),
    pytest.param([(0, -2e-323), (1, 2e-323)], id="subnormals of both signs"),
])
def test_a_chart_of_tiny_values_has_a_few_ticks(points: list[tuple[float, float]]) -> None:
    """The ticks ran until past the axis's end plus 1e-12, a step at a time: a loss of 1e-16
    drew 27 MB, one of 1e-19 took the server past 3 GB (a hostile probe); ``0`` and
    ``5e-324`` made an axis of no width, and drawing divided by zero (a 500)."""
    from provml.endpoint.ui.plots import line_chart

    svg = str(line_chart("loss", {"run": points}))
    assert len(svg) < 10_000 and 2 <= svg.count('stroke="#eef1f4"') <= 12, len(svg)
    assert "nan" not in svg.split("</text>", 1)[1]


def test_the_comparison_page_of_a_run_with_a_tiny_loss_is_small(tmp_path: Path) -> None:
    """The same through the page anyone may ask for: a run captured with losses of 1e-16."""
    import provml

    client = provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)
    with client.workflow("tiny", meta=False, type="learning") as wf, wf.stage("train") as tr:
        for epoch in range(2):
            with tr.cycle("epoch", epoch) as ep:
                ep.generated(provml.evaluation("loss", 1e-16))
    assert client.close()
    app = _served(tmp_path)
    try:
        run = f"{app.extensions[KG_KEY].base}run/{wf.run_id}"
        page = app.test_client().get("/compare", query_string={"run": run})
        assert page.status_code == 200 and len(page.get_data()) < 200_000, len(page.get_data())
    finally:
        app.extensions["provml.close"]()


def _served(tmp_path: Path) -> Flask:
    """The app over a store into which ``provml load`` read the spool in ``tmp_path``."""
    from click.testing import CliRunner

    from provml.cli import main
    from provml.endpoint.app import create_app

    loaded = CliRunner().invoke(main, ["load", str(tmp_path / "spool"), "--store", str(tmp_path / "kg")])
    assert loaded.exit_code == 0, loaded.output
    return create_app({"STORE": str(tmp_path / "kg"), "TIMEOUT_S": 20})
