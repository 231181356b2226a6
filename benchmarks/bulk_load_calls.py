"""What one call of pyoxigraph's bulk loader costs on disk, whatever it loads, and what a small
transaction between two such calls adds: why a bag of 500 events ingested alone stays far from a
raw bulk load of the same quads.

    .venv/bin/python benchmarks/bulk_load_calls.py [--calls 40] [--reps 3] [--out FILE]

Each repetition, on fresh on-disk stores (pyoxigraph alone, no provml code in the clock):

* **sizes**: ``--calls`` bulk loads of N synthetic quads each (N = 10, 100, 1,000, 5,700: the
  last is a bag of 500 events of the pipeline), median milliseconds a call. What does not
  shrink with N is the call's own cost (the files it writes for each index, their syncs, their
  ingestion by RocksDB).
* **between**: ``--calls`` bulk loads of 5,700 quads, alone (``loads``) and each preceded by a
  one-quad transaction (``txn``: what in-process ingest writes after a batch: its links and
  summaries), alternated; median ms a load, and the ``.sst`` files the store holds at the end.
  A load whose keys overlap the memtable makes RocksDB flush the memtable first, inside the
  load, leaving small files that the compactions must merge.

Writes ``benchmarks/results/bulk_load_calls.json``; docs/benchmarks.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat

RESULTS = Path(__file__).parent / "results" / "bulk_load_calls.json"
SIZES = (10, 100, 1_000, 5_700)


def _data(n: int, offset: int) -> bytes:
    return b"".join(b'<https://example.org/s%d> <https://example.org/p> "%d" <https://example.org/g> .\n'
                    % (offset + i, i) for i in range(n))


def _calls(n: int, calls: int, *, txn: bool) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="provml-bulk-calls-"))
    try:
        store = pyoxigraph.Store(str(directory / "store"))
        times = []
        for k in range(calls):
            if txn:
                store.extend([Quad(NamedNode(f"https://example.org/summary{k}"), NamedNode("https://example.org/v"),
                                   Literal(str(k)), NamedNode("https://example.org/g"))])
            data = _data(n, k * n)
            started = time.perf_counter()
            store.bulk_load(data, format=RdfFormat.N_QUADS, lenient=True)
            times.append(time.perf_counter() - started)
        files = sum(1 for f in os.listdir(directory / "store") if f.endswith(".sst"))
        del store
        return {"median_ms": round(statistics.median(times) * 1e3, 2), "min_ms": round(min(times) * 1e3, 2),
                "max_ms": round(max(times) * 1e3, 2), "sst_files": files}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {f"size-{n}": [] for n in SIZES} | {"loads": [], "txn": []}
    for rep in range(args.reps):
        for n in SIZES:
            runs[f"size-{n}"].append(_calls(n, args.calls, txn=False))
        for name in ("loads", "txn") if rep % 2 == 0 else ("txn", "loads"):
            runs[name].append(_calls(5_700, args.calls, txn=name == "txn"))
        print(f"rep {rep + 1}: " + ", ".join(f"{k} {v[-1]['median_ms']} ms" for k, v in runs.items()), flush=True)
    summary = {name: {"median_ms": statistics.median(r["median_ms"] for r in rs),
                      "range_ms": [min(r["median_ms"] for r in rs), max(r["median_ms"] for r in rs)],
                      "sst_files": [r["sst_files"] for r in rs]} for name, rs in runs.items()}
    result = {"calls": args.calls, "reps": args.reps, "pyoxigraph": pyoxigraph.__version__,
              "loadavg_before": [round(x, 2) for x in load_before],
              "loadavg_after": [round(x, 2) for x in os.getloadavg()], "summary": summary, "runs": runs}
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
