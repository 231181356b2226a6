"""Capture overhead on a real CPU training loop: the paper's protocol (paper §6.2).

A small PyTorch MLP trained on scikit-learn's digits, one thread (OMP_NUM_THREADS=1), with a
capture at the begin and end of every batch, epoch and stage (~15,000 events per run). Runs
without capture and with the six settings A–F (bag 1|50 × diskless|diskful × online|offline),
plus the same loop instrumented with MLflow (sqlite store) and Flowcept (offline JSONL) when
they are installed, alternating the configurations within each repetition. Reports the median
wall-clock overhead (min–max) of the training loop and of the whole script (client start to
close), the caller-thread cost of one capture call, and that no event was lost.

Online settings send to a real endpoint (``provml serve`` in a separate process, on the same
machine); ``--pin`` runs it on CPU 1 and this process on CPU 0 (``taskset``), as a deployment
with the server elsewhere would; ``--server null`` sends to a do-nothing HTTP server instead
(stdlib, answers 202 at once), which leaves the client's own cost. Setting F is also timed from
inside (``attribution``): the capture calls of each batch and the training step itself, per
batch, with and without capture (medians), and the flusher thread's CPU. Usage::

    .venv/bin/python benchmarks/capture_overhead.py            # full: ~15,000 events, 10 reps
    .venv/bin/python benchmarks/capture_overhead.py --quick    # a short run
    .venv/bin/python benchmarks/capture_overhead.py --configs none,F,flowcept --reps 10
    .venv/bin/python benchmarks/capture_overhead.py --configs none,D --pin --out ...
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import provml  # noqa: E402
from provml.capture.client import SETTINGS  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "capture_overhead.json"
PLOT = HERE.parent / "docs" / "img" / "capture_overhead.png"
TOKEN = "bench-token"
BATCH = 32
HIDDEN = 256
LR = 0.05


# -- the workload ----------------------------------------------------------------------------


class Workload:
    """The digits MLP: same data, same model initialisation for every run."""

    def __init__(self, epochs: int) -> None:
        torch.set_num_threads(1)
        x, y = load_digits(return_X_y=True)
        self.x = torch.tensor(x / 16.0, dtype=torch.float32)
        self.y = torch.tensor(y)
        self.batches = len(self.x) // BATCH
        self.epochs = epochs

    def fresh(self) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, HIDDEN),
            torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10),
        )
        return net, torch.optim.SGD(net.parameters(), lr=LR)

    def step(self, net: torch.nn.Module, opt: torch.optim.Optimizer, b: int) -> float:
        xb = self.x[b * BATCH : (b + 1) * BATCH]
        yb = self.y[b * BATCH : (b + 1) * BATCH]
        loss = torch.nn.functional.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    @property
    def events(self) -> int:
        """Capture events per run: workflow + stage + epochs + batches, begin and end each."""
        return 2 * (2 + self.epochs * (1 + self.batches))


def loop_none(w: Workload) -> None:
    net, opt = w.fresh()
    for _epoch in range(w.epochs):
        total = 0.0
        for b in range(w.batches):
            total += w.step(net, opt, b)
        _ = total / w.batches


def loop_provml(w: Workload, client: provml.Client) -> None:
    net, opt = w.fresh()
    hp = [provml.hyperparameter("lr", LR), provml.hyperparameter("batch_size", BATCH)]
    with client.workflow("digits-mlp", type="learning") as wf, \
            wf.stage("train", kind="training", used=hp) as tr:
        for epoch in range(w.epochs):
            with tr.cycle("epoch", epoch) as ep:
                total = 0.0
                for b in range(w.batches):
                    with ep.cycle("batch", b) as bt:
                        loss = w.step(net, opt, b)
                        bt.generated(provml.evaluation("loss", loss))
                    total += loss
                ep.generated(provml.evaluation("loss", total / w.batches))


def loop_mlflow(w: Workload, mlflow: Any) -> None:
    net, opt = w.fresh()
    with mlflow.start_run():
        mlflow.log_params({"lr": LR, "batch_size": BATCH})
        step = 0
        for epoch in range(w.epochs):
            total = 0.0
            for b in range(w.batches):
                loss = w.step(net, opt, b)
                mlflow.log_metric("batch_loss", loss, step=step)
                step += 1
                total += loss
            mlflow.log_metric("epoch_loss", total / w.batches, step=epoch)


def loop_flowcept(w: Workload, flowcept: Any) -> None:
    """The same loop with Flowcept: an iteration per epoch and per batch, recording the same
    losses as :func:`loop_provml` (``end_iter``)."""
    net, opt = w.fresh()
    with flowcept.Flowcept(workflow_name="digits-mlp", start_persistence=True):
        epochs = flowcept.FlowceptLoop(range(w.epochs), loop_name="epochs", item_name="epoch")
        for _epoch in epochs:
            total = 0.0
            batches = flowcept.FlowceptLoop(range(w.batches), loop_name="batches", item_name="batch")
            for b in batches:
                loss = w.step(net, opt, b)
                batches.end_iter({"loss": loss})
                total += loss
            epochs.end_iter({"loss": total / w.batches})


# -- the endpoint ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NULL_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
    def do_POST(self):  # one write: headers and body apart wait for a delayed ACK (40 ms)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.wfile.write(b"HTTP/1.1 202 Accepted\\r\\nContent-Length: 2\\r\\n\\r\\n{}")
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


#: the running endpoint's process id (its CPU is read from /proc around each online run)
SERVER: dict[str, int] = {}


def server_cpu_s() -> float:
    """User + system CPU of the endpoint's process, all its threads (``/proc/<pid>/stat``);
    NaN without one. ``taskset`` execs the server in its own process: the pid is the server's."""
    pid = SERVER.get("pid")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_server_idle(limit_s: float = 60.0) -> None:
    """Until the endpoint has used less than 2 % of a CPU for 0.25 s (it may still be storing
    the requests of the run before), at most ``limit_s``."""
    deadline = time.monotonic() + limit_s
    before = server_cpu_s()
    while before == before and time.monotonic() < deadline:  # NaN: no server
        time.sleep(0.25)
        now = server_cpu_s()
        if now - before < 0.005:
            return
        before = now


