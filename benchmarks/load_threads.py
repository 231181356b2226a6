"""Where the CPU of ``provml load``'s path goes, thread by thread, for each largest group size.

    .venv/bin/python benchmarks/load_threads.py [--events 300000] [--most 10000 50000] [--reps 2]
                                                [--out FILE]

Each repetition, for each ``--most`` in turn (alternated A B A B …): the workload's events
(``workload.py``) in bags of 500 through ``provml.ingest.loader.ingest_bags`` (groups of 10,000
events at first, then half the events sent so far, up to ``--most``: ``provml load
--together-max``) into a fresh on-disk store. Every thread's CPU is read from Linux ``/proc``
every 0.2 s (a thread that ends between two reads loses what it used since the last), and
summed by role: the write's thread (``provml-load``: stage links, enrichment, the shapes check,
the planning of late links and summaries), the caller's (reading and translating the next
group), the thread that hands the store its N-Quads (``provml-writer-load``), RocksDB's compactions (``rocksdb:low``) and flushes (``rocksdb:high``), and the
unnamed native threads (the bulk loader's), and what is left of the process CPU: threads that
ended between two reads (mostly the bulk loader's: so its figure is a lower bound). Also the
wall time, the process CPU and the peak resident memory of the process (which holds the events
too; a fresh process each load).

Prints a table and saves ``benchmarks/results/load_threads.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "load_threads.json"


def one(events: int, most: int) -> dict[str, Any]:
    """One load in this process (run as a child: a fresh process per load, for its peak memory)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import workload
    from ingest_growth import threads_cpu

    from provml.ingest.loader import ingest_bags
    from provml.knowledge import KnowledgeGraph
    from provml.store.oxigraph import OxigraphStore

    evs = workload.events(events)
    bags = [(str(i), evs[i : i + 500]) for i in range(0, len(evs), 500)]
    tmp = Path(tempfile.mkdtemp(prefix="provml-load-threads-"))
    kg = KnowledgeGraph(OxigraphStore(tmp / "store"))
    kg.closure()  # computed once per process, not part of ingest
    seen: dict[int, tuple[str, float]] = {}
    stop = threading.Event()

    def sample() -> None:
        names = {t.native_id: t.name for t in threading.enumerate() if t.native_id}
        for tid, (name, seconds) in threads_cpu().items():
            seen[tid] = (names.get(tid, name), seconds)  # (Python's threads are all "python" there)

    def sampler() -> None:
        while not stop.wait(0.2):
            sample()

    watcher = threading.Thread(target=sampler, name="sampler", daemon=True)
    watcher.start()
    sample()  # (what the threads used before the load: taken off below)
    before = {tid: seconds for tid, (_name, seconds) in seen.items()}
    start, cpu = time.perf_counter(), time.process_time()
    for _source, _bag, outcome in ingest_bags(kg, bags, together_max=most):
        assert not isinstance(outcome, Exception), outcome
    kg.store.flush()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    stop.set()
    watcher.join()
    sample()
    unnamed = Path("/proc/self/comm").read_text().strip()  # what a native thread without a name shows
    roles: dict[str, float] = {}
    for tid, (name, seconds) in seen.items():
        seconds -= before.get(tid, 0.0)
        role = ("caller" if tid == os.getpid() else "write" if name.startswith("provml-load") else
                "sampler" if name == "sampler" else name if name.startswith(("rocksdb", "provml-")) else
                "native (bulk loader)" if name == unnamed else "other")
        roles[role] = roles.get(role, 0.0) + seconds
    # what threads used after the last read before they ended (the bulk loader's, one or two a
    # write, live a fraction of a second: the smaller the groups, the more of theirs is here)
    roles["ended between reads"] = max(0.0, cpu - sum(roles.values()))
    kg.close()
    shutil.rmtree(tmp)
    return {"most": most, "wall_s": wall, "cpu_s": cpu, "threads_cpu_s": roles,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--most", type=int, nargs="+", default=[10_000, 50_000],
                    help="largest group sizes to compare (provml load --together-max)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)  # (the child's run)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    out: dict[str, Any] = {"events": args.events, "load_before": os.getloadavg(), "runs": []}
    for _ in range(args.reps):
        for most in args.most:
            proc = subprocess.run([sys.executable, __file__, "--one", str(args.events), str(most)],
                                  check=True, capture_output=True, text=True)
            run = json.loads(proc.stdout.splitlines()[-1])
            out["runs"].append(run)
            roles = ", ".join(f"{k} {v:.1f}" for k, v in sorted(run["threads_cpu_s"].items(), key=lambda kv: -kv[1]))
            print(f"most {most:>7}: wall {run['wall_s']:.2f} s, CPU {run['cpu_s']:.1f} s ({roles}), "
                  f"peak {run['maxrss_mb']:.0f} MB", flush=True)
    out["load_after"] = os.getloadavg()
    med = statistics.median
    out["summary"] = {str(most): {"wall_s": med(r["wall_s"] for r in out["runs"] if r["most"] == most),
                                  "cpu_s": med(r["cpu_s"] for r in out["runs"] if r["most"] == most)}
                      for most in args.most}
    for most, s in out["summary"].items():
        print(f"most {most:>7}: median wall {s['wall_s']:.2f} s, median process CPU {s['cpu_s']:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
