"""Broker mode throughput and latency: 8 capture processes → Redis → N workers → one writer → store.

    python benchmarks/broker.py [--workers 1 2 4] [--reps 2] [--events 2500] [--rate 5000]
                                [--latency-events 2500] [--quick]

Starts its own ``redis-server`` (127.0.0.1, a free port, a temporary directory, append-only file
on with the default ``everysec`` fsync) and, per configuration, a fresh on-disk store, the writer
(``provml ingest-worker --workers 0``) and N worker processes, all real processes. Then:

* **throughput, live** — 8 capture processes (``Client(broker=...)``, bags of 50, the real capture API:
  a learning run of epochs × batches, a loss per batch) emit ``--events`` events each as fast as
  they can; the clock runs from their start until the writer has committed every event (counted
  by the writer after its transaction: the events are queryable). Reported: overall events/s and
  the *sustained* rate, the slope of the written-events curve between 10 % and 90 % of the total
  (leaving out process start-up and the tail). Configurations alternate 1 2 4 1 2 4 …;
* **throughput, drain** — the captures fill the stream first, then the writer and the workers
  start: the ingest side's own capacity, without the capture processes sharing the cores;
* **latency** — the same 8 processes paced to ``--rate`` events/s in total; the writer records,
  per event, commit time − capture time (the event's ``t``): p50 / p99 / max. Run with the
  largest worker count of ``--workers``.

Prints a table and saves ``benchmarks/results/broker.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "broker.json"
CAPTURES = 8


# -- the capture process (this file run with --capture) ---------------------------------------------
def capture(url: str, run: str, events: int, rate: float) -> None:
    from provml import evaluation
    from provml.capture.client import Client

    batches = 50
    epochs = max(1, round((events - 4) / (2 + 2 * batches)))
    interval = 1.0 / rate if rate else 0.0
    client = Client(broker=url, bag_size=50, flush_interval_s=0.1, install_signal_handler=False)
    start = time.perf_counter()
    emitted = 0

    def pace() -> None:
        nonlocal emitted
        emitted += 2
        if interval:
            ahead = start + emitted * interval - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)

    workflow = client.workflow("bench-broker", type="learning", run_id=run, meta=False)
    with client, workflow as wf, wf.stage("train", kind="training") as stage:
        for e in range(epochs):
            with stage.cycle("epoch", iteration=e) as epoch:
                for b in range(batches):
                    with epoch.cycle("batch", iteration=b) as batch:
                        batch.generated(evaluation("loss", 1.0 / (b + 1)))
                    pace()
    print(json.dumps({"run": run, "events": client.stats().processed}), flush=True)


# -- the harness ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Redis:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="provml-bench-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--appendonly", "yes", "--save", "", "--logfile", str(self.dir / "log")],
            stdout=subprocess.DEVNULL)
        import redis

        self.client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def start_pipeline(url: str, store: Path, workers: int, latency_key: str | None) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writer_code = (
        "import threading; from provml.knowledge import open_kg; from provml.ingest.worker import Writer; "
        f"kg = open_kg({str(store)!r}); Writer({url!r}, kg, latency_key={latency_key!r}).run()"
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer_code], env=env)]
    worker_code = f"from provml.ingest.worker import _worker_process; _worker_process({url!r}, None, 30.0)"
    procs += [subprocess.Popen([sys.executable, "-c", worker_code], env=env) for _ in range(workers)]
    return procs


def wait_ready(redis: Any, workers: int, timeout_s: float = 120.0) -> None:
    from provml.ingest.worker import alive, ensure_groups

    ensure_groups(redis)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        live = alive(redis)
        if len(live["workers"]) >= workers and len(live["writers"]) >= 1:
            return
        time.sleep(0.1)
    raise RuntimeError("the workers did not start in time")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def sustained(samples: list[tuple[float, int]], total: int) -> float:
    """Events/s between the moments 10 % and 90 % of ``total`` were written (no start-up, no tail)."""
    def when(fraction: float) -> tuple[float, int]:
        return next((t, n) for t, n in samples if n >= fraction * total)

    (t0, n0), (t1, n1) = when(0.1), when(0.9)
    return (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")


def one_run(redis: Redis, workers: int, events: int, rate: float, latency: bool, *, drain: bool = False) -> dict[str, Any]:
    """One configuration on a fresh store. ``drain``: the 8 captures fill the stream first, then
    the workers start (their own capacity); else captures and workers run together."""
    import threading

    from provml.ingest.worker import WRITTEN

    redis.client.flushall()
    with tempfile.TemporaryDirectory() as tmp:
        latency_key = "provml:bench:latency" if latency else None
        procs: list[subprocess.Popen[bytes]] = []
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            import redis as redis_module

            client = redis_module.Redis.from_url(redis.url)
            while not done.is_set():
                samples.append((time.perf_counter(), int(client.get(WRITTEN) or 0)))
                time.sleep(0.05)
            client.close()

        try:
            if not drain:
                procs = start_pipeline(redis.url, Path(tmp) / "store", workers, latency_key)
                wait_ready(redis.client, workers)
            start = time.perf_counter()
            per = rate / CAPTURES if rate else 0.0
            captures = [subprocess.Popen([sys.executable, __file__, "--capture", redis.url, f"bench-{i}",
                                          str(events), str(per)], stdout=subprocess.PIPE, text=True,
                                         env={**os.environ, "OMP_NUM_THREADS": "1"})
                        for i in range(CAPTURES)]
            sampler = threading.Thread(target=sample)
            sampler.start()
            total = 0
            for c in captures:
                out, _ = c.communicate(timeout=1800)
                total += json.loads(out.strip().splitlines()[-1])["events"]
            emitted = time.perf_counter() - start
            if drain:
                procs = start_pipeline(redis.url, Path(tmp) / "store", workers, latency_key)
            while int(redis.client.get(WRITTEN) or 0) < total:
                time.sleep(0.02)
                if time.perf_counter() - start > 1800:
                    raise RuntimeError("the pipeline did not catch up")
            elapsed = time.perf_counter() - start
            done.set()
            sampler.join()
            samples.append((time.perf_counter(), int(redis.client.get(WRITTEN) or 0)))
            row: dict[str, Any] = {"workers": workers, "mode": "drain" if drain else "live", "events": total,
                                   "seconds": elapsed, "emit_seconds": emitted, "events_per_s": total / elapsed,
                                   "sustained_events_per_s": sustained(samples, total)}
            if latency_key:
                values = sorted(float(x) for x in redis.client.lrange(latency_key, 0, -1))
                row["latency_s"] = {"p50": values[len(values) // 2], "p99": values[int(len(values) * 0.99)],
                                    "max": values[-1], "n": len(values)}
                row["rate_target"] = rate
                row["rate_emitted"] = total / emitted
            return row
        finally:
            done.set()
            stop(procs)


def capacities(redis: Redis, events: int) -> dict[str, float]:
    """Events/s of one worker alone and of the writer alone, each in this process, on a filled stream."""
    sys.path.insert(0, str(Path(__file__).parent))
    import workload

    from provml.capture.broker import RedisSink
    from provml.ingest.worker import Worker, Writer
    from provml.knowledge import open_kg

    redis.client.flushall()
    data = workload.events(events)
    sink = RedisSink(redis.url)
    for i in range(0, len(data), 50):
        sink.send([json.dumps(e) for e in data[i : i + 50]])
    sink.close()
    worker = Worker(redis.url, block_s=0.05, batch=8)
    worker.step()  # warm: shapes, closure
    start = time.perf_counter()
    while worker.step():
        pass
    worker_s = time.perf_counter() - start
    worked = worker.processed * 50 - 8 * 50
    worker.close()
    with tempfile.TemporaryDirectory() as tmp:
        kg = open_kg(Path(tmp) / "store")
        writer = Writer(redis.url, kg, block_s=0.05)
        start = time.perf_counter()
        while writer.step():
            pass
        writer_s = time.perf_counter() - start
        written = writer.events
        writer.close()
        kg.close()
    return {"worker_events_per_s": worked / worker_s, "writer_events_per_s": written / writer_s}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--capture":
        capture(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--events", type=int, default=2500, help="events per capture process (8 of them)")
    ap.add_argument("--rate", type=float, default=5000.0, help="total events/s of the latency run")
    ap.add_argument("--latency-events", type=int, default=2500)
    ap.add_argument("--latency-workers", type=int, default=1)
    ap.add_argument("--low-rate", type=float, default=500.0, help="a second latency run at this rate")
    ap.add_argument("--quick", action="store_true", help="500 events per process, 1 repetition")
    args = ap.parse_args()
    if args.quick:
        args.events, args.reps, args.latency_events = 500, 1, 500
    out: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(),
                           "load_before": os.getloadavg(), "captures": CAPTURES, "throughput": [], "latency": []}
    redis = Redis()
    try:
        for rep in range(args.reps):  # alternate 1 2 4 1 2 4, live and drained
            for drain in (False, True):
                for workers in args.workers:
                    row = one_run(redis, workers, args.events, 0.0, False, drain=drain)
                    row["rep"] = rep
                    out["throughput"].append(row)
                    print(f"{row['mode']:5} workers={workers}  {row['events']} events in {row['seconds']:.2f} s "
                          f"= {row['events_per_s']:,.0f} events/s overall, {row['sustained_events_per_s']:,.0f} "
                          f"sustained (captures emitted in {row['emit_seconds']:.2f} s)", flush=True)
        out["capacity"] = capacities(redis, 10_000)
        print(f"capacity    one worker {out['capacity']['worker_events_per_s']:,.0f} events/s, the writer "
              f"{out['capacity']['writer_events_per_s']:,.0f} events/s (each alone, bags of 50)", flush=True)
        workers = args.latency_workers
        for rate in (args.rate, args.low_rate):
            row = one_run(redis, workers, args.latency_events, rate, True)
            out["latency"].append(row)
            lat = row["latency_s"]
            print(f"latency     workers={workers}  target {rate:,.0f} ev/s, emitted {row['rate_emitted']:,.0f} ev/s: "
                  f"p50 {lat['p50']:.2f} s  p99 {lat['p99']:.2f} s  max {lat['max']:.2f} s ({lat['n']} events)",
                  flush=True)
    finally:
        redis.close()
    out["load_after"] = os.getloadavg()
    summary: dict[str, Any] = {}
    for mode in ("live", "drain"):
        for workers in args.workers:
            rates = [r["sustained_events_per_s"] for r in out["throughput"]
                     if r["workers"] == workers and r["mode"] == mode]
            summary[f"{mode}-{workers}"] = {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}
    out["summary"] = summary
    for key, s in summary.items():
        print(f"{key}: sustained median {s['median']:,.0f} events/s (min {s['min']:,.0f}, max {s['max']:,.0f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
