"""Setting F timed from inside the training loop: an older commit of the capture against this
working tree, in alternating processes (A B A B …).

Each process runs :func:`capture_overhead.attribution` (the digits MLP, one thread, capture
calls timed around every batch and epoch, the flusher thread's CPU, the calls made once per
run) and :func:`capture_overhead.per_call_cost`; ``A`` imports ``provml`` from
``git archive <base> kg`` in a temporary directory, ``B`` from this working tree. Medians and
min–max per side, and the load average, are printed and saved. Usage::

    .venv/bin/python benchmarks/capture_ab.py --base 30e5e74 --pairs 5
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "capture_ab.json"
FIELDS = ("calls_us_per_batch", "calls_us_per_epoch", "other_threads_cpu_us_per_event",
          "library_us_per_event", "caller_cpu_us")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the commit to compare against (A); required")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=53, help="53: 2,968 batches a pass")
    parser.add_argument("--passes", type=int, default=2, help="attribution passes a process")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.epochs, args.passes)
        return
    if not args.base:
        parser.error("--base is required")
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", args.base, "kg"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        (Path(tmp) / "kg").rename(Path(tmp) / "provml")
        cmd = [sys.executable, __file__, "--child", "--epochs", str(args.epochs),
               "--passes", str(args.passes)]
        for _ in range(args.pairs):
            for side in ("A", "B"):
                env = dict(os.environ)
                if side == "A":
                    env["PYTHONPATH"] = tmp  # ahead of the editable install
                out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                run = json.loads(out.stdout.strip().splitlines()[-1])
                runs[side].append(run)
                print(side, {k: run[k] for k in FIELDS}, f"load {run['load']:.1f}", flush=True)
    summary = {side: {k: {"median": round(statistics.median(r[k] for r in rs), 3),
                          "min": min(r[k] for r in rs), "max": max(r[k] for r in rs)}
                      for k in FIELDS} for side, rs in runs.items()}
    summary["load"] = [min(r["load"] for rs in runs.values() for r in rs),
                       max(r["load"] for rs in runs.values() for r in rs)]
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"base": args.base, "summary": summary, "runs": runs},
                                   indent=1))


if __name__ == "__main__":
    main()