@contextlib.contextmanager
def endpoint(store: Path, *, pin: bool = False, server: str = "provml") -> Iterator[str]:
    """``provml serve`` on a fresh store (or the do-nothing ``null`` server), in its own
    process; ``pin``: on CPU 1 only."""
    port = free_port()
    exe = Path(sys.executable).parent / "provml"
    command = [str(exe), "serve", "--store", str(store), "--port", str(port), "--token", TOKEN]
    if server == "null":
        command = [sys.executable, "-c", NULL_SERVER, str(port)]
    if pin:
        command = ["taskset", "-c", "1", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    SERVER["pid"] = proc.pid
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def endpoint_throughput(url: str, events: int) -> dict[str, float]:
    """Events per second the endpoint stores (translate + validate + write), per bag size."""
    out = {}
    for bag in (1, 50):
        client = provml.Client(endpoint=url, token=TOKEN, bag_size=bag, install_signal_handler=False)
        epochs = max(1, events // 2 // 21)
        t0 = time.perf_counter()
        with client.workflow(f"throughput-{bag}") as wf, wf.stage("train") as tr:
            for e in range(epochs):
                with tr.cycle("epoch", e) as ep:
                    for b in range(20):
                        with ep.cycle("batch", b) as bt:
                            bt.generated(provml.evaluation("loss", 0.1))
        client.close(timeout_s=None)
        out[f"bag_{bag}_events_per_s"] = round(client.stats().sent / (time.perf_counter() - t0), 1)
    return out


# -- measurement -----------------------------------------------------------------------------


def per_call_cost(calls: int, rounds: int = 5) -> dict[str, float]:
    """Caller-thread cost of one capture call (one begin or end event), flusher running:
    thread CPU time and wall time per event, median and min over ``rounds``. A tight loop
    makes events ~100x faster than the flusher writes them, so the queue is made large enough
    not to spill: this measures the enqueue path a training loop takes."""
    cpus, walls = [], []
    with tempfile.TemporaryDirectory() as tmp:
        client = provml.Client(spool_dir=tmp, online=False, bag_size=50, max_queue=10**7,
                               install_signal_handler=False)
        with client.workflow("timeit") as wf, wf.stage("train") as tr, tr.cycle("epoch", 0) as ep:
            for _ in range(1000):  # warm up
                with ep.cycle("batch", 0):
                    pass
            for _ in range(rounds):
                cpu0, wall0 = time.thread_time(), time.perf_counter()
                for b in range(calls // 2):
                    with ep.cycle("batch", b):
                        pass
                cpus.append((time.thread_time() - cpu0) / calls * 1e6)
                walls.append((time.perf_counter() - wall0) / calls * 1e6)
        client.close()
    return {"caller_cpu_us": round(statistics.median(cpus), 3),
            "caller_cpu_us_min": round(min(cpus), 3),
            "caller_wall_us": round(statistics.median(walls), 3),
            "caller_wall_us_min": round(min(walls), 3)}


def attribution(w: Workload, work: Path, reps: int, flowcept: Any = None) -> dict[str, Any]:
    """Setting F (and Flowcept, when installed) timed from inside the loop, alternating with
    the uncaptured loop: per batch, the capture calls (provml: cycle made, entered, a loss
    recorded, left — 2 events; Flowcept: its loop iterator's ``next``) and the training step;
    per epoch, the same for the epoch's calls; medians (``perf_counter_ns``, robust to
    preemption). The calls made once per run (client or ``Flowcept`` start, close, the flush at
    close) are timed on the thread's CPU clock, and the CPU of the library's other threads
    (provml's flusher; whatever Flowcept starts) is the process's CPU minus the training
    thread's. ``library_us_per_event``: all of it per provml event."""
    clock = time.perf_counter_ns
    steps: dict[str, list[int]] = {"none": [], "F": [], "flowcept": []}
    per_batch: dict[str, list[int]] = {"F": [], "flowcept": []}
    per_epoch: dict[str, list[int]] = {"F": [], "flowcept": []}
    once: dict[str, list[float]] = {"F": [], "flowcept": []}
    threads: dict[str, list[float]] = {"F": [], "flowcept": []}
    for _ in range(reps):
        net, opt = w.fresh()
        for _epoch in range(w.epochs):
            for b in range(w.batches):
                t0 = clock()
                w.step(net, opt, b)
                steps["none"].append(clock() - t0)
        spool = work / f"spool-attribution-{time.monotonic_ns()}"
        net, opt = w.fresh()
        p0, m0 = time.process_time(), time.thread_time()
        client = provml.Client.setting("F", spool_dir=spool, install_signal_handler=False)
        wf = client.workflow("digits-mlp", type="learning").__enter__()
        tr = wf.stage("train").__enter__()
        start = time.thread_time() - m0
        for epoch in range(w.epochs):
            e0 = clock()
            ep = tr.cycle("epoch", epoch).__enter__()
            epoch_calls = clock() - e0
            total = 0.0
            for b in range(w.batches):
                t0 = clock()
                with ep.cycle("batch", b) as bt:
                    t1 = clock()
                    loss = w.step(net, opt, b)
                    t2 = clock()
                    bt.generated(provml.evaluation("loss", loss))
                t3 = clock()
                total += loss
                per_batch["F"].append(t1 - t0 + t3 - t2)
                steps["F"].append(t2 - t1)
            e0 = clock()
            ep.generated(provml.evaluation("loss", total / w.batches))
            ep.__exit__(None, None, None)
            per_epoch["F"].append(epoch_calls + clock() - e0)
        m1 = time.thread_time()
        tr.__exit__(None, None, None)
        wf.__exit__(None, None, None)
        client.close()
        m2 = time.thread_time()
        once["F"].append(start + m2 - m1)
        threads["F"].append(time.process_time() - p0 - (m2 - m0))
        shutil.rmtree(spool, ignore_errors=True)
        if flowcept is not None:
            _flowcept_inside(w, work, flowcept, clock, steps, per_batch, per_epoch, once, threads)
    clock_cost = statistics.median(
        [-(clock() - clock()) for _ in range(10_000)])  # one clock() pair
    step_none = statistics.median(steps["none"]) / 1e3
    out: dict[str, Any] = {"batches_per_library": len(steps["none"]),
                           "step_us_median_none": round(step_none, 2)}
    for lib in ("F", "flowcept"):
        if not per_batch[lib]:
            continue
        pairs = 2  # clock() pairs around a batch's calls
        batch = (statistics.median(per_batch[lib]) - pairs * clock_cost) / 1e3
        epoch = statistics.median(per_epoch[lib]) / 1e3
        run_once = statistics.median(once[lib]) * 1e6
        other = statistics.median(threads[lib]) * 1e6
        step = statistics.median(steps[lib]) / 1e3
        library = (batch * w.batches * w.epochs + epoch * w.epochs + run_once + other) / w.events
        out[lib] = {
            "calls_us_per_batch": round(batch, 3),
            "calls_us_per_epoch": round(epoch, 2),
            "once_per_run_us": round(run_once, 1),
            "other_threads_cpu_us_per_run": round(other, 1),
            "other_threads_cpu_us_per_event": round(other / w.events, 3),
            "library_us_per_event": round(library, 3),
            "step_us_median": round(step, 2),
            "step_slowdown_us_per_event": round((step - step_none) * w.batches * w.epochs
                                                / w.events, 3),
        }
    return out


def _flowcept_inside(w: Workload, work: Path, flowcept: Any, clock: Any,
                     steps: dict[str, list[int]], per_batch: dict[str, list[int]],
                     per_epoch: dict[str, list[int]], once: dict[str, list[float]],
                     threads: dict[str, list[float]]) -> None:
    """:func:`loop_flowcept` with its calls timed (see :func:`attribution`)."""
    cwd = os.getcwd()
    os.chdir(work)
    try:
        net, opt = w.fresh()
        p0, m0 = time.process_time(), time.thread_time()
        run = flowcept.Flowcept(workflow_name="digits-mlp", start_persistence=True)
        run.__enter__()
        epochs = flowcept.FlowceptLoop(range(w.epochs), loop_name="epochs", item_name="epoch")
        start = time.thread_time() - m0
        while True:
            e0 = clock()
            try:
                next(epochs)
            except StopIteration:
                break
            batches = flowcept.FlowceptLoop(range(w.batches), loop_name="batches",
                                            item_name="batch")
            epoch_calls = clock() - e0
            total = 0.0
            while True:
                t0 = clock()
                try:
                    b = next(batches)
                except StopIteration:
                    t1 = clock()
                    epochs.end_iter({"loss": total / w.batches})
                    per_epoch["flowcept"].append(epoch_calls + clock() - t1 + t1 - t0)
                    break
                t1 = clock()
                loss = w.step(net, opt, b)
                t2 = clock()
                batches.end_iter({"loss": loss})
                t3 = clock()
                total += loss
                steps["flowcept"].append(t2 - t1)
                per_batch["flowcept"].append(t1 - t0 + t3 - t2)
        m1 = time.thread_time()
        run.__exit__(None, None, None)
        m2 = time.thread_time()
        once["flowcept"].append(start + m2 - m1)
        threads["flowcept"].append(time.process_time() - p0 - (m2 - m0))
    finally:
        os.chdir(cwd)


def run_one(name: str, w: Workload, work: Path, url: str | None, peers: dict[str, Any]) -> dict[str, Any]:
    """One run; ``cpu_s``: CPU time of this process (all its threads) over the whole run."""
    cpu0, main0 = time.process_time(), time.thread_time()
    result = _run_one(name, w, work, url, peers)
    result["cpu_s"] = time.process_time() - cpu0
    result["main_cpu_s"] = time.thread_time() - main0  # the training thread alone
    return result


def _run_one(name: str, w: Workload, work: Path, url: str | None, peers: dict[str, Any]) -> dict[str, Any]:
    if name == "none":
        t0 = time.perf_counter()
        loop_none(w)
        t = time.perf_counter() - t0
        return {"loop_s": t, "total_s": t}
    if name == "mlflow":
        t0 = time.perf_counter()
        loop_mlflow(w, peers["mlflow"])
        t = time.perf_counter() - t0
        return {"loop_s": t, "total_s": t}
    if name == "flowcept":
        cwd = os.getcwd()
        os.chdir(work)
        try:
            t0 = time.perf_counter()
            loop_flowcept(w, peers["flowcept"])
            t = time.perf_counter() - t0
        finally:
            os.chdir(cwd)
        return {"loop_s": t, "total_s": t}
    bag, diskful, online = SETTINGS[name]
    spool = work / f"spool-{name}-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    client = provml.Client.setting(name, endpoint=url if online else None, token=TOKEN,
                                   spool_dir=spool if diskful else None,
                                   install_signal_handler=False)
    s1, t1 = server_cpu_s(), time.perf_counter()
    loop_provml(w, client)
    s2, t2 = server_cpu_s(), time.perf_counter()
    # online: the endpoint stores ~10^2 events/s, far fewer than this loop makes; what it has not
    # taken when the loop ends goes to the pending file (kept on disk, loaded later)
    client.close(timeout_s=0 if online else None)
    t3 = time.perf_counter()
    stats = client.stats()
    accounted = (stats.sent + stats.pending + stats.rejected) if online else stats.spooled
    pending_file = client.pending_path
    if pending_file.exists():
        pending_file.unlink()
    shutil.rmtree(spool, ignore_errors=True)
    return {"loop_s": t2 - t1, "total_s": t3 - t0, "events": stats.processed,
            "sent": stats.sent, "pending": stats.pending, "spilled": stats.spilled,
            "flusher_cpu_s": getattr(stats, "thread_cpu_s", float("nan")),
            # the endpoint's CPU while the loop ran (online settings; the events it stored then)
            "server_cpu_s": s2 - s1 if online else float("nan"),
            "lost": w.events - accounted}


def peers_available(work: Path) -> tuple[dict[str, Any], list[str]]:
    peers: dict[str, Any] = {}
    notes = []
    try:
        import mlflow

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
        mlflow.set_experiment("capture-overhead")
        peers["mlflow"] = mlflow
    except ImportError:
        notes.append("MLflow not installed (pip install mlflow): skipped")
    try:
        import flowcept

        peers["flowcept"] = flowcept
    except ImportError:
        notes.append("Flowcept not installed (pip install flowcept): skipped")
    for note in notes:
        print("note:", note)
    return peers, notes


def summarise(runs: dict[str, list[dict[str, Any]]], summary_events: int) -> dict[str, Any]:
    """Medians (min–max) per configuration; ``*_us_per_event``: the median's difference from
    the uncaptured loop divided by the events of a run (peers: the same loop's event count)."""
    base_loop = statistics.median(r["loop_s"] for r in runs["none"])
    base_total = statistics.median(r["total_s"] for r in runs["none"])
    base_cpu = statistics.median(r["cpu_s"] for r in runs["none"])
    out: dict[str, Any] = {}
    for name, rs in runs.items():
        loop = [100 * (r["loop_s"] / base_loop - 1) for r in rs]
        total = [100 * (r["total_s"] / base_total - 1) for r in rs]
        cpu = [100 * (r["cpu_s"] / base_cpu - 1) for r in rs]
        entry: dict[str, Any] = {
            "reps": len(rs),
            "loop_s_median": round(statistics.median(r["loop_s"] for r in rs), 4),
            "loop_overhead_pct_median": round(statistics.median(loop), 2),
            "loop_overhead_pct_min": round(min(loop), 2),
            "loop_overhead_pct_max": round(max(loop), 2),
            "total_overhead_pct_median": round(statistics.median(total), 2),
            "total_overhead_pct_min": round(min(total), 2),
            "total_overhead_pct_max": round(max(total), 2),
            "cpu_s_median": round(statistics.median(r["cpu_s"] for r in rs), 4),
            "cpu_overhead_pct_median": round(statistics.median(cpu), 2),
            "cpu_overhead_pct_min": round(min(cpu), 2),
            "cpu_overhead_pct_max": round(max(cpu), 2),
        }
        events = rs[0].get("events") or summary_events
        base_main = statistics.median(r["main_cpu_s"] for r in runs["none"])
        entry["loop_us_per_event"] = round(
            (statistics.median(r["loop_s"] for r in rs) - base_loop) / events * 1e6, 2)
        entry["cpu_us_per_event"] = round(
            (statistics.median(r["cpu_s"] for r in rs) - base_cpu) / events * 1e6, 2)
        entry["main_thread_cpu_us_per_event"] = round(
            (statistics.median(r["main_cpu_s"] for r in rs) - base_main) / events * 1e6, 2)
        if "flusher_cpu_s" in rs[0]:
            entry["flusher_cpu_us_per_event"] = round(
                statistics.median(r["flusher_cpu_s"] for r in rs) / events * 1e6, 2)
        if rs[0].get("server_cpu_s", float("nan")) == rs[0].get("server_cpu_s"):  # not NaN
            entry["server_cpu_s_median"] = round(statistics.median(r["server_cpu_s"] for r in rs), 3)
            entry["server_busy_pct_median"] = round(
                100 * statistics.median(r["server_cpu_s"] / r["loop_s"] for r in rs), 1)
        if "lost" in rs[0]:
            entry["events_lost"] = sum(r["lost"] for r in rs)
            entry["events_per_run"] = rs[0]["events"]
            entry["sent_median"] = statistics.median(r["sent"] for r in rs)
            entry["spilled_median"] = statistics.median(r["spilled"] for r in rs)
        out[name] = entry
    return out


def plot(summary: dict[str, Any], runs: dict[str, list[dict[str, Any]]], path: Path,
         events: int) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib not installed (pip install 'provml[bench]'): no plot")
        return False
    names = [n for n in runs if n != "none"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], "loop_s", "training-loop wall clock"),
                           (axes[1], "cpu_s", "process CPU time (training + flusher)")):
        base = statistics.median(r[key] for r in runs["none"])
        data = [[100 * (r[key] / base - 1) for r in runs[n]] for n in names]
        ax.boxplot(data)
        ax.set_xticks(range(1, len(names) + 1), names)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_ylabel("overhead vs no capture (%)")
        if max(max(d) for d in data) > 50:
            ax.set_yscale("symlog", linthresh=5)
    fig.suptitle(f"Capture overhead, digits MLP on 1 CPU thread "
                 f"(~{events} events/run)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~3,000 events per run, 3 reps")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 10; quick 3)")
    parser.add_argument("--events", type=int, default=None, help="target events per run")
    parser.add_argument("--mlflow-reps", type=int, default=3,
                        help="repetitions of the (slow) MLflow runs (default 3)")
    parser.add_argument("--configs", default=None,
                        help="comma-separated subset, e.g. none,F,flowcept (default: all; "
                             "'none' is always run; no plot for a subset)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--pin", action="store_true",
                        help="the endpoint on CPU 1, this process on CPU 0 (taskset)")
    parser.add_argument("--server", choices=("provml", "null"), default="provml",
                        help="online settings send to provml serve (default) or to a "
                             "do-nothing HTTP server (the client's own cost)")
    parser.add_argument("--attribution-reps", type=int, default=3,
                        help="passes of the inside timing of setting F (0: none)")
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {0})
    reps = args.reps or (3 if args.quick else 10)
    target = args.events or (3000 if args.quick else 15000)
    probe = Workload(1)
    w = Workload(max(1, round((target / 2 - 2) / (1 + probe.batches))))
    load_before = os.getloadavg()
    print(f"workload: {w.epochs} epochs x {w.batches} batches, {w.events} events per run, {reps} reps")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["PROVML_HOME"] = str(work / "home")  # default spill / pending directory
        peers, notes = peers_available(work)
        with endpoint(work / "store", pin=args.pin, server=args.server) as url:
            throughput = endpoint_throughput(url, 1000 if not args.quick else 300)
            print("endpoint throughput:", throughput)
            loop_none(Workload(2))  # warm up torch
            inside = attribution(w, work, args.attribution_reps, peers.get("flowcept")) \
                if args.attribution_reps else {}
            print("from inside:", json.dumps(inside))
            calls = per_call_cost(200_000 if not args.quick else 50_000)
            print("per call:", calls)
            loop_none(Workload(2))  # warm up torch
            names = ["none", *SETTINGS, *peers]
            if args.configs:
                wanted = {c.strip() for c in args.configs.split(",")} | {"none"}
                unknown = wanted - set(names)
                if unknown:
                    parser.error(f"unknown or unavailable configs: {', '.join(sorted(unknown))}")
                names = [n for n in names if n in wanted]
            runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
            for rep in range(reps):
                order = names[rep % len(names):] + names[: rep % len(names)]  # rotate the start
                for name in order:
                    if name == "mlflow" and rep >= args.mlflow_reps:
                        continue
                    result = run_one(name, w, work, url, peers)
                    runs[name].append(result)
                    time.sleep(0.2)
                    wait_until_server_idle()  # the next run must not share the machine with it
                print(f"rep {rep + 1}/{reps}: " + ", ".join(
                    f"{n} {runs[n][-1]['loop_s']:.2f}s" for n in names if runs[n]))
    summary = summarise(runs, w.events)
    result = {
        "protocol": {
            "workload": f"MLP 64-{HIDDEN}-{HIDDEN}-10 on sklearn digits, batch {BATCH}, SGD, "
                        "torch 1 thread",
            "epochs": w.epochs, "batches_per_epoch": w.batches, "events_per_run": w.events,
            "reps": reps, "order": "alternating, start rotated each repetition",
            "online_sink": ("a do-nothing HTTP server (stdlib, 202 at once)" if args.server == "null"
                            else "endpoint: provml serve (separate process, same machine, "
                                 "on-disk store)") + (", pinned to CPU 1, this process to CPU 0"
                                                      if args.pin else ""),
            "loop": "wall-clock of the training loop (workflow begin to end)",
            "total": "client construction to close() returned (online: close(timeout_s=0), "
                     "undelivered events go to the pending file)",
            "cpu": "CPU time of the benchmark process (all threads: training + flusher) over the "
                   "whole run; robust to other processes' load; excludes the endpoint's CPU",
        },
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "torch": torch.__version__,
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "per_call": calls,
        "attribution_F": inside,
        "endpoint_throughput": throughput,
        "summary": summary,
        "notes": notes,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plotted = not args.configs and plot(summary, runs, PLOT, w.events)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}" + (f" and {PLOT}" if plotted else ""))


if __name__ == "__main__":
    main()
