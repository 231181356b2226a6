"""What a group's write costs the store as the store grows: Oxigraph's bulk loader against a transaction.

    .venv/bin/python benchmarks/write_growth.py [--stores 0 150000] [--group 10000] [--groups 6] [--reps 2]

The broker's writer loads each group's N-Quads with the bulk loader (from ``BULK_MIN_QUADS``
quads, 4,000 since the fifteenth session: see
``provml.store.oxigraph.OxigraphStore.load_nquads``). Each bulk load ingests one new file per
index into RocksDB's first level, and the compactions that follow merge it with what is stored:
their cost grows with the store. A transaction writes into the memtable instead (one file per
index only when it fills), but checks every quad and writes the log. Here, for each store size
(events of the benchmark workload bulk-loaded and compacted first; the groups are new learning
runs of the same shape), ``--groups`` groups of ``--group`` events are written one after another
into a copy of the store, once with ``bulk_load`` and once with ``load`` (alternating, ``--reps``
times, N-Quads parsed by the store, ``lenient`` as the writer does), and the process CPU is read
when the writes return and again once RocksDB's background threads have settled (no CPU for a
second) after a flush — the compactions the writes left behind included.

Writes ``benchmarks/results/write_growth.json``; docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pyoxigraph import RdfFormat, Store, serialize

sys.path.insert(0, str(Path(__file__).parent))
import workload  # noqa: E402

from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "write_growth.json"


def nquads(events: list[dict[str, Any]]) -> bytes:
    """The quads the pipeline makes of ``events`` (translation, enrichment, summaries), as N-Quads."""
    kg = KnowledgeGraph(OxigraphStore())
    kg.ingest_events(events)
    data = serialize(list(kg.store.quads()), format=RdfFormat.N_QUADS)
    assert data is not None
    return data


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def settle() -> None:
    """Wait until this process (RocksDB's threads) has used no CPU for a second."""
    last = cpu_s()
    while True:
        time.sleep(1.0)
        now = cpu_s()
        if now - last < 0.02:
            return
        last = now


def run(base: Path, groups: list[bytes], mode: str, events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "store"
        shutil.copytree(base, copy)
        store = Store(str(copy))
        settle()
        cpu0, wall0 = cpu_s(), time.perf_counter()
        for data in groups:
            (store.bulk_load if mode == "bulk" else store.load)(data, format=RdfFormat.N_QUADS, lenient=True)
        wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
        store.flush()
        settle()
        settled = cpu_s() - cpu0
        del store
    return {"cpu_us_per_event": 1e6 * cpu / events, "settled_cpu_us_per_event": 1e6 * settled / events,
            "wall_us_per_event": 1e6 * wall / events}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", type=int, nargs="+", default=[0, 150_000], help="events stored before the groups")
    ap.add_argument("--group", type=int, default=10_000, help="events a group")
    ap.add_argument("--groups", type=int, default=6)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    groups = [nquads([{**e, "run": f"g{k}-{e['run']}"} for e in workload.events(args.group)])
              for k in range(args.groups)]
    events = sum(1 for k in range(args.groups) for _ in workload.events(args.group))
    out: dict[str, Any] = {"load_before": os.getloadavg(), "group_events": args.group, "groups": args.groups,
                           "stores": []}
    for stored in args.stores:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "base"
            store = Store(str(base))
            quads = 0
            if stored:
                data = nquads(workload.events(stored))
                quads = data.count(b"\n")
                store.bulk_load(data, format=RdfFormat.N_QUADS, lenient=True)
                store.optimize()
            del store
            rows: dict[str, list[dict[str, float]]] = {"bulk": [], "load": []}
            for _ in range(args.reps):  # alternate bulk load bulk load …
                for mode in rows:
                    rows[mode].append(run(base, groups, mode, events))
                    r = rows[mode][-1]
                    print(f"store of {quads:,} quads, {args.groups} groups of {args.group:,} events, {mode:4}: "
                          f"{r['cpu_us_per_event']:.0f} CPU us an event when the writes return, "
                          f"{r['settled_cpu_us_per_event']:.0f} settled (wall {r['wall_us_per_event']:.0f}; "
                          f"load {os.getloadavg()[0]:.1f})", flush=True)
            summary = {mode: {key: {"median": statistics.median(r[key] for r in rs), "min": min(r[key] for r in rs),
                                    "max": max(r[key] for r in rs)} for key in rs[0]} for mode, rs in rows.items()}
            out["stores"].append({"stored_events": stored, "stored_quads": quads, "runs": rows, "summary": summary})
    out["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
