"""The Dask scheduler plugin on a real LocalCluster with 2 worker processes: the computation is
a workflow, every task a task execution with its inputs (its dependencies' outputs) and output."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("distributed")  # the dask extra; `make test` installs it (dev)

from distributed import Client as DaskClient  # noqa: E402
from distributed import LocalCluster  # noqa: E402

from provml.capture.hooks.dask import record, task_id  # noqa: E402
from provml.knowledge import open_kg  # noqa: E402


def inc(x: int) -> int:
    return x + 1


def total(xs: list[int]) -> int:
    return sum(xs)


def boom(x: int) -> int:
    raise ValueError(f"no good: {x} at postgres://admin:s3cret-XYZ@db.example.org/prod")


@pytest.fixture(scope="module")
def dask_client() -> DaskClient:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, DaskClient(cluster) as client:
        yield client


def rows(kg, sparql: str) -> list[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    return [tuple(str(v.value) if v is not None else "" for v in row) for row in kg.query(sparql)]


def test_a_dask_computation_is_a_workflow_with_one_execution_per_task(dask_client: DaskClient, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with record(dask_client, "dask-etl", store=str(store), bag_size=10) as run:
        parts = dask_client.map(inc, range(4), key=[f"inc-{i}" for i in range(4)])
        result = dask_client.submit(total, parts, key="total-1").result()
    assert result == 10
    kg = open_kg(store)
    try:
        prefix = "PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
        workflow = rows(kg, prefix + f'SELECT ?s WHERE {{ ?w rdfs:label "{run}" ; <https://w3id.org/provml#status> ?s }}')
        assert workflow == [("finished",)]
        tasks = rows(kg, prefix + "SELECT ?label WHERE { ?t prov:wasInformedBy ?w ; rdfs:label ?label . "
                                  f'?w rdfs:label "{run}" }} ORDER BY ?label')
        assert [t[0] for t in tasks] == ["inc-0", "inc-1", "inc-2", "inc-3", "total-1"]
        # the total used the four outputs of inc, by the same data entities inc generated
        lineage = rows(kg, prefix + "SELECT DISTINCT ?up WHERE { ?t rdfs:label \"total-1\" ; prov:used ?d . "
                                    "?d prov:wasGeneratedBy ?u . ?u rdfs:label ?up } ORDER BY ?up")
        assert [r[0] for r in lineage] == ["inc-0", "inc-1", "inc-2", "inc-3"]
        times = rows(kg, prefix + "SELECT ?b ?e WHERE { ?t rdfs:label \"total-1\" ; prov:startedAtTime ?b ; "
                                  "prov:endedAtTime ?e }")
        # compared as times: the store writes xsd:dateTime canonically (".775600Z" as ".7756Z"),
        # so the strings do not sort as the times do
        assert len(times) == 1
        assert datetime.fromisoformat(times[0][0]) <= datetime.fromisoformat(times[0][1])
    finally:
        kg.close()


def test_a_failed_task_is_recorded_as_errored(dask_client: DaskClient, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with record(dask_client, "dask-fails", store=str(store)) as run:
        future = dask_client.submit(boom, 3, key="boom-1")
        with pytest.raises(ValueError, match="no good"):
            future.result()
    kg = open_kg(store)
    try:
        got = rows(kg, "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> SELECT ?s WHERE { "
                       "?t rdfs:label \"boom-1\" ; <https://w3id.org/provml#status> ?s }")
        assert got == [("errored",)]
        [(message,)] = rows(kg, "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> SELECT ?m WHERE { "
                                "?t rdfs:label \"boom-1\" ; <https://w3id.org/provml#errorMessage> ?m }")
        assert "no good: 3" in message and "s3cret" not in message  # the DSN's password redacted
        # the exception's own type (it was always "Exception": a probe, twenty-seventh session)
        assert rows(kg, "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> SELECT ?e WHERE { "
                        "?t rdfs:label \"boom-1\" ; <https://w3id.org/provml#errorType> ?e }") == [("ValueError",)]
        status = rows(kg, f'SELECT ?s WHERE {{ ?w <http://www.w3.org/2000/01/rdf-schema#label> "{run}" ; '
                          "<https://w3id.org/provml#status> ?s }")
        assert status == [("errored",)]
    finally:
        kg.close()


def test_a_collection_computed_twice_is_two_executions(dask_client: DaskClient, tmp_path: Path) -> None:
    """A collection computed twice runs its deterministic keys again: both runs had one task id,
    and ``provml load`` rejected the whole run for it (a probe, twenty-seventh session). A key
    run again is an execution of its own, ``<id>~2``."""
    import dask.bag
    from click.testing import CliRunner

    from provml.capture.spool import read_events
    from provml.cli import main

    spool = tmp_path / "spool"
    with record(dask_client, "dask-twice", spool_dir=str(spool), online=False):
        summed = dask.bag.from_sequence(range(4), npartitions=2).map(inc).sum()
        assert summed.compute() == summed.compute() == 10
    begun = [e["task"] for p in spool.glob("*.jsonl") for e in read_events(p) if e["kind"] == "task_begin"]
    assert len(begun) == len(set(begun)) and any(t.endswith("~2") for t in begun), begun
    loaded = CliRunner().invoke(main, ["load", str(spool), "--store", str(tmp_path / "store"), "--format", "json"])
    assert loaded.exit_code == 0, loaded.output
    kg = open_kg(tmp_path / "store")
    try:
        [(count,)] = rows(kg, "SELECT (COUNT(DISTINCT ?t) AS ?n) WHERE { ?t <http://www.w3.org/ns/prov#startedAtTime> ?s ; "
                              "<https://w3id.org/provml#workflowExecution> ?w }")
        assert int(count) == len(begun)  # every run of every key, once
    finally:
        kg.close()


def test_a_record_inside_a_record_of_the_same_name_is_refused(dask_client: DaskClient, tmp_path: Path) -> None:
    """The inner ``record`` replaced the outer's plugin, whose end then raised ``KeyError`` into
    the script, and the outer workflow never ended (a probe, twenty-seventh session)."""
    from provml.capture.spool import read_events

    spool = tmp_path / "spool"
    with record(dask_client, "outer", spool_dir=str(spool), online=False):
        assert dask_client.submit(inc, 1, key="inc-outer").result() == 2
        with pytest.raises(ValueError, match="registered on this scheduler already"), \
                record(dask_client, "inner", spool_dir=str(spool), online=False):
            pass
        with record(dask_client, "inner", name="provml-inner", spool_dir=str(spool), online=False):
            assert dask_client.submit(inc, 2, key="inc-inner").result() == 3
        assert dask_client.submit(inc, 3, key="inc-after").result() == 4
    events = [e for p in spool.glob("*.jsonl") for e in read_events(p)]
    ends = sorted(e["workflow"] for e in events if e["kind"] == "workflow_end")
    assert ends == ["inner", "outer"]
    outer = {e["task"] for e in events if e["kind"] == "task_end" and e["workflow"] == "outer"}
    assert {"inc-outer", "inc-after"} <= outer  # (the outer plugin sees the inner block's tasks too)


def test_a_key_with_a_tilde_is_no_second_run_of_another() -> None:
    """``~`` marks a key run again (``<id>~2``): a user's key holding ``~2`` took that id."""
    assert task_id("inc~2") == "inc-2" and "~" not in task_id(("a~b", 1))


