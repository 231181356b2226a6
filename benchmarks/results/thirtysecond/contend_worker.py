"""One broker worker draining a filled stream alone, beside a pure-Python loop, or beside a
process bulk-loading N-Quads into an on-disk Oxigraph store (README.md). Run from anywhere:
``python contend_worker.py`` (starts its own redis-server through benchmarks/broker.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import broker  # noqa: E402 - benchmarks/broker.py

from provml.ingest.worker import Worker  # noqa: E402

SPIN = "x = 0\nwhile True:\n    x += 1\n"
ROCKS = r'''
import itertools, tempfile
import pyoxigraph
lines = "".join(f'<http://e/s{i}> <http://e/p{i % 7}> "{i * 0.37}"^^<http://www.w3.org/2001/XMLSchema#double> <http://e/g> .\n'
                for i in range(200000)).encode()
store = pyoxigraph.Store(tempfile.mkdtemp())
for k in itertools.count():
    store.bulk_load(lines.replace(b"http://e/s", f"http://e/{k}/s".encode()), pyoxigraph.RdfFormat.N_QUADS)
'''


def run(variant: str, redis: broker.Redis) -> None:
    redis.client.flushall()
    broker.emit_all(redis.url, 15000, 0.0)
    other = None
    if variant != "alone":
        other = subprocess.Popen([sys.executable, "-c", SPIN if variant == "spin" else ROCKS])
        time.sleep(2)
    worker = Worker(redis.url, block_s=0.05, batch=8, max_backlog=0)
    worker.step()
    cpu, wall = time.process_time(), time.perf_counter()
    bags = 0
    while step := worker.step():
        bags += step
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    worker.close()
    if other:
        other.kill()
        other.wait()
    events = bags * 100  # bags of 50 records, a batch's begin and end each
    print(json.dumps({"variant": variant, "bags": bags, "cpu_us_per_event": 1e6 * cpu / events,
                      "wall_us": 1e6 * wall / events, "load": os.getloadavg()[0]}), flush=True)


def main() -> None:
    redis = broker.Redis()
    try:
        for _ in range(2):
            for variant in ("alone", "spin", "rocks"):
                run(variant, redis)
    finally:
        redis.close()


if __name__ == "__main__":
    main()
