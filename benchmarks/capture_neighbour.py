"""What a busy endpoint on the other core costs the training loop, with no capture at all.

Setting D's loop runs on CPU 0 while ``provml serve`` stores its events on CPU 1 (``--pin`` of
``capture_overhead.py``). The two cores share the L3 cache (and memory bandwidth): the
endpoint's work can slow the training thread although it never runs on its core. This script
separates that from the client's own cost, alternating within each repetition:

* ``none``: the uncaptured loop, the endpoint idle;
* ``busy``: the uncaptured loop while another process on CPU 1 posts setting D's requests to
  the endpoint (recorded first, as ``events_post.py`` does, each pass as another run), back to
  back: the endpoint as busy as in setting D or busier, the loop capturing nothing;
* ``D``: the loop in setting D against the same endpoint (:func:`capture_overhead.run_one`).

Per event, against ``none``: the loop's wall clock and the training thread's CPU (medians), the
endpoint's CPU while the loop ran, and for D the flusher's CPU and the events lost. Usage::

    .venv/bin/python benchmarks/capture_neighbour.py --reps 6 [--out ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import capture_overhead as co  # noqa: E402
import events_post  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "capture_neighbour.json"

#: posts the recorded bodies to the endpoint until killed, each pass as another run
FEEDER = r"""
import http.client, json, pickle, sys
port, path, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
bodies = pickle.load(open(path, "rb"))
run = json.loads(bodies[0])["events"][0]["run"].encode()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + sys.argv[4]}
n = 0
while True:
    n += 1
    for body in bodies:
        conn.request("POST", "/api/events", body.replace(run, run + b"-%b-%d" % (tag, n)), headers)
        conn.getresponse().read()
"""


def run_busy(w: co.Workload, url: str, bodies: Path, tag: str) -> dict[str, Any]:
    port = url.rsplit(":", 1)[1]
    feeder = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c", FEEDER, port,
                               str(bodies), tag, co.TOKEN])
    try:
        time.sleep(1.0)  # the endpoint at work
        s0, c0, t0 = co.server_cpu_s(), time.thread_time(), time.perf_counter()
        co.loop_none(w)
        t1, c1, s1 = time.perf_counter(), time.thread_time(), co.server_cpu_s()
    finally:
        feeder.kill()
        feeder.wait()
    return {"loop_s": t1 - t0, "main_cpu_s": c1 - c0, "server_cpu_s": s1 - s0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=134, help="134: ≈ 15,000 events a run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    load_before = os.getloadavg()
    w = co.Workload(args.epochs)
    co.loop_none(co.Workload(2))  # warm up torch
    runs: dict[str, list[dict[str, Any]]] = {"none": [], "busy": [], "D": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["PROVML_HOME"] = str(work / "home")
        bodies = work / "bodies.pickle"
        bodies.write_bytes(pickle.dumps(events_post.record(args.epochs, 0.0002)))
        names = list(runs)
        with co.endpoint(work / "store", pin=True) as url:
            for rep in range(args.reps):
                for name in names[rep % 3:] + names[: rep % 3]:
                    if name == "busy":
                        result = run_busy(w, url, bodies, f"r{rep}")
                    else:
                        s0 = co.server_cpu_s()
                        result = co.run_one(name, w, work, url, {})
                        result.setdefault("server_cpu_s", co.server_cpu_s() - s0)
                    runs[name].append(result)
                    time.sleep(0.2)
                    co.wait_until_server_idle()
                print(f"rep {rep + 1}: " + ", ".join(
                    f"{n} {runs[n][-1]['loop_s']:.2f} s" for n in names), flush=True)
    per = 1e6 / w.events

    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    summary: dict[str, Any] = {}
    for name in names:
        summary[name] = {
            "loop_s_median": round(median(name, "loop_s"), 4),
            "loop_us_per_event": round((median(name, "loop_s") - median("none", "loop_s")) * per, 2),
            "loop_paired_us_per_event": round(statistics.median(
                (r["loop_s"] - n["loop_s"]) * per
                for r, n in zip(runs[name], runs["none"], strict=True)), 2),
            "training_thread_us_per_event": round(
                (median(name, "main_cpu_s") - median("none", "main_cpu_s")) * per, 2),
            "training_thread_paired_us_per_event": round(statistics.median(
                (r["main_cpu_s"] - n["main_cpu_s"]) * per
                for r, n in zip(runs[name], runs["none"], strict=True)), 2),
            "server_cpu_s_median": round(median(name, "server_cpu_s"), 2),
        }
    summary["D"]["flusher_us_per_event"] = round(median("D", "flusher_cpu_s") * per, 2)
    summary["D"]["lost"] = max(r["lost"] for r in runs["D"])
    result = {"protocol": {"events_per_run": w.events, "reps": args.reps,
                           "endpoint": "provml serve, on-disk store, CPU 1; loop on CPU 0"},
              "loadavg_before": [round(x, 2) for x in load_before],
              "loadavg_after": [round(x, 2) for x in os.getloadavg()],
              "summary": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"load {result['loadavg_before']} -> {result['loadavg_after']}; wrote {args.out}")


if __name__ == "__main__":
    main()
