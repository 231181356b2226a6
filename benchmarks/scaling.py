"""Weak scaling of capture (paper §6.3): 1, 2, 4, 8 workflows in parallel processes.

Each process trains the digits MLP of ``capture_overhead.py`` (one torch thread), alternating
runs without capture and with capture to a spool (setting F: bag 50, diskful, offline) in one
shared spool directory. The spools are then loaded with the library's loader
(``provml.ingest.loader.load_paths`` into one on-disk store, what ``provml load`` does), and the events and
executions found are counted against those emitted: nothing may be lost.

Reports per x: the per-workflow loop time without and with capture (medians over processes of
their medians), the per-workflow overhead, and events emitted / spooled / stored and
executions expected / found.

    .venv/bin/python benchmarks/scaling.py            # x = 1, 2, 4, 8
    .venv/bin/python benchmarks/scaling.py --quick
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "scaling.json"


def worker(spool: Path, epochs: int, reps: int, out: Path, start_at: float) -> None:
    """One workflow process: alternate no-capture and capture runs; write timings to ``out``."""
    sys.path.insert(0, str(HERE))
    import capture_overhead as co

    import provml

    w = co.Workload(epochs)
    co.loop_none(co.Workload(1))  # warm up
    while time.time() < start_at:  # start together
        time.sleep(0.005)
    none, captured, processed, spooled = [], [], 0, 0
    for _ in range(reps):
        t0 = time.perf_counter()
        co.loop_none(w)
        none.append(time.perf_counter() - t0)
        client = provml.Client.setting("F", spool_dir=spool, install_signal_handler=False)
        t0 = time.perf_counter()
        co.loop_provml(w, client)
        captured.append(time.perf_counter() - t0)
        client.close(timeout_s=None)
        processed += client.stats().processed
        spooled += client.stats().spooled
    out.write_text(json.dumps({"none": none, "captured": captured, "expected": reps * w.events,
                               "processed": processed, "spooled": spooled,
                               "executions": reps * (2 + epochs * (1 + w.batches))}))


def count(kg: Any, query: str) -> int:
    return int(next(iter(kg.query(query)))["n"].value)


def measure(x: int, epochs: int, reps: int, work: Path) -> dict[str, Any]:
    spool = work / f"spool-{x}"
    outs = [work / f"worker-{x}-{i}.json" for i in range(x)]
    start_at = time.time() + 8.0  # after every process has imported torch
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(spool), str(epochs),
                               str(reps), str(out), str(start_at)]) for out in outs]
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"a worker failed with exit code {proc.returncode}")
    results = [json.loads(out.read_text()) for out in outs]
    from provml.capture.spool import read_events, spool_files
    from provml.ingest.loader import load_paths
    from provml.knowledge import open_kg
    from provml.vocab import PROV, PROVML

    in_spools = sum(1 for f in spool_files(spool) for _ in read_events(f))
    kg = open_kg(work / f"store-{x}")
    t0 = time.perf_counter()
    summary = load_paths(kg, [spool], batch_size=500)
    loaded = summary.events
    load_s = time.perf_counter() - t0
    runs = count(kg, f"SELECT (COUNT(DISTINCT ?r) AS ?n) WHERE {{ ?r a {PROVML.LearningProcessExecution} }}")
    executions = count(kg, f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e {PROV.endedAtTime} ?t }}")
    kg.close()
    per_none = [statistics.median(r["none"]) for r in results]
    per_cap = [statistics.median(r["captured"]) for r in results]
    overheads = [100 * (c / n - 1) for c, n in zip(per_cap, per_none, strict=True)]
    expected = sum(r["expected"] for r in results)
    expected_exec = sum(r["executions"] for r in results)
    return {
        "workflows": x,
        "loop_s_none_median": round(statistics.median(per_none), 4),
        "loop_s_captured_median": round(statistics.median(per_cap), 4),
        "overhead_pct_median": round(statistics.median(overheads), 2),
        "overhead_pct_min": round(min(overheads), 2),
        "overhead_pct_max": round(max(overheads), 2),
        "events_emitted": expected,
        "events_processed": sum(r["processed"] for r in results),
        "events_in_spools": in_spools,
        "events_loaded": loaded,
        "runs_found": runs,
        "runs_expected": x * reps,
        "executions_expected": expected_exec,
        "executions_found": executions,
        "events_lost": expected - in_spools,
        "executions_lost": expected_exec - executions,
        "batches_rejected": len(summary.rejected),
        "load_s": round(load_s, 2),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        spool, epochs, reps, out, start_at = sys.argv[2:7]
        worker(Path(spool), int(epochs), int(reps), Path(out), float(start_at))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="x = 1, 2, 4; shorter runs")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 9)")
    parser.add_argument("--reps", type=int, default=None, help="runs per process (default 2)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    xs = [1, 2, 4] if args.quick else [1, 2, 4, 8]
    epochs = args.epochs or (3 if args.quick else 9)
    reps = args.reps or 2
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for x in xs:
            row = measure(x, epochs, reps, Path(tmp))
            rows.append(row)
            print(json.dumps(row))
    result = {
        "protocol": {
            "workload": "capture_overhead.py's digits MLP, 1 torch thread per process",
            "setting": "F (bag 50, diskful, offline) into one shared spool directory",
            "epochs_per_run": epochs, "runs_per_process": reps,
            "loader": "provml.ingest.loader.load_paths (provml load) into one on-disk store, batches of "
                      "500 (SHACL-validated)",
            "overhead": "per process: median captured loop / median uncaptured loop - 1 "
                        "(alternating); reported: median (min-max) over processes",
        },
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in os.getloadavg()]},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
