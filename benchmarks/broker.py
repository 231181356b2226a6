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
* **throughput, steady** (``--modes steady``) — the 8 processes paced to ``--steady-rate`` events/s
  in total, above what the pipeline keeps up with, for ``--events`` each: the written rate
  from 20 % of the emission's seconds to its end, when captures, workers and writer all run
  and the store grows — the rate the pipeline sustains, not a burst drained from a filled
  stream (the writer counts a group once written: take an emission of many groups, 30 s or
  more) — and the backlog (captured, not yet written) when the emission ends;
* **latency** — the same 8 processes paced to ``--rate`` events/s in total; the writer records,
  per event, commit time − capture time (the event's ``t``): p50 / p99 / max. Run with the
  largest worker count of ``--workers``.

Every run records the process CPU of each part (µs an event: the writer, the workers, Redis;
live and steady also the captures) and, of the writer's, the part its RocksDB threads used
(``rocksdb:low``: compactions, ``rocksdb:high``: flushes; Linux ``/proc``). A drain run counts
from when its processes are ready (the workers' event schema compiled), over the events not yet
written then (``cpu_events``).

Prints a table and saves ``benchmarks/results/broker.json`` (or ``--out``); ``--throughput-only``
leaves out the capacities and the latency runs; ``--capacity-only`` runs only the capacities (one
worker alone, then the writer alone with its process CPU, on a filled stream), ``--reps`` times.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "broker.json"
CAPTURES = 8


# -- the capture process (this file run with --capture) ---------------------------------------------
def capture(url: str, run: str, events: int, rate: float) -> None:
    """One capture process: imports, connects, says ``ready`` and waits for ``go`` on stdin (so
    that Python's start-up, ≈ 0.3 s of CPU a process, stays out of every timed window: a training
    process starts once and captures for hours), then emits; prints its clock readings."""
    from provml import evaluation
    from provml.capture.broker import connect
    from provml.capture.client import Client

    batches = 50
    epochs = max(1, round((events - 4) / (2 + 2 * batches)))
    interval = 1.0 / rate if rate else 0.0
    client = Client(broker=url, bag_size=50, flush_interval_s=0.1, install_signal_handler=False)
    sink = client._flusher.sink  # connect now (imports redis), not in the timed window
    sink._redis = connect(url)
    sink._redis.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    go = time.time()
    cpu = time.process_time()
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
    with client:
        with workflow as wf, wf.stage("train", kind="training") as stage:
            for e in range(epochs):
                with stage.cycle("epoch", iteration=e) as epoch:
                    for b in range(batches):
                        with epoch.cycle("batch", iteration=b) as batch:
                            batch.generated(evaluation("loss", 1.0 / (b + 1)))
                        pace()
        recorded = time.time()
    sent = time.time()
    print(json.dumps({"run": run, "events": client.stats().processed, "go": go, "recorded": recorded,
                      "sent": sent, "cpu_s": time.process_time() - cpu}), flush=True)


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


#: the workers' ``max_backlog`` (``--max-backlog``; 0: workers run ahead of the writer, as before it)
MAX_BACKLOG = 64
#: the writer's ``compaction_niceness`` (``--compaction-niceness``; 0: RocksDB's compactions as they are)
COMPACTION_NICENESS = 10
#: the writer's ``linger_s`` (``--writer-linger``; None: the tree's default)
WRITER_LINGER: float | None = None


def start_pipeline(url: str, store: Path, workers: int, latency_key: str | None, *,
                   writer_batch: int | None = None, max_backlog: int | None = None) -> list[subprocess.Popen[bytes]]:
    """The writer and ``workers`` worker processes; ``writer_batch``: the writer's first group
    (default: the tree's), ``max_backlog``: the workers' (default :data:`MAX_BACKLOG`)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    batch = f", batch={writer_batch}" if writer_batch is not None else ""
    if WRITER_LINGER is not None:
        batch += f", linger_s={WRITER_LINGER!r}"
    writer_code = (
        "from provml.knowledge import open_kg; from provml.ingest.writer import Writer; "
        "from provml.ingest.collector import paused\n"
        f"kg = open_kg({str(store)!r})\nwith paused():  # as provml ingest-worker's writer process\n"
        f"    Writer({url!r}, kg, latency_key={latency_key!r}, compaction_niceness={COMPACTION_NICENESS}{batch}).run()"
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer_code], env=env)]
    backlog = MAX_BACKLOG if max_backlog is None else max_backlog
    worker_code = f"from provml.ingest.worker import _worker_process; _worker_process({url!r}, None, 30.0, {backlog})"
    procs += [subprocess.Popen([sys.executable, "-c", worker_code], env=env) for _ in range(workers)]
    return procs


def wait_ready(redis: Any, workers: int, timeout_s: float = 120.0) -> None:
    from provml.ingest.streams import alive, ensure_groups

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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compactions_s(pids: list[int]) -> dict[str, float]:
    """CPU seconds of the RocksDB threads still alive in ``pids`` (``rocksdb:low``: compactions,
    ``rocksdb:high``: flushes); the rest of a process's CPU is its Python and its writes."""
    from ingest_growth import thread_cpu_s  # (this script's folder is sys.path[0])

    out: dict[str, float] = {}
    for pid in pids:
        for name, cpu in thread_cpu_s(pid).items():
            if name.startswith("rocksdb"):
                out[name] = out.get(name, 0.0) + cpu
    return out


def compactions_left(pids: list[int], events: int) -> float:
    """CPU µs an event the writer's compactions take after every event is written, until they
    stop (``ingest_growth.settle``: no CPU for 1.5 s): the debt a run leaves, which its window
    does not count (they run niced, behind the writes) and a longer run pays."""
    from ingest_growth import settle

    return 1e6 * sum(settle(pid, quiet_s=1.5, limit_s=300.0)[1]["rocksdb:low"] for pid in pids) / events


def sustained(samples: list[tuple[float, int]], total: int) -> float:
    """Events/s between the moments 10 % and 90 % of ``total`` were written (no start-up, no tail)."""
    def when(fraction: float) -> tuple[float, int]:
        return next((t, n) for t, n in samples if n >= fraction * total)

    (t0, n0), (t1, n1) = when(0.1), when(0.9)
    return (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")


def emit_all(url: str, events: int, rate: float, on_go: Callable[[], None] = lambda: None) -> tuple[int, dict[str, Any]]:
    """Run the 8 capture processes: start them, wait until each has imported and connected, then
    let them all go at once; returns the events they emitted and their clock readings: the
    emission's seconds and events/s from the first ``go`` to the last bag sent, the median
    per-process rate, and CPU µs an event (the callers' and flushers' threads together)."""
    per = rate / CAPTURES if rate else 0.0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    captures = [subprocess.Popen([sys.executable, __file__, "--capture", url, f"bench-{i}", str(events), str(per)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                for i in range(CAPTURES)]
    try:
        for c in captures:  # every capture process started, imported and connected
            assert c.stdout is not None
            if c.stdout.readline().strip() != "ready":
                raise RuntimeError("a capture process did not start")
        on_go()
        for c in captures:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()
        reports = []
        for c in captures:
            out, _ = c.communicate(timeout=1800)
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for c in captures:
            if c.poll() is None:
                c.kill()
                c.wait()
    total = sum(r["events"] for r in reports)
    go = min(r["go"] for r in reports)
    seconds = max(r["sent"] for r in reports) - go
    return total, {"seconds": seconds, "events_per_s": total / seconds,
                   "recorded_seconds": max(r["recorded"] for r in reports) - go,
                   "per_process_events_per_s": statistics.median(r["events"] / (r["sent"] - r["go"]) for r in reports),
                   "cpu_us_per_event": 1e6 * sum(r["cpu_s"] for r in reports) / total}


def steady(samples: list[tuple[float, int]], seconds: float) -> tuple[float, float]:
    """Events/s written from 20 % of an emission of ``seconds`` to its end (samples from its
    start), and the events written by its end."""
    t00 = samples[0][0]
    inside = [(t - t00, n) for t, n in samples if 0.2 * seconds <= t - t00 <= seconds]
    (t0, n0), (t1, n1) = inside[0], inside[-1]
    by_end = max((n for t, n in samples if t - t00 <= seconds), default=0)
    return ((n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")), by_end


def one_run(redis: Redis, workers: int, events: int, rate: float, latency: bool, *, drain: bool = False,
            paced: bool = False) -> dict[str, Any]:
    """One configuration on a fresh store. ``drain``: the 8 captures fill the stream first, then
    the workers start (their own capacity); else captures and workers run together; ``paced``:
    the steady mode (``rate`` above the pipeline's)."""
    import threading

    from provml.ingest.streams import WRITTEN

    redis.client.flushall()
    load = os.getloadavg()[0]
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

        sampler = threading.Thread(target=sample)
        try:
            if not drain:
                procs = start_pipeline(redis.url, Path(tmp) / "store", workers, latency_key)
                wait_ready(redis.client, workers)
            start = time.perf_counter()
            pids = {"writer": [p.pid for p in procs[:1]], "workers": [p.pid for p in procs[1:]], "redis": [redis.proc.pid]}
            cpu0 = {role: sum(cpu_s(pid) for pid in group) for role, group in pids.items()}
            writer_threads0 = compactions_s(pids["writer"])
            total, emit = emit_all(redis.url, events, rate, on_go=sampler.start)
            emitted = time.perf_counter() - start
            counted = total  # the events the CPU readings cover
            if drain:  # the clock restarts: the ingest side's own time, its start-up included
                procs = start_pipeline(redis.url, Path(tmp) / "store", workers, latency_key)
                start = time.perf_counter()
                # its CPU from when every process is warm (the workers' schema compiled): the
                # events written by then are left out of the µs an event
                wait_ready(redis.client, workers)
                pids = {"writer": [procs[0].pid], "workers": [p.pid for p in procs[1:]], "redis": [redis.proc.pid]}
                cpu0 = {role: sum(cpu_s(pid) for pid in group) for role, group in pids.items()}
                writer_threads0 = compactions_s(pids["writer"])
                counted = total - int(redis.client.get(WRITTEN) or 0)
            while int(redis.client.get(WRITTEN) or 0) < total:
                time.sleep(0.02)
                if time.perf_counter() - start > 1800:
                    raise RuntimeError("the pipeline did not catch up")
            elapsed = time.perf_counter() - start
            cpu = {role: 1e6 * (sum(cpu_s(pid) for pid in group) - cpu0[role]) / counted
                   for role, group in pids.items()}
            if not drain:
                cpu["captures"] = emit["cpu_us_per_event"]
            writer_threads = {k: 1e6 * (v - writer_threads0.get(k, 0.0)) / counted
                              for k, v in compactions_s(pids["writer"]).items()}
            done.set()
            sampler.join()
            samples.append((time.perf_counter(), int(redis.client.get(WRITTEN) or 0)))
            row: dict[str, Any] = {"workers": workers, "mode": "drain" if drain else "steady" if paced else "live",
                                   "events": total,
                                   "seconds": elapsed, "emit_seconds": emitted, "emit": emit, "events_per_s": total / elapsed,
                                   "sustained_events_per_s": sustained(samples, total),
                                   "load": [load, os.getloadavg()[0]]}
            # CPU µs an event of each part, after start-up (live and steady: the pipeline was warm
            # at the go; drain: from when its processes were ready, over the events left then)
            row["cpu_us_per_event"] = cpu
            row["cpu_events"] = counted
            row["writer_rocksdb_cpu_us_per_event"] = writer_threads
            row["writer_compactions_after_us_per_event"] = compactions_left(pids["writer"], total)
            if paced:
                rate_written, by_end = steady(samples, emit["seconds"])
                row.update({"steady_events_per_s": rate_written, "rate_target": rate,
                            "rate_emitted": emit["events_per_s"], "backlog_at_emit_end": total - by_end})
            if latency_key:
                values = sorted(float(x) for x in redis.client.lrange(latency_key, 0, -1))
                row["latency_s"] = {"p50": values[len(values) // 2], "p99": values[int(len(values) * 0.99)],
                                    "max": values[-1], "n": len(values)}
                row["rate_target"] = rate
                row["rate_emitted"] = emit["events_per_s"]
            return row
        finally:
            done.set()
            if sampler.is_alive():
                sampler.join()
            stop(procs)


def capacities(redis: Redis, events: int) -> dict[str, float]:
    """Events/s of one worker alone and of the writer alone, each in this process, on a filled stream."""
    sys.path.insert(0, str(Path(__file__).parent))
    import workload

    from provml.capture.broker import RedisSink
    from provml.ingest.worker import Worker
    from provml.ingest.writer import Writer
    from provml.knowledge import open_kg

    redis.client.flushall()
    data = workload.events(events)
    sink = RedisSink(redis.url)
    for i in range(0, len(data), 50):
        sink.send([json.dumps(e) for e in data[i : i + 50]])
    sink.close()
    worker = Worker(redis.url, block_s=0.05, batch=8, max_backlog=0)  # alone: no writer reads its entries
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
        start, cpu = time.perf_counter(), time.process_time()
        while writer.step():
            pass
        writer_s, writer_cpu = time.perf_counter() - start, time.process_time() - cpu
        written = writer.events
        writer.close()
        kg.close()
    return {"worker_events_per_s": worked / worker_s, "writer_events_per_s": written / writer_s,
            "writer_cpu_us_per_event": 1e6 * writer_cpu / written}


def emit_only(redis: Redis, events: int, reps: int, out: dict[str, Any]) -> None:
    out["emit_only"] = []
    for _ in range(reps):
        redis.client.flushall()
        load = os.getloadavg()[0]
        total, emit = emit_all(redis.url, events, 0.0)
        emit["load"] = load
        out["emit_only"].append(emit)
        print(f"emit only  {total} events in {emit['seconds']:.2f} s = {emit['events_per_s']:,.0f} events/s "
              f"(per process {emit['per_process_events_per_s']:,.0f}, {emit['cpu_us_per_event']:.1f} CPU us an "
              f"event; load {load:.1f})", flush=True)
    path = RESULTS.with_name("broker_emit.json")
    path.write_text(json.dumps(out, indent=2))
    print(f"saved {path}")


def main() -> None:
    global MAX_BACKLOG, COMPACTION_NICENESS, WRITER_LINGER
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
    ap.add_argument("--latency-reps", type=int, default=1)
    ap.add_argument("--latency-only", action="store_true", help="no throughput runs, no capacities")
    ap.add_argument("--quick", action="store_true", help="500 events per process, 1 repetition")
    ap.add_argument("--throughput-only", action="store_true", help="no capacities, no latency runs")
    ap.add_argument("--modes", nargs="+", choices=["live", "drain", "steady"], default=["live", "drain"],
                    help="throughput modes to run (default live and drain)")
    ap.add_argument("--steady-rate", type=float, default=12_000.0,
                    help="total events/s the 8 processes are paced to in the steady mode")
    ap.add_argument("--max-backlog", type=int, default=MAX_BACKLOG,
                    help="the workers' max_backlog (0: no limit, the workers run ahead of the writer)")
    ap.add_argument("--compaction-niceness", type=int, default=COMPACTION_NICENESS,
                    help="the writer's compaction_niceness (0: RocksDB's compactions at the process's priority)")
    ap.add_argument("--writer-linger", type=float, default=None,
                    help="the writer's linger_s (seconds; default: the tree's, WRITER_LINGER_S)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where to save the JSON (default %(default)s)")
    ap.add_argument("--capacity-only", action="store_true",
                    help="only the capacities (one worker alone, the writer alone, on a filled stream of "
                         "--capacity-events events), --reps times")
    ap.add_argument("--capacity-events", type=int, default=10_000)
    ap.add_argument("--emit-only", action="store_true",
                    help="only the 8 capture processes into Redis, --reps times (no pipeline): what they emit")
    args = ap.parse_args()
    MAX_BACKLOG = args.max_backlog
    COMPACTION_NICENESS = args.compaction_niceness
    WRITER_LINGER = args.writer_linger
    if args.quick:
        args.events, args.reps, args.latency_events = 500, 1, 500
    out: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(),
                           "load_before": os.getloadavg(), "captures": CAPTURES, "max_backlog": MAX_BACKLOG,
                           "compaction_niceness": COMPACTION_NICENESS, "writer_linger_s": WRITER_LINGER,
                           "throughput": [], "latency": []}
    redis = Redis()
    if args.emit_only:
        try:
            emit_only(redis, args.events, args.reps, out)
        finally:
            redis.close()
        return
    if args.capacity_only:
        out["capacity_runs"] = []
        try:
            for _ in range(args.reps):
                load = os.getloadavg()[0]
                cap = {**capacities(redis, args.capacity_events), "load": [load, os.getloadavg()[0]]}
                out["capacity_runs"].append(cap)
                print(f"capacity    one worker {cap['worker_events_per_s']:,.0f} events/s, the writer "
                      f"{cap['writer_events_per_s']:,.0f} events/s, {cap['writer_cpu_us_per_event']:.0f} CPU us an "
                      f"event (each alone; load {load:.1f})", flush=True)
        finally:
            redis.close()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2))
        print(f"saved {args.out}")
        return
    try:
        for rep in range(0 if args.latency_only else args.reps):  # alternate 1 2 4 1 2 4, live and drained
            for mode in args.modes:
                for workers in args.workers:
                    paced = mode == "steady"
                    row = one_run(redis, workers, args.events, args.steady_rate if paced else 0.0, False,
                                  drain=mode == "drain", paced=paced)
                    row["rep"] = rep
                    out["throughput"].append(row)
                    print(f"{row['mode']:5} workers={workers}  {row['events']} events in {row['seconds']:.2f} s "
                          f"= {row['events_per_s']:,.0f} events/s overall, {row['sustained_events_per_s']:,.0f} "
                          f"sustained (captures emitted {row['emit']['events_per_s']:,.0f} events/s; load "
                          f"{row['load'][0]:.1f} -> {row['load'][1]:.1f})", flush=True)
                    if paced:
                        print(f"      steady: {row['steady_events_per_s']:,.0f} events/s written from 20 % to the "
                              f"end of {row['emit']['seconds']:.1f} s of emission at {row['rate_emitted']:,.0f} "
                              f"events/s; backlog at its end {row['backlog_at_emit_end']:,}", flush=True)
                    if "cpu_us_per_event" in row:
                        print("      CPU us an event: " + ", ".join(f"{k} {v:.0f}" for k, v in row["cpu_us_per_event"].items())
                              + f" = {sum(row['cpu_us_per_event'].values()):.0f}; of the writer's, RocksDB's threads "
                              + ", ".join(f"{k} {v:.0f}" for k, v in row["writer_rocksdb_cpu_us_per_event"].items())
                              + f"; compactions after the last write {row['writer_compactions_after_us_per_event']:.0f}",
                              flush=True)
        if not args.latency_only and not args.throughput_only:
            out["capacity"] = capacities(redis, 10_000)
            print(f"capacity    one worker {out['capacity']['worker_events_per_s']:,.0f} events/s, the writer "
                  f"{out['capacity']['writer_events_per_s']:,.0f} events/s (each alone, bags of 50)", flush=True)
        workers = args.latency_workers
        for _ in range(0 if args.throughput_only else args.latency_reps):
            for rate in (args.rate, args.low_rate):
                events = max(100, round(args.latency_events * rate / args.rate))  # the same seconds
                row = one_run(redis, workers, events, rate, True)
                out["latency"].append(row)
                lat = row["latency_s"]
                print(f"latency     workers={workers}  target {rate:,.0f} ev/s, emitted {row['rate_emitted']:,.0f} "
                      f"ev/s: p50 {lat['p50']:.2f} s  p99 {lat['p99']:.2f} s  max {lat['max']:.2f} s ({lat['n']} "
                      f"events; load {row['load'][0]:.1f} -> {row['load'][1]:.1f})", flush=True)
    finally:
        redis.close()
    out["load_after"] = os.getloadavg()
    summary: dict[str, Any] = {}
    for mode in ("live", "drain", "steady"):
        for workers in args.workers:
            rates = [r["steady_events_per_s" if mode == "steady" else "sustained_events_per_s"]
                     for r in out["throughput"] if r["workers"] == workers and r["mode"] == mode]
            if rates:
                summary[f"{mode}-{workers}"] = {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}
    out["summary"] = summary
    for key, s in summary.items():
        print(f"{key}: sustained median {s['median']:,.0f} events/s (min {s['min']:,.0f}, max {s['max']:,.0f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
