"""Ingest of values with names never seen before: an older commit against this working tree.

One event holding ``N`` used values, each with a new name (a wide ``workflow_begin``: what a run
with many hyperparameters, or a hostile client, sends), ingested by ``KnowledgeGraph.ingest_events``
into a fresh on-disk store after one warm-up event; each such value also makes a new
prospective attribute. Each side in its own process, alternating A B A B … (``A`` imports the
package of ``--base`` from ``git archive``; see ``abtree.py``); the milliseconds a value, medians
with min–max, saved as JSON::

    .venv/bin/python benchmarks/new_names.py --base 3abfa9f --sizes 300 1000 5000 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from abtree import base_tree

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "new_names.json"


def child(size: int) -> None:
    from provml.knowledge import open_kg

    with tempfile.TemporaryDirectory() as tmp:
        kg = open_kg(Path(tmp) / "store")
        kg.ingest_events([{"v": 1, "kind": "workflow_begin", "t": 1764912000.0, "run": "warm-up",
                           "workflow": "wf", "used": [{"name": "q", "value": 1}]}])
        event = {"v": 1, "kind": "workflow_begin", "t": 1764912000.0, "run": "wide", "workflow": "wf",
                 "used": [{"name": f"p{i}", "value": i} for i in range(size)]}
        start = time.perf_counter()
        result = kg.ingest_events([event])
        wall = time.perf_counter() - start
        print(json.dumps({"ms_per_value": wall / size * 1e3, "wall_s": wall, "triples": result.triples,
                          "load": os.getloadavg()[0]}))
        kg.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the commit to compare against (A); required")
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 5000])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not args.base:
        parser.error("--base is required")
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = str(base_tree(args.base, Path(tmp)))
        for size in args.sizes:
            by_side: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
            for pair in range(args.pairs):
                for side in ("A", "B") if pair % 2 == 0 else ("B", "A"):
                    env = dict(os.environ, **({"PYTHONPATH": base} if side == "A" else {}))
                    out = subprocess.run([sys.executable, __file__, "--child", str(size)], env=env,
                                         check=True, capture_output=True, text=True)
                    run = json.loads(out.stdout.strip().splitlines()[-1])
                    by_side[side].append(run)
                    print(f"{size} values {side}: {run['ms_per_value']:.3f} ms a value "
                          f"({run['wall_s']:.2f} s), load {run['load']:.1f}", flush=True)
            runs[str(size)] = by_side
    summary = {size: {side: {"median": round(statistics.median(r["ms_per_value"] for r in rs), 3),
                             "min": round(min(r["ms_per_value"] for r in rs), 3),
                             "max": round(max(r["ms_per_value"] for r in rs), 3)}
                      for side, rs in by_side.items()} for size, by_side in runs.items()}
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    base_commit = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=HERE, check=True,
                                 capture_output=True, text=True).stdout.strip()
    args.out.write_text(json.dumps({"base": base_commit, "unit": "ms a value", "summary": summary,
                                    "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
