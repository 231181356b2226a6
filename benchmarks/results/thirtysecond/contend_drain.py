"""One worker process (as ``provml ingest-worker`` runs it) draining a filled stream alone, or
with the writer (benchmarks/broker.py's pipeline) — README.md. ``python contend_drain.py [EVENTS]``
(events per capture process, default 15000)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import broker  # noqa: E402 - benchmarks/broker.py

from provml.ingest.streams import EVENTS, QUADS, WRITTEN, alive, ensure_groups  # noqa: E402


def run(variant: str, redis: broker.Redis, per_process: int) -> None:
    redis.client.flushall()
    total, _emit = broker.emit_all(redis.url, per_process, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        if variant == "writer":
            procs = broker.start_pipeline(redis.url, Path(tmp) / "store", 1, None)
        else:  # no writer: max_backlog 0, and no reclaiming of the bags it never acknowledges
            code = f"from provml.ingest.worker import _worker_process; _worker_process({redis.url!r}, None, 3600.0, 0)"
            procs = [subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})]
        pid = procs[-1].pid
        ensure_groups(redis.client)
        while not alive(redis.client)["workers"]:
            time.sleep(0.05)
        cpu, wall = broker.cpu_s(pid), time.perf_counter()
        while True:
            if variant == "writer":
                done = int(redis.client.get(WRITTEN) or 0) >= total
            else:
                info = redis.client.xinfo_groups(EVENTS)[0]
                done = int(info["lag"]) == 0 and int(info["entries-read"]) == int(redis.client.xlen(EVENTS))
                if done:  # every bag read: until the last hand-over is in the stream
                    handed = redis.client.xlen(QUADS)
                    time.sleep(0.3)
                    done = redis.client.xlen(QUADS) == handed
            if done:
                break
            time.sleep(0.02)
        cpu, wall = broker.cpu_s(pid) - cpu, time.perf_counter() - wall
        broker.stop(procs)
    print(json.dumps({"variant": variant, "events": total, "worker_cpu_us": 1e6 * cpu / total,
                      "wall_us": 1e6 * wall / total, "load": os.getloadavg()[0]}), flush=True)


def main() -> None:
    per_process = int(sys.argv[1]) if len(sys.argv) > 1 else 15000
    redis = broker.Redis()
    try:
        for _ in range(2):
            for variant in ("alone", "writer"):
                run(variant, redis, per_process)
    finally:
        redis.close()


if __name__ == "__main__":
    main()
