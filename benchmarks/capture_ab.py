"""Setting F timed from inside the training loop: an older commit of the capture against this
working tree, in alternating processes (A B A B …).

Each process runs :func:`capture_overhead.attribution` (the digits MLP, one thread, capture
calls timed around every batch and epoch, the flusher thread's CPU, the calls made once per
run) and :func:`capture_overhead.per_call_cost`; ``A`` imports ``provml`` from
``git archive <base> kg`` in a temporary directory, ``B`` from this working tree. Medians and
min–max per side, and the load average, are printed and saved. Usage::

    .venv/bin/python benchmarks/capture_ab.py --base 30e5e74 --pairs 5

``--setting D`` compares setting D instead (bags of 50, no spool, online): each process starts
an endpoint (``provml serve`` on a fresh store, or with ``--server null`` the do-nothing HTTP
server; this working tree's code either way) pinned to CPU 1, pins itself to CPU 0, and runs
the uncaptured loop and the loop in setting D ``--reps`` times each, alternating
(:func:`capture_overhead.run_one`); per event: the loop's wall clock, the process's CPU, the
training thread's and the flusher thread's CPU (medians of D less the median of the
uncaptured loop), the endpoint's CPU while the loop ran, and the events lost::

    .venv/bin/python benchmarks/capture_ab.py --setting D --base 0846c5c --pairs 3 --reps 2
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from abtree import base_tree  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "capture_ab.json"
FIELDS = ("calls_us_per_batch", "calls_us_per_epoch", "other_threads_cpu_us_per_event",
          "library_us_per_event", "caller_cpu_us")
D_FIELDS = ("loop_us_per_event", "loop_paired_us_per_event", "cpu_us_per_event",
            "training_thread_us_per_event", "flusher_us_per_event", "server_cpu_us_per_event",
            "lost")


def child(epochs: int, passes: int) -> None:
    sys.path.insert(0, str(HERE))
    import capture_overhead as co  # the benchmark's own functions, whichever provml is found

    w = co.Workload(epochs)
    co.loop_none(co.Workload(2))  # warm up torch
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROVML_HOME"] = str(Path(tmp) / "home")
        inside = co.attribution(w, Path(tmp), passes)["F"]
    calls = co.per_call_cost(50_000, 3)
    print(json.dumps({**inside, **calls, "load": os.getloadavg()[0],
                      "batches": w.batches * w.epochs, "events": w.events}))


def child_d(epochs: int, reps: int, server: str) -> None:
    """Setting D against the uncaptured loop in this process (see the module's text)."""
    sys.path.insert(0, str(HERE))
    import capture_overhead as co

    import provml

    os.sched_setaffinity(0, {0})
    w = co.Workload(epochs)
    co.loop_none(co.Workload(2))  # warm up torch
    runs: dict[str, list[dict[str, Any]]] = {"none": [], "D": []}
    path = os.environ.pop("PYTHONPATH", None)  # the endpoint runs this tree's code
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["PROVML_HOME"] = str(work / "home")
        with co.endpoint(work / "store", pin=True, server=server) as url:
            if path is not None:
                os.environ["PYTHONPATH"] = path
            for rep in range(reps):
                for name in ("none", "D") if rep % 2 == 0 else ("D", "none"):
                    runs[name].append(co.run_one(name, w, work, url, {}))
                    time.sleep(0.2)
                    co.wait_until_server_idle()

    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    per = 1e6 / w.events
    print(json.dumps({
        "loop_us_per_event": (median("D", "loop_s") - median("none", "loop_s")) * per,
        "loop_paired_us_per_event": statistics.median(
            (d["loop_s"] - n["loop_s"]) * per for d, n in zip(runs["D"], runs["none"], strict=True)),
        "cpu_us_per_event": (median("D", "cpu_s") - median("none", "cpu_s")) * per,
        "training_thread_us_per_event": (median("D", "main_cpu_s")
                                         - median("none", "main_cpu_s")) * per,
        "flusher_us_per_event": median("D", "flusher_cpu_s") * per,
        "server_cpu_us_per_event": median("D", "server_cpu_s") * per,
        "lost": max(r["lost"] for r in runs["D"]),
        "load": os.getloadavg()[0], "events": w.events, "provml": provml.__file__,
        "runs": runs}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the commit to compare against (A); required")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=53, help="53: 2,968 batches a pass")
    parser.add_argument("--passes", type=int, default=2, help="attribution passes a process")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--setting", choices=("F", "D"), default="F",
                        help="F: inside timing (default); D: against an endpoint (see above)")
    parser.add_argument("--reps", type=int, default=2, help="D: runs of each a process")
    parser.add_argument("--server", choices=("provml", "null"), default="provml",
                        help="D: the endpoint (provml serve) or a do-nothing HTTP server")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.setting == "D":
            child_d(args.epochs, args.reps, args.server)
        else:
            child(args.epochs, args.passes)
        return
    fields = D_FIELDS if args.setting == "D" else FIELDS
    if args.setting == "D" and args.epochs == 53:
        args.epochs = 134  # the ~15,000 events of capture_overhead.py's runs
    if not args.base:
        parser.error("--base is required")
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = str(base_tree(args.base, Path(tmp)))
        cmd = [sys.executable, __file__, "--child", "--epochs", str(args.epochs),
               "--passes", str(args.passes), "--setting", args.setting, "--reps", str(args.reps),
               "--server", args.server]
        for pair in range(args.pairs):
            for side in ("A", "B") if pair % 2 == 0 else ("B", "A"):
                env = dict(os.environ)
                if side == "A":
                    env["PYTHONPATH"] = base  # ahead of the editable install
                out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                run = json.loads(out.stdout.strip().splitlines()[-1])
                runs[side].append(run)
                print(side, {k: round(run[k], 3) for k in fields}, f"load {run['load']:.1f}",
                      flush=True)
    summary: dict[str, Any] = {
        side: {k: {"median": round(statistics.median(r[k] for r in rs), 3),
                   "min": min(r[k] for r in rs), "max": max(r[k] for r in rs)}
               for k in fields} for side, rs in runs.items()}
    summary["B_lower"] = {k: sum(b[k] < a[k] for a, b in zip(runs["A"], runs["B"], strict=True))
                          for k in fields}
    summary["load"] = [min(r["load"] for rs in runs.values() for r in rs),
                       max(r["load"] for rs in runs.values() for r in rs)]
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"base": args.base, "setting": args.setting,
                                    "server": args.server, "summary": summary, "runs": runs},
                                   indent=1))


if __name__ == "__main__":
    main()
