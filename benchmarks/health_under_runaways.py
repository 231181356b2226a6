"""``/health`` while eight runaway queries run, and how long SIGTERM then takes (issue 12).

Starts ``provml serve`` (every default, ``--timeout-s 20``) on a fresh on-disk store holding 1,800
triples, starts eight queries whose filter never matches (a 3-way cross product: they run until
the time limit), probes ``/health`` ``--probes`` times while they run, then sends SIGTERM with
them in flight. Prints and saves (``--out``) the probes' latencies (median, max) and the time
from SIGTERM to exit.

    python benchmarks/health_under_runaways.py [--probes 20] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from serving import start_serve

BIN = Path(sys.executable).parent
EX = "http://example.org/"
RUNAWAY = ("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i "
           "FILTER(STR(?c) = CONCAT(STR(?f), STR(?i), 'never')) }")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "health_under_runaways.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="provml-health-"))
    token = "health-bench-token"
    server, url = start_serve(work / "kg", "--timeout-s", "20", token=token)
    try:
        triples = " ".join(f'<{EX}s{i}> <{EX}p{i % 7}> "value {i}" .' for i in range(1800))
        requests.post(url + "/sparql", data={"update": f"INSERT DATA {{ {triples} }}"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=60).raise_for_status()

        def runaway() -> None:
            with contextlib.suppress(requests.RequestException):
                requests.get(url + "/sparql", params={"query": RUNAWAY}, timeout=60)

        threads = [threading.Thread(target=runaway, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        latencies = []
        for _ in range(args.probes):
            started = time.perf_counter()
            response = requests.get(url + "/health", timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            time.sleep(0.1)
        running = sum(thread.is_alive() for thread in threads)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        stop_s = time.monotonic() - started
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    result = {"probes": args.probes, "health_ms_median": statistics.median(latencies),
              "health_ms_max": max(latencies), "runaways_running_at_sigterm": running,
              "sigterm_to_exit_s": stop_s, "exit_code": code, "load": os.getloadavg()}
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
