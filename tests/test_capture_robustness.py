"""Nothing captured is lost silently: odd names, permanent sink errors, a failing flusher, and
events after ``close()`` (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

import provml
from provml.capture.spool import read_events
from provml.ingest.spec import SpecError
from provml.knowledge import open_kg
from provml.vocab import PROV, RDFS

COUNT_ENDED = f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e {PROV.endedAtTime} ?t }}"


def labels(store: Path) -> set[str]:
    kg = open_kg(store)
    try:
        rows = kg.query(f"SELECT ?l WHERE {{ ?e {PROV.endedAtTime} ?t ; {RDFS.label} ?l }}")
        return {row["l"].value for row in rows}
    finally:
        kg.close()


def test_names_with_spaces_are_stored_not_rejected(tmp_path: Path) -> None:
    store = tmp_path / "kg"
    with provml.Client(store=store, install_signal_handler=False) as client:
        with client.workflow("my workflow", meta=False) as wf:
            with wf.task("load data") as t:
                t.generated(provml.value("rows", 3))
            with wf.stage("train the model") as tr, tr.cycle("val epoch", 0) as ep:
                with ep.cycle("mini batch/é", 1):
                    pass
    stats = client.stats()
    assert stats.rejected == 0 and stats.sent == stats.processed == 10
    assert not client.rejected_path.exists()
    assert labels(store) - {wf.run_id} == {
        "load-data", "train-the-model", "train-the-model/val-epoch-0",
        "train-the-model/val-epoch-0/mini-batch--1",
    }


def test_ids_keep_names_and_stay_unique(tmp_path: Path) -> None:
    with provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False) as client:
        with client.workflow("wf", meta=False) as wf:
            with wf.task("load data") as a, a.cycle("val epoch", 2) as c:
                pass
            with wf.task("load-data") as b:
                pass
    assert (a.id, b.id, c.id) == ("load-data", "load-data-2", "load-data/val-epoch-2")
    assert client.spool_path is not None
    events = list(read_events(client.spool_path))
    assert [e["name"] for e in events if e["kind"] == "task_begin"] == ["load data", "load-data"]
    assert client.stats().rejected == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda wf: wf.task("x", id="has space"), "task id 'has space' must be"),
        (lambda wf: wf.task(""), "a task name must be a string of 1-200"),
        (lambda wf: wf.task("x" * 201), "of 201 characters"),
        (lambda wf: wf.stage("s").cycle("epoch", -1), "iteration must be an integer >= 0"),
        (lambda wf: wf.stage("s").cycle("epoch", 1.5), "iteration must be an integer >= 0"),
        (lambda wf: wf.spec({"workflow": "wf", "transformations": [{"nam": "x"}]}),
         "transformations[0] needs a 'name'"),
    ],
)
def test_what_the_wire_format_refuses_raises_at_the_call(tmp_path: Path, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False) as client:
        with client.workflow("wf", meta=False) as wf:
            with pytest.raises((ValueError, SpecError)) as caught:
                call(wf)
            assert message in str(caught.value)
        with pytest.raises(ValueError, match="run id 'a b' must be"):
            client.workflow("wf", run_id="a b")
    assert client.stats().rejected == 0
