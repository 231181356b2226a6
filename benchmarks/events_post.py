"""Server CPU per event of ``POST /api/events``: the requests the capture client sends in setting D,
replayed against ``provml serve`` of an older commit (A) and of this working tree (B), alternating.

1. Records the request bodies a :class:`provml.Client` in setting D (bags of 50, online, no
   spool) sends for a training loop of ``--epochs`` epochs × 56 batches with a loss per batch
   and per epoch (the shape of ``capture_overhead.py``'s loop; the training step is a sleep of
   ``--step-ms``), to a recording HTTP server in this process: compact cycle records, up to
   ``COALESCE_RECORDS`` a request, as the client sends them to a loopback endpoint (gzip
   bodies are what it sends elsewhere; ``--gzip`` compresses them here too).
2. For each repetition and side: ``provml serve`` on a fresh on-disk store (``taskset -c 1``
   with ``--pin``), one warm-up request of another run, then every recorded body in order over
   one keep-alive connection, each answered 202 before the next is sent; the server's process
   CPU (user + system, all its threads, from ``/proc/<pid>/stat``) over the replay, divided by
   the events. ``A`` runs ``git archive <base>`` of the package in a temporary directory.
   ``--passes N`` replays the run N times into the same store, each time as another run (its
   run id changed): what a request costs as the store grows (each pass's CPU is kept).

Usage::

    .venv/bin/python benchmarks/events_post.py --base 9e6a326 --reps 4 [--pin] [--out ...]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from abtree import base_tree
from serving import serving

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "events_post.json"
TOKEN = "bench-token"


def record(epochs: int, step_s: float, linger_s: float | None = None,
           records: int | None = None) -> list[bytes]:
    """The bodies a setting-D client sends for the loop (see the module's text); ``linger_s``
    and ``records``: the flusher's wake-up interval and request size for an endpoint, instead
    of this version's (:data:`provml.capture.flusher.ENDPOINT_LINGER_S`, ``COALESCE_RECORDS``)."""
    import provml
    from provml.capture import flusher

    bodies: list[bytes] = []

    class Recorder(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.wfile.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    saved = flusher.ENDPOINT_LINGER_S, flusher.COALESCE_RECORDS
    flusher.ENDPOINT_LINGER_S = saved[0] if linger_s is None else linger_s
    flusher.COALESCE_RECORDS = saved[1] if records is None else records
    try:  # read when the client's flusher is made
        client = provml.Client.setting("D", endpoint=url, token=TOKEN, install_signal_handler=False)
    finally:
        flusher.ENDPOINT_LINGER_S, flusher.COALESCE_RECORDS = saved
    hp = [provml.hyperparameter("lr", 0.05), provml.hyperparameter("batch_size", 32)]
    with client.workflow("digits-mlp", type="learning") as wf, \
            wf.stage("train", kind="training", used=hp) as tr:
        for epoch in range(epochs):
            with tr.cycle("epoch", epoch) as ep:
                total = 0.0
                for b in range(56):
                    with ep.cycle("batch", b) as bt:
                        time.sleep(step_s)
                        loss = 2.3 / (1 + epoch + b / 56) + (b * 7919 % 101) * 1e-4
                        bt.generated(provml.evaluation("loss", loss))
                    total += loss
                ep.generated(provml.evaluation("loss", total / 56))
    client.close(timeout_s=None)
    server.shutdown()
    stats = client.stats()
    assert stats.sent == stats.processed and not stats.pending and not stats.rejected, stats
    return bodies


def events_in(body: bytes) -> int:
    from provml.capture.encoding import expand

    return len(expand(json.loads(body)["events"]))


def cpu_s(pid: int) -> float:
    """User + system CPU of a process, all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pythonpath(pythonpath: str | None) -> dict[str, str] | None:
    """The environment that serves the package on ``pythonpath`` (``None``: this tree's install)."""
    return {"PYTHONPATH": pythonpath} if pythonpath else None


def replay(pythonpath: str | None, bodies: list[bytes], warm: bytes, store: Path, *, pin: bool,
           gzipped: bool, passes: int = 1) -> dict[str, Any]:
    with serving(store, token=TOKEN, env=_pythonpath(pythonpath), pin=pin) as (proc, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"

        def post(body: bytes) -> None:
            conn.request("POST", "/api/events", gzip.compress(body, 1) if gzipped else body, headers)
            response = conn.getresponse()
            text = response.read()
            assert response.status == 202, (response.status, text[:500])

        post(warm)
        run = json.loads(bodies[0])["events"][0]["run"].encode()
        cpu, wall = [], []
        for n in range(passes):  # each pass another run: the store grows
            again = [b.replace(run, run + b"-%d" % n) for b in bodies] if n else bodies
            c0, t0 = cpu_s(proc.pid), time.perf_counter()
            for body in again:
                post(body)
            c1, t1 = cpu_s(proc.pid), time.perf_counter()
            cpu.append(c1 - c0)
            wall.append(t1 - t0)
        conn.close()
        return {"cpu_s": sum(cpu) / passes, "wall_s": sum(wall) / passes, "cpu_s_by_pass": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against (A)")
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=134, help="134: ≈ 15,000 events")
    parser.add_argument("--step-ms", type=float, default=0.2)
    parser.add_argument("--passes", type=int, default=1,
                        help="replay the run this many times (each another run) into one store: "
                             "the cost as the store grows (cpu_s: the mean pass)")
    parser.add_argument("--pin", action="store_true", help="the servers on CPU 1 (taskset)")
    parser.add_argument("--linger-s", type=float, default=None,
                        help="record with this endpoint wake-up interval (default: this version's)")
    parser.add_argument("--records", type=int, default=None,
                        help="record with up to this many records a request (default: this version's)")
    parser.add_argument("--gzip", action="store_true", help="send the bodies gzip-compressed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    bodies = record(args.epochs, args.step_ms / 1e3, args.linger_s, args.records)
    warm = record(1, 0.0)[0].replace(b"digits-mlp", b"warm-up-run")
    events = sum(events_in(b) for b in bodies)
    sizes = [events_in(b) for b in bodies]
    print(f"{len(bodies)} requests, {events} events (median {statistics.median(sizes)} a request, "
          f"max {max(sizes)})", flush=True)
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = base_tree(args.base, Path(tmp))
        for rep in range(args.reps):
            for side in ("A", "B") if rep % 2 == 0 else ("B", "A"):
                store = Path(tmp) / f"store-{side}-{rep}"
                run = replay(str(base) if side == "A" else None, bodies, warm, store, pin=args.pin,
                             gzipped=args.gzip, passes=args.passes)
                run["load"] = os.getloadavg()[0]
                runs[side].append(run)
                shutil.rmtree(store, ignore_errors=True)
                print(f"rep {rep + 1} {side}: server CPU {run['cpu_s'] / events * 1e6:.1f} µs an "
                      f"event, {events / run['wall_s']:.0f} events/s, load {run['load']:.2f}",
                      flush=True)
    by_pass = {side: [round(statistics.median(r["cpu_s_by_pass"][n] for r in rs) / events * 1e6, 1)
                      for n in range(args.passes)] for side, rs in runs.items()}
    summary = {side: {
        "cpu_us_per_event_by_pass_median": by_pass[side],
        "cpu_us_per_event_median": round(statistics.median(r["cpu_s"] for r in rs) / events * 1e6, 1),
        "cpu_us_per_event_min": round(min(r["cpu_s"] for r in rs) / events * 1e6, 1),
        "cpu_us_per_event_max": round(max(r["cpu_s"] for r in rs) / events * 1e6, 1),
        "events_per_s_median": round(events / statistics.median(r["wall_s"] for r in rs)),
    } for side, rs in runs.items()}
    result = {"base": args.base, "head": subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "requests": len(bodies), "events": events, "events_per_request_median": statistics.median(sizes),
        "passes": args.passes, "pin": args.pin, "gzip": args.gzip, "linger_s": args.linger_s, "records": args.records, "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "summary": summary, "runs": runs}
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
