"""The Dask plugin's count of each key's runs: kept compactly within a recording (a dict of every
task id it saw took ≈ 120 bytes a key, for as long as the plugin lived), counted again from one
by the next recording under another run id, counted on by one under the same (a fixed
``run_id``), and still ``<id>~2``, ``~3`` … for a key run again within one."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

pytest.importorskip("distributed")  # the dask extra; `make test` installs it (dev)

from distributed import Client as DaskClient  # noqa: E402
from distributed import LocalCluster  # noqa: E402

from provml.capture.hooks.dask import ProvenancePlugin, _end_on_scheduler  # noqa: E402
from provml.capture.spool import read_events  # noqa: E402
from provml.knowledge import open_kg  # noqa: E402
from provml.vocab import PROV  # noqa: E402


def inc(x: int) -> int:
    return x + 1


@pytest.fixture(scope="module")
def dask_client() -> DaskClient:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, DaskClient(cluster) as client:
        yield client


def _known(dask_scheduler: object, key: str) -> bool:
    return key in dask_scheduler.tasks  # type: ignore[attr-defined]


def run_once_more(dask_client: DaskClient, key: str) -> None:
    """Compute ``key`` and let the scheduler forget it, so that the next submit runs it again."""
    future = dask_client.submit(inc, 1, key=key)
    assert future.result() == 2
    future.release()
    deadline = time.monotonic() + 30  # (a bound on the wait, not a timing)
    while dask_client.run_on_scheduler(_known, key=key):
        assert time.monotonic() < deadline, f"the scheduler still holds {key}"
        time.sleep(0.01)


def test_a_key_run_again_counts_on_within_a_recording_and_from_one_in_the_next(
        dask_client: DaskClient, tmp_path: Path) -> None:
    """One plugin, two recordings: its workflow ended (as ``record`` ends it), a later graph
    begins another run. The counts of the first carried over, and the second's first run of a
    key was ``<id>~4``."""
    spool = tmp_path / "spool"
    dask_client.register_plugin(ProvenancePlugin("twice", name="provml-runs", spool_dir=str(spool),
                                                 online=False))
    try:
        for _ in range(3):
            run_once_more(dask_client, "inc-again")
        dask_client.run_on_scheduler(_end_on_scheduler, name="provml-runs", failed=False)
        run_once_more(dask_client, "inc-again")  # (the plugin begins another run)
        dask_client.run_on_scheduler(_end_on_scheduler, name="provml-runs", failed=False)
    finally:
        dask_client.unregister_scheduler_plugin("provml-runs")
    events = sorted((e for p in spool.glob("*.jsonl") for e in read_events(p)), key=lambda e: e["t"])
    runs = [e["run"] for e in events if e["kind"] == "workflow_begin"]
    assert len(runs) == 2 and runs[0] != runs[1]
    ids = [[e["task"] for e in events if e["kind"] == "task_begin" and e["run"] == run] for run in runs]
    assert ids == [["inc-again", "inc-again~2", "inc-again~3"], ["inc-again"]]


def test_a_plugin_with_a_fixed_run_id_gives_its_next_recording_a_run_id_of_its_own(
        dask_client: DaskClient, tmp_path: Path) -> None:
    """``ProvenancePlugin(..., run_id="nightly")``, two recordings. The second began under the
    same run id: its workflow execution was the first's, with two start times and two ends
    (the twenty-ninth session; and before a review, its task ids too). Now the store refuses
    such a batch (``provml.ingest.reruns``), and the second recording is ``nightly~2``, its task
    ids counted from one: both recordings are stored, each execution started and ended once."""
    spool = tmp_path / "spool"
    dask_client.register_plugin(ProvenancePlugin("nightly", name="provml-fixed", run_id="nightly",
                                                 spool_dir=str(spool), online=False))
    try:
        for _ in range(2):
            run_once_more(dask_client, "inc-fixed")
        dask_client.run_on_scheduler(_end_on_scheduler, name="provml-fixed", failed=False)
        run_once_more(dask_client, "inc-fixed")  # (the plugin begins its next recording)
        dask_client.run_on_scheduler(_end_on_scheduler, name="provml-fixed", failed=False)
    finally:
        dask_client.unregister_scheduler_plugin("provml-fixed")
    # each recording's capture client writes a spool file of its own: in its order, the first
    # event its workflow_begin (a task's times are the worker's, and may precede it)
    recordings = sorted((list(read_events(p)) for p in spool.glob("*.jsonl")), key=lambda r: r[0]["t"])
    assert [[e["run"] for e in part if e["kind"] == "workflow_begin"] for part in recordings] == [
        ["nightly"], ["nightly~2"]]
    ids = [[e["task"] for e in part if e["kind"] == "task_begin"] for part in recordings]
    assert ids == [["inc-fixed", "inc-fixed~2"], ["inc-fixed"]]
    kg = open_kg()
    for part in recordings:  # as each recording's capture client sends its own
        kg.ingest_events(part)
    for times in ("startedAtTime", "endedAtTime"):
        rows = list(kg.query(f"SELECT ?x (COUNT(?t) AS ?n) WHERE {{ ?x <{PROV.NS}{times}> ?t . "
                             f"FILTER(CONTAINS(STR(?x), '/nightly')) }} GROUP BY ?x"))
        assert len(rows) == 5 and {int(row["n"].value) for row in rows} == {1}  # 2 runs, 3 tasks


def test_the_runs_of_a_recording_take_a_few_bytes_a_key() -> None:
    """10**5 keys, each run once and half of them again: ≈ 120 bytes a key in a dict of the
    task ids; now ≈ 32 (8-byte digests and 4-byte counts, in tables at most half full)."""
    plugin = ProvenancePlugin("etl")
    keys = 100_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ids = [plugin._execution(("inc-3f2a9c1d5e7b4a6c8d0e2f4a6b8c0d1e", i)) for i in range(keys)]
        again = [plugin._execution(("inc-3f2a9c1d5e7b4a6c8d0e2f4a6b8c0d1e", i)) for i in range(0, keys, 2)]
        del ids[1:], again[1:]  # (the ids themselves are the caller's: only what the plugin keeps counts)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert ids == ["inc-3f2a9c1d5e7b4a6c8d0e2f4a6b8c0d1e-0"]
    assert again == ["inc-3f2a9c1d5e7b4a6c8d0e2f4a6b8c0d1e-0~2"]
    assert kept / keys < 40, f"{kept / keys:.0f} bytes a key"
    assert plugin._execution(("inc-3f2a9c1d5e7b4a6c8d0e2f4a6b8c0d1e", 0)).endswith("~3")
    assert plugin._execution(("inc-3f2a9c1d5e7b4a6c8d0e2f4a6b8c0d1e", 1)).endswith("~2")


def test_every_run_of_every_key_has_an_id_of_its_own() -> None:
    """Many keys run 1-4 times each, in an interleaved order (the tables grow meanwhile): the
    ids are those a dict of every id gave, each once."""
    plugin = ProvenancePlugin("etl")
    order = [f"k-{i % 5003}" for i in range(20_000)]  # key i%5003 runs 3 or 4 times, interleaved
    ids = [plugin._execution(key) for key in order]
    expected, seen = [], {}  # type: ignore[var-annotated]
    for key in order:
        n = seen[key] = seen.get(key, 0) + 1
        expected.append(key if n == 1 else f"{key}~{n}")
    assert ids == expected and len(set(ids)) == len(ids)