def test_task_ids_are_safe_for_iris() -> None:
    assert task_id(("getitem-abc", 3, 1)) == "getitem-abc-3-1"
    assert task_id("x y/z") == "x-y-z"
    assert len(task_id("a" * 500)) <= 180


def test_the_workflow_name_is_recorded_redacted(tmp_path: Path) -> None:
    """The plugin's workflow name is recorded as the capture client records one: secrets in it
    redacted, its run id made from the redacted name (an audit, twenty-first session: names were
    recorded verbatim)."""
    from provml.capture.hooks.dask import ProvenancePlugin
    from provml.capture.spool import read_events

    plugin = ProvenancePlugin("etl password=s3cret-XYZ", spool_dir=str(tmp_path), online=False)
    plugin._begin()
    plugin._end()
    text = "".join(p.read_text() for p in tmp_path.glob("*.jsonl"))
    assert "s3cret" not in text
    (begin, _end) = [e for p in tmp_path.glob("provml-*.jsonl") for e in read_events(p)]
    assert begin["workflow"] == "etl password=[redacted]" and begin["run"].startswith("etl-password-redacted-")


def test_the_workflow_never_ends_before_it_begins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The system clock set back while a Dask computation ran recorded the workflow's end before
    its begin, which the shapes refuse; it is now recorded at the begin's time."""
    from provml.capture.hooks import dask as hook
    from provml.capture.spool import read_events

    plugin = hook.ProvenancePlugin("etl", spool_dir=str(tmp_path), online=False)
    monkeypatch.setattr(hook.time, "time", lambda: 1_800_000_000.0)
    plugin._begin()
    monkeypatch.setattr(hook.time, "time", lambda: 1_800_000_000.0 - 30)  # an NTP step back
    plugin._end()
    monkeypatch.undo()
    (begin, end) = [e for p in tmp_path.glob("provml-*.jsonl") for e in read_events(p)]
    assert end["kind"] == "workflow_end" and end["t"] == begin["t"] == 1_800_000_000.0
