"""The store's own share of broker ingest: what writing the quads costs Oxigraph alone, with no
Python around it, and the events/s that leaves for a pipeline on a given number of cores.

    python benchmarks/store_floor.py [--size 100000] [--group 7700] [--reps 2] [--cores 2]
                                     [--broker-json FILE] [--out FILE]

The broker's writer writes each group of entries with pyoxigraph's bulk loader (N-Quads parsed
by the store), and RocksDB's compactions later merge what each load left (on threads of the
writer's process, niced, partly after a run ends: ``benchmarks/broker.py`` reports the part
left). This script measures that cost without the pipeline: the quads the pipeline writes for
``--size`` events of ``workload.py`` (learning runs), bulk-loaded into a fresh on-disk store

* **groups** — ``--group`` events' worth of N-Quads lines a load (by default ≈ 7,700, the mean
  group of the broker's steady runs on this machine), and
* **one** — all of them in one load (what the broker's writer would pay at best),

alternated; the clock and the process CPU stop once the compactions have ended (RocksDB's
threads' CPU still for 1.5 s, a wait the wall time includes; at most 600 s:
``ingest_growth.settle``). Capture and Redis cost per event come from a ``benchmarks/broker.py``
results file (``cpu_us_per_event``: ``captures``, ``redis``). With them it prints the most
events/s ``--cores`` cores could sustain if the pipeline's Python (workers, the writer's
planning) cost nothing, and how many µs an event that Python may take for a target rate.
Saves ``benchmarks/results/store_floor.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pyoxigraph  # noqa: E402
import workload  # noqa: E402
from ingest_growth import settle  # noqa: E402

from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "store_floor.json"
BROKER = Path(__file__).parent / "results" / "fifteenth" / "broker-steady-paused-1.json"


def quads_of(size: int) -> tuple[int, list[bytes]]:
    """The events' count and the N-Quads lines the pipeline stores for them (bags of 500)."""
    events = workload.events(size)
    kg = KnowledgeGraph(OxigraphStore(), validate=False)
    for i in range(0, len(events), 500):
        kg.ingest_events(events[i : i + 500])
    data = kg.store.dump(format=pyoxigraph.RdfFormat.N_QUADS)
    kg.close()
    return len(events), data.splitlines(keepends=True)


def load(loads: list[bytes], tmp: Path) -> tuple[float, float]:
    """Bulk-load each of ``loads`` in turn into a fresh store; wall and process CPU seconds, the
    compactions they caused included."""
    path = tmp / "store"
    store = pyoxigraph.Store(str(path))
    start, cpu = time.perf_counter(), time.process_time()
    for data in loads:
        store.bulk_load(data, format=pyoxigraph.RdfFormat.N_QUADS, lenient=True)
    store.flush()
    settle(quiet_s=1.5)  # (the compactions the loads caused, to their end)
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    del store
    shutil.rmtree(path)
    return wall, used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=100_000, help="events of workload.py")
    ap.add_argument("--group", type=int, default=7_700, help="events a load in the groups variant")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--target", type=float, default=10_000.0, help="events/s the Python budget is given for")
    ap.add_argument("--broker-json", type=Path, default=BROKER,
                    help="a benchmarks/broker.py results file: capture and Redis CPU an event")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.size < 1:
        ap.error("--size must be at least 1")
    try:  # read first: a wrong file fails now, not after the loads
        broker = json.loads(args.broker_json.read_text())["throughput"][0]["cpu_us_per_event"]
        others = broker["captures"] + broker["redis"]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        ap.error(f"--broker-json {args.broker_json}: not a benchmarks/broker.py throughput result ({exc!r})")

    events, lines = quads_of(args.size)
    per_load = max(1, round(len(lines) * args.group / events))
    variants = {"groups": [b"".join(lines[i : i + per_load]) for i in range(0, len(lines), per_load)],
                "one": [b"".join(lines)]}
    del lines
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.reps):  # alternated: groups one groups one
            for name, loads in variants.items():
                w, c = load(loads, Path(tmp))
                wall[name].append(w)
                cpu[name].append(c)
    out: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(), "pyoxigraph": pyoxigraph.__version__,
                           "events": events, "loads": {k: len(v) for k, v in variants.items()},
                           "load_before": load_before, "load_after": os.getloadavg(),
                           "captures_us_per_event": broker["captures"], "redis_us_per_event": broker["redis"],
                           "broker_json": str(args.broker_json), "cores": args.cores, "target": args.target}
    print(f"{events} events, {sum(len(v) for v in variants['one'])} bytes of N-Quads; captures "
          f"{broker['captures']:.0f} + Redis {broker['redis']:.0f} µs an event (from {args.broker_json.name})")
    for name in variants:
        us = [1e6 * c / events for c in cpu[name]]
        floor = statistics.median(us)
        ceiling = args.cores * 1e6 / (floor + others)
        budget = args.cores * 1e6 / args.target - floor - others
        out[name] = {"cpu_us_per_event": us, "wall_s": wall[name], "median_cpu_us_per_event": floor,
                     "ceiling_events_per_s": ceiling, "python_budget_us_per_event": budget}
        print(f"  {name:6} ({len(variants[name])} loads): store CPU {floor:.0f} µs an event ({min(us):.0f}-{max(us):.0f}), "
              f"wall {statistics.median(wall[name]):.1f} s; with captures and Redis, {args.cores} cores sustain at most "
              f"{ceiling:,.0f} events/s; at {args.target:,.0f} events/s the pipeline's Python may take {budget:.0f} µs an event")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
