"""What evaluating on a thread without network costs the server process
(:mod:`provml.endpoint.sparql.offline`): a simple query and a one-triple update through the
endpoint's :class:`~provml.endpoint.sparql.evaluation.QueryRunner` over an in-memory store of
``--triples`` triples, on the calling thread (``offline=False``, as before the twenty-first
session and with ``--allow-remote``) and on an offline thread (``offline=True``, the default
since), alternated ``--reps`` times, ``--calls`` calls a round.

    python benchmarks/offline_threads.py [--triples 100000] [--calls 2000] [--reps 7] [--out FILE]

Reported per variant and operation: microseconds a call, median with min and max over the
rounds. Saves ``benchmarks/results/offline_threads.json``. Over HTTP a request costs ≈ 1 ms
(``benchmarks/endpoint.py``); an on-disk store's queries evaluate in worker processes, which
this does not change.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad

from provml.endpoint.sparql.evaluation import QueryRunner
from provml.store import open_store

RESULTS = Path(__file__).parent / "results" / "offline_threads.json"
EX = "http://example.org/"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--triples", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    store = open_store()
    store.add([Quad(NamedNode(f"{EX}s{i}"), NamedNode(f"{EX}p"), Literal(i))
               for i in range(args.triples)])
    query = f"SELECT ?s WHERE {{ ?s <{EX}p> 5 }}"
    runners = {"calling thread": QueryRunner(timeout_s=10, max_rows=1000),
               "offline thread": QueryRunner(timeout_s=10, max_rows=1000, offline=True)}
    times: dict[str, dict[str, list[float]]] = {name: {"query": [], "update": []}
                                                for name in runners}
    out: dict[str, Any] = {"load_before": os.getloadavg(), "triples": args.triples,
                           "calls": args.calls, "reps": args.reps}
    for rep in range(args.reps):
        for name, runner in runners.items():  # alternated: A B A B ...
            started = time.perf_counter()
            for _ in range(args.calls):
                runner.run(store, query)
            times[name]["query"].append((time.perf_counter() - started) / args.calls * 1e6)
            started = time.perf_counter()
            for i in range(args.calls):
                runner.update(store, f"INSERT DATA {{ <{EX}u{rep}-{i}> <{EX}q> {i} }}")
            times[name]["update"].append((time.perf_counter() - started) / args.calls * 1e6)
    for runner in runners.values():
        runner.close()
    out["variants"] = {name: {op: {"median_us": round(statistics.median(v), 1),
                                   "min_us": round(min(v), 1), "max_us": round(max(v), 1)}
                              for op, v in ops.items()} for name, ops in times.items()}
    out["load_after"] = os.getloadavg()
    print(json.dumps(out["variants"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
