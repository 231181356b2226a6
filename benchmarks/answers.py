"""What large answers cost ``provml serve``: the time a fast client takes to get one, and the
memory slow clients hold.

Starts ``provml serve`` (defaults, ``--result-cache-mb 0`` so each request is evaluated) on a
fresh on-disk store of ``--triples`` triples with 200-character literals, then:

1. **fast clients**: ``--reps`` requests, one after the other, for the whole store as CSV (a
   distinct query text each time), read at full speed; the time of each (median, min–max);
2. **slow clients**: ``--slow`` connections ask for the same answer, ``--spacing-s`` apart, and
   each takes 512 bytes a second; the server's resident memory (VmRSS) and ``/health``'s time
   every 5 s for ``--watch-s`` seconds from the last request, and how many got an answer's start
   (200) or a refusal (503: worker queue or ``--max-unsent-mb``).

Prints and saves (``--out``) a JSON summary. Run it from two checkouts to compare code.

    python benchmarks/answers.py [--triples 50000] [--reps 7] [--slow 24] [--spacing-s 0.7] [--watch-s 150] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import requests
from serving import start_serve

EX = "http://example.org/"


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def request(port: int, n: int) -> bytes:
    query = quote(f"SELECT * WHERE {{ ?s ?p ?o FILTER(true || {n}) }}")
    return (f"GET /sparql?query={query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/csv\r\n"
            f"Connection: close\r\n\r\n").encode()


def fast(port: int, n: int) -> tuple[float, int]:
    started = time.perf_counter()
    size = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request(port, n))
        while chunk := sock.recv(1 << 20):
            size += len(chunk)
    return time.perf_counter() - started, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triples", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--slow", type=int, default=24)
    parser.add_argument("--spacing-s", type=float, default=0.7,
                        help="between two slow clients' requests (each gets a worker)")
    parser.add_argument("--watch-s", type=float, default=150.0)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "answers.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="provml-answers-"))
    token = "answers-bench-token"
    # glibc's fixed mmap threshold: each answer's memory goes back to the system when it is
    # freed (with the dynamic threshold, freed answers stay in the heap and VmRSS tells nothing
    # of what is held)
    server, url = start_serve(work / "kg", "--result-cache-mb", "0", token=token,
                              env={"MALLOC_MMAP_THRESHOLD_": "131072"})
    port = int(url.rsplit(":", 1)[1])
    socks: list[socket.socket] = []
    stop = threading.Event()
    try:
        for start in range(0, args.triples, 10_000):
            data = " ".join(f'<{EX}s{i}> <{EX}p> "{"x" * 200} {i}" .'
                            for i in range(start, min(args.triples, start + 10_000)))
            response = requests.post(url + "/sparql", data=f"INSERT DATA {{ {data} }}",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/sparql-update"},
                                     timeout=300)
            response.raise_for_status()
        rss_start = rss_mb(server.pid)
        times, size = [], 0
        for n in range(args.reps):
            took, size = fast(port, n)
            times.append(took)
        # slow clients: a small receive buffer, 512 bytes a second
        statuses: list[bytes] = []

        def trickle(sock: socket.socket) -> None:
            first = True
            while not stop.is_set():
                try:
                    data = sock.recv(512)
                except OSError:
                    return
                if not data:
                    return
                if first:
                    statuses.append(data.split(b" ", 2)[1])
                    first = False
                time.sleep(1)

        for n in range(args.slow):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(request(port, 1000 + n))
            socks.append(sock)
            threading.Thread(target=trickle, args=(sock,), daemon=True).start()
            time.sleep(args.spacing_s)
        watched = []
        began = time.monotonic()
        while time.monotonic() - began < args.watch_s:
            time.sleep(5)
            health = time.perf_counter()
            ok = requests.get(url + "/health", timeout=30).status_code
            watched.append({"t_s": round(time.monotonic() - began),
                            "rss_mb": round(rss_mb(server.pid), 1),
                            "health_s": round(time.perf_counter() - health, 4),
                            "health": ok})
        result = {
            "triples": args.triples, "answer_bytes": size,
            "fast_s": {"median": statistics.median(times), "min": min(times),
                       "max": max(times), "all": times},
            "rss_before_slow_mb": round(rss_start, 1),
            "slow_clients": args.slow,
            "slow_statuses": {s.decode(): statuses.count(s) for s in set(statuses)},
            "slow_watch": watched,
            "rss_max_mb": max(w["rss_mb"] for w in watched),
            "rss_end_mb": watched[-1]["rss_mb"],
        }
    finally:
        stop.set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(30)
    print(json.dumps({k: v for k, v in result.items() if k != "slow_watch"}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
