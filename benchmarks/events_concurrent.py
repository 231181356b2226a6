"""Events stored a second by ``provml serve`` when several capture clients post at once:
an older commit (A) against this working tree (B), alternating.

1. Records the request bodies one :class:`provml.Client` in setting D (online, no spool)
   sends for a training loop (``events_post.record``: compact cycle records, a loss per batch
   and per epoch, as the client sends them to a loopback endpoint).
2. For each repetition and side: ``provml serve`` on a fresh on-disk store, a warm-up request,
   then ``--clients`` threads of this process, each over its own keep-alive connection, post
   the recorded bodies of a run of its own (the run id rewritten) one after the other, each
   answered 202 before the next is sent: what ``--clients`` training processes posting live
   send. Reported: events stored a second over the whole replay (every event answered 202 is
   queryable), the server's process CPU an event (``/proc/<pid>/stat``, its threads), the
   machine's busy CPU an event (``/proc/stat``: the clients, the server and its query
   workers, RocksDB's threads), and how many requests each write held (``batches`` in the
   answers; an older server that does not say counts as 1).

Usage::

    .venv/bin/python benchmarks/events_concurrent.py --base 8279ef5 --clients 8 --reps 3 [--out ...]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from abtree import ROOT, base_tree  # noqa: E402
from events_post import TOKEN, _pythonpath, cpu_s, events_in, record  # noqa: E402
from serving import serving  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "events_concurrent.json"


def busy_s() -> float:
    """CPU seconds the whole machine spent busy (``/proc/stat``: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def replay(pythonpath: str | None, streams: list[list[bytes]], warm: bytes, store: Path) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    batches: list[int] = []
    failures: list[Any] = []
    with serving(store, token=TOKEN, env=_pythonpath(pythonpath)) as (proc, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request("POST", "/api/events", warm, headers)
        assert conn.getresponse().read()
        conn.close()

        def client(bodies: list[bytes]) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            try:
                for body in bodies:
                    conn.request("POST", "/api/events", body, headers)
                    response = conn.getresponse()
                    text = response.read()
                    if response.status != 202:
                        failures.append((response.status, text[:300]))
                        return
                    batches.append(json.loads(text).get("batches", 1))
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(bodies,)) for bodies in streams]
        c0, b0, t0 = cpu_s(proc.pid), busy_s(), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        c1, b1, t1 = cpu_s(proc.pid), busy_s(), time.perf_counter()
        assert not failures, failures[:3]
        return {"wall_s": t1 - t0, "server_cpu_s": c1 - c0, "busy_s": b1 - b0,
                "batches_a_write": dict(sorted(collections.Counter(batches).items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against (A)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40, help="a client's run: 40 ≈ 4,500 events")
    parser.add_argument("--step-ms", type=float, default=0.2, help="the recorded loop's training step")
    parser.add_argument("--bag", type=int, default=0,
                        help="re-cut each client's events into requests of this many plain events "
                             "(a client that posts small bags and waits for each; 0: as recorded)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    bodies = record(args.epochs, args.step_ms / 1e3)
    run = json.loads(bodies[0])["events"][0]["run"].encode()
    if args.bag:
        from provml.capture.encoding import expand

        plain = [e for b in bodies for e in expand(json.loads(b)["events"])]
        bodies = [json.dumps({"events": plain[i : i + args.bag]}).encode() for i in range(0, len(plain), args.bag)]
    streams = [[b.replace(run, run + b"-c%d" % k) for b in bodies] for k in range(args.clients)]
    warm = record(1, 0.0)[0].replace(run, b"warm-up-run")
    events = args.clients * sum(events_in(b) for b in bodies)
    sizes = [events_in(b) for b in bodies]
    print(f"{args.clients} clients × {len(bodies)} requests, {events} events (median "
          f"{statistics.median(sizes)} a request)", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = base_tree(args.base, Path(tmp))
        for rep in range(args.reps):
            for side in ("A", "B") if rep % 2 == 0 else ("B", "A"):
                store = Path(tmp) / f"store-{side}-{rep}"
                result = replay(str(base) if side == "A" else None, streams, warm, store)
                result["load"] = os.getloadavg()[0]
                result["ended"] = time.strftime("%H:%M:%S", time.gmtime())
                runs[side].append(result)
                shutil.rmtree(store, ignore_errors=True)
                print(f"rep {rep + 1} {side}: {events / result['wall_s']:.0f} events/s, server CPU "
                      f"{result['server_cpu_s'] / events * 1e6:.0f} µs an event, machine "
                      f"{result['busy_s'] / events * 1e6:.0f} µs an event "
                      f"({result['busy_s'] / result['wall_s']:.2f} cores), writes "
                      f"{result['batches_a_write']}, load {result['load']:.2f}", flush=True)

    def spread(values: list[float], digits: int = 0) -> dict[str, float]:
        return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
                "max": round(max(values), digits)}

    summary = {side: {
        "events_per_s": spread([events / r["wall_s"] for r in rs]),
        "server_cpu_us_per_event": spread([r["server_cpu_s"] / events * 1e6 for r in rs]),
        "machine_cpu_us_per_event": spread([r["busy_s"] / events * 1e6 for r in rs]),
    } for side, rs in runs.items()}
    out = {"base": args.base, "head": subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "clients": args.clients, "bag": args.bag, "requests_a_client": len(bodies), "events": events,
        "events_per_request_median": statistics.median(sizes),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "summary": summary, "runs": runs}
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
