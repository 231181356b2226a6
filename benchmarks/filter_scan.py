"""The ingest filters' scan on a large store: what a writer that opens one pays, with the scan on a
thread of its own beside the batches (the code) and on the spot, before a batch.

    python benchmarks/filter_scan.py [--events 100000] [--copies 9] [--new 40000] [--guess 1e-10]
                                     [--out FILE]

Builds a store of ``--copies`` copies of the ingest benchmark's quads for ``--events`` events
(``workload.py``; each copy under other IRIs, bulk-loaded: 10.3 million quads by default), then,
per variant on a fresh copy of it, opens a ``KnowledgeGraph`` (a new writer: nothing kept, no
filters) and ingests ``--new`` events of new runs in bags of 500, timing each bag. The writer
scans the store once the reads the filters would have skipped have cost the guessed price of
the scan (``provml.ingest.node_filters._SCAN_S_A_BYTE`` a byte of table files); ``--guess`` lowers
it so that the scan comes within the run (the code's guess waits for ≈ 230 bags at this size).
Reported per variant: the bag from which the filters are used, the scan's seconds, the median
and the longest bag (the stall), the whole. Saves ``benchmarks/results/filter_scan.json``.

* **thread** — the code: a scan expected to take more than ``_WAIT_S`` runs on a thread of its
  own, its filters taken at the first bag after it ended;
* **spot** — ``_WAIT_S`` set out of reach: the scan runs before the bag that found it due.
"""

from __future__ import annotations

import argparse
import json
import os
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

import provml.ingest.node_filters as node_filters  # noqa: E402
from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "filter_scan.json"
BAG = 500


def build(path: Path, events: int, copies: int) -> int:
    """The large store: ``copies`` copies of the quads of ``events`` events, under other IRIs."""
    kg = KnowledgeGraph(OxigraphStore())
    evs = workload.events(events)
    for i in range(0, len(evs), BAG):
        kg.ingest_events(evs[i:i + BAG])
    data = kg.store.dump(format=pyoxigraph.RdfFormat.N_QUADS)
    kg.close()
    store = OxigraphStore(path)
    for k in range(copies):
        copy = data.replace(b"https://w3id.org/provml/id/", f"https://w3id.org/provml/id/c{k}/".encode())
        store.raw.bulk_load(copy, format=pyoxigraph.RdfFormat.N_QUADS)
    store.flush()
    n = len(store)
    store.close()
    return n


def run(path: Path, new: list[dict[str, Any]], wait_s: float) -> dict[str, Any]:
    node_filters._WAIT_S = wait_s
    kg = KnowledgeGraph(OxigraphStore(path))
    kg.closure()
    bags: list[float] = []
    first: int | None = None
    for i in range(0, len(new), BAG):
        start = time.perf_counter()
        kg.ingest_events(new[i:i + BAG])
        bags.append(time.perf_counter() - start)
        reads = kg._reads
        if first is None and reads is not None and reads.nodes.stored is not None:
            first = len(bags)
    reads = kg._reads
    kg.close()
    return {"bag_s": bags, "filters_from_bag": first, "scan_s": reads.nodes.price if reads else None,
            "skipped": reads.nodes.skipped if reads else 0, "median_bag_s": statistics.median(bags),
            "longest_bag_s": max(bags), "total_s": sum(bags)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000, help="events of one copy")
    ap.add_argument("--copies", type=int, default=9)
    ap.add_argument("--new", type=int, default=40_000, help="events ingested into the large store")
    ap.add_argument("--guess", type=float, default=1e-10, help="the scan's guessed seconds a byte of table files")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    new = [{**e, "run": "fresh-" + e["run"]} if "run" in e else e for e in workload.events(args.new)]
    out: dict[str, Any] = {"load_before": os.getloadavg(), "events": args.events, "copies": args.copies,
                           "new": len(new), "guess_s_a_byte": args.guess, "variants": {}}
    node_filters._SCAN_S_A_BYTE = args.guess
    wait_s = node_filters._WAIT_S
    with tempfile.TemporaryDirectory() as tmp:
        large = Path(tmp) / "large"
        out["quads"] = build(large, args.events, args.copies)
        out["table_bytes"] = sum(f.stat().st_size for f in large.glob("*.sst"))
        print(f"{out['quads']:,} quads, {out['table_bytes'] / 1e9:.2f} GB of table files", flush=True)
        for name, wait in (("thread", wait_s), ("spot", float("inf"))):
            copy = Path(tmp) / name
            shutil.copytree(large, copy)
            result = out["variants"][name] = run(copy, new, wait)
            shutil.rmtree(copy)
            print(f"{name:>6}: filters from bag {result['filters_from_bag']}, scan {result['scan_s']} s, "
                  f"bags median {result['median_bag_s']:.3f} s, longest {result['longest_bag_s']:.2f} s, "
                  f"all {result['total_s']:.1f} s", flush=True)
    out["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
