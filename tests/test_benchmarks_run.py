"""The benchmarks keep running as the library changes (a refactor once left one calling a
removed private method, found only when it was next run): every script imports, and the ingest
benchmark's stage breakdown runs on a few hundred events. Speed itself is never asserted here."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py"))


@pytest.fixture(autouse=True, scope="module")
def _on_path() -> None:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_benchmark_script_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__, f"benchmarks/{name}.py says what it measures"


def test_the_ingest_breakdown_runs_every_stage() -> None:
    import ingest
    import workload

    stages = ingest.breakdown(workload.events(300, batches=5, epochs=2), 100)
    assert set(stages) == {"check", "translate", "shortcuts", "enrich", "context", "validate", "write", "summaries"}
    assert all(seconds > 0 for seconds in stages.values())


def test_the_ingest_benchmark_stops_when_a_variant_stores_other_quads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variant's store is compared with the in-memory reference's quads (outside the
    clock); one that stores other quads stops the run instead of timing a wrong answer."""
    import ingest

    assert ingest.digest(b"<a> <b> <c> .\n<d> <e> <f> .\n") == ingest.digest(b"<d> <e> <f> .\n<a> <b> <c> .\n")
    assert ingest.digest(b"<a> <b> <c> .\n") != ingest.digest(b"<a> <b> <c> .\n<d> <e> <f> .\n")
    run = ingest.run_pipeline
    args = ["ingest.py", "--sizes", "300", "--reps", "1", "--variants", "pipeline", "--no-stages",
            "--out", str(tmp_path / "out.json")]
    monkeypatch.setattr(sys, "argv", args)
    ingest.main()  # the real pipeline stores the reference's quads
    monkeypatch.setattr(ingest, "run_pipeline", lambda *a, **k: (lambda s, _d, c: (s, 0, c))(*run(*a, **k)))
    with pytest.raises(SystemExit, match="pipeline stored other quads"):
        ingest.main()


def test_the_generic_representation_keeps_every_execution_typed() -> None:
    """The query benchmark's baseline (no PROV-ML types) maps each PROV-ML class to a generic
    one through the class closure; a change of the closure's keys once dropped every subclass,
    and the baseline's queries answered nothing."""
    import paper_workload
    import query_stores
    from pyoxigraph import NamedNode

    from provml.vocab import PROVML, RDF

    runs, _ = paper_workload.generate(1, runs_per_selection=1, epochs=1, batches=2)
    builder = query_stores.Builder()
    for run in runs:
        mine = builder.provml(run)
        executions = {q.subject for q in mine if q.predicate == RDF.type
                      and q.object in (PROVML.WorkflowExecution, PROVML.DataTransformationExecution)}
        generic = {q.subject for q in builder.generic(run) if q.predicate == RDF.type
                   and q.object in (NamedNode(query_stores.PROVLAKE + "WorkflowExecution"),
                                    NamedNode(query_stores.PROVLAKE + "DataTransformationExecution"))}
        assert executions and generic == executions


def test_the_store_floor_loads_every_quad_the_pipeline_writes(tmp_path: Path) -> None:
    """``benchmarks/store_floor.py`` bulk-loads, in pieces, the N-Quads lines the pipeline
    stores for some events; every line is a quad, and the pieces hold all of them."""
    import pyoxigraph
    import store_floor

    events, lines = store_floor.quads_of(200)
    assert events > 0 and lines and all(line.endswith(b" .\n") for line in lines)
    pieces = [b"".join(lines[i : i + 500]) for i in range(0, len(lines), 500)]
    store = pyoxigraph.Store(str(tmp_path / "check"))
    for piece in pieces:
        store.bulk_load(piece, format=pyoxigraph.RdfFormat.N_QUADS, lenient=True)
    assert len(store) == len(lines)  # (distinct quads: the dump states each once)
    del store
    wall, cpu = store_floor.load(pieces, tmp_path)
    assert wall > 0 and cpu > 0 and not (tmp_path / "store").exists()


def test_the_bulk_load_calls_benchmark_runs_both_ways() -> None:
    """``benchmarks/bulk_load_calls.py``: bulk loads alone and each after a transaction, on a
    real on-disk store (times are printed, never asserted)."""
    import bulk_load_calls

    for txn in (False, True):
        run = bulk_load_calls._calls(50, 3, txn=txn)
        assert run["sst_files"] > 0 and 0 < run["min_ms"] <= run["median_ms"] <= run["max_ms"]
