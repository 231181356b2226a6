"""Endpoint benchmark: ``provml serve`` next to ``oxigraph serve`` on the same data, in one run.

    .venv/bin/python benchmarks/endpoint.py [--runs 100] [--seconds 5] [--rounds 3]

1. Makes PROV-ML-shaped data through the real translation: ``--runs`` learning workflows (data
   preparation, a training of 5 epochs × 20 batches with a loss per batch, a model, a validation),
   about 1,900 triples each, and writes it to an on-disk store for each server.
2. Starts ``provml serve`` with every guard of issue 12 on (its defaults: each query in a
   killable, memory-capped worker process, nesting and SERVICE checks, 100,000 rows, the lean
   path for plain ``GET /sparql?query=`` with its result cache), and beside it
   (:data:`VARIANTS`) the same without the result cache (``--result-cache-mb 0``: every request
   evaluated), without the lean path (``--no-fast-reads``: every request through Flask), with
   queries in the server process (``--isolate-queries thread``, no cache) and with no time limit either
   (``--timeout-s 0``: evaluated on the request thread, no isolation at all) — the cost of
   isolation —, the server's front answering fixed bytes (:data:`FIXED`: granian embedded as
   ``provml serve`` runs it, no provml app: the ceiling of an answer from the front's event
   loop here), and ``oxigraph serve --union-default-graph`` (the
   same default-graph semantics); each on its own copy of the data. ``--only`` picks variants.
3. For each query and concurrency, alternates the two servers ``--rounds`` times and measures
   requests/s and latency percentiles with ``wrk`` (``apt-get install wrk``), or with a Python
   keep-alive load generator (``http.client`` threads) when wrk is missing.
4. The Q1–Q7 mix: each of the paper's queries once, one after the other, per server,
   alternated ``--rounds`` times (median total seconds).
5. Events/s through ``POST /api/events`` with 8 concurrent clients (validated and stored).

Writes ``benchmarks/results/endpoint.json``; docs/benchmarks.md has the table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "bench-token"
#: provml's time limit here: Q3 alone takes ~14 s in-process on this data, longer beside the
#: other servers on a loaded machine; the default (30 s) would cut it
TIMEOUT_S = 120

SIMPLE = ("SELECT ?s ?label WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label } "
          "LIMIT 10")


def q7() -> str:
    """The paper's Q7 (``kg/query/queries/q7.rq``) with the per-batch loss named ``loss``."""
    text = (ROOT / "kg" / "query" / "queries" / "q7.rq").read_text()
    return text.replace("rdfs:label ?loss", 'rdfs:label "loss"')


# -- data -------------------------------------------------------------------------------------


def run_events(i: int, *, epochs: int = 5, batches: int = 20) -> list[dict[str, Any]]:
    """One learning workflow as capture events (docs/events.md)."""
    run, t = f"bench-{i}", 1_700_000_000.0 + i * 1000
    common = {"v": 1, "run": run, "workflow": "bench-training"}
    location = f"data/train-{i % 10}.csv"
    events: list[dict[str, Any]] = [{**common, "kind": "workflow_begin", "t": t, "type": "learning"}]

    def task(name: str, kind: str, used: list[Any], generated: list[Any]) -> None:
        base = {**common, "task": name, "name": name, "type": kind}
        events.append({**base, "kind": "task_begin", "t": t, "used": used})
        if name == "train":
            for e in range(epochs):
                epoch = f"train/epoch-{e}"
                cyc = {**common, "stage": "train", "stage_type": "training"}
                events.append({**cyc, "kind": "cycle_begin", "t": t, "task": epoch, "name": "epoch",
                               "iteration": e, "parent": "train"})
                for b in range(batches):
                    batch = {**cyc, "task": f"{epoch}/batch-{b}", "name": "batch", "iteration": b,
                             "parent": epoch}
                    events.append({**batch, "kind": "cycle_begin", "t": t})
                    loss = 1.0 / (1 + e * batches + b) + (i % 7) * 0.01
                    events.append({**batch, "kind": "cycle_end", "t": t, "status": "finished",
                                   "generated": [{"name": "loss", "value": round(loss, 6)}]})
                events.append({**cyc, "kind": "cycle_end", "t": t, "task": epoch, "name": "epoch",
                               "iteration": e, "parent": "train", "status": "finished"})
        events.append({**base, "kind": "task_end", "t": t + 1, "status": "finished",
                       "generated": generated})

    dataset = {"name": "train_set", "role": "learning_dataset",
               "data": {"store": "local-fs", "location": location}}
    model = {"name": "model", "role": "model",
             "data": {"store": "local-fs", "location": f"models/{run}.pt"}}
    task("prep", "generic", [{"name": "train_wells", "value": f"wells-{i % 10}"}], [dataset])
    task("train", "training",
         [{"name": "learning_rate", "role": "hyperparameter", "value": 0.001 * (1 + i % 5)},
          {"name": "batch_size", "role": "hyperparameter", "value": 32}, dataset],
         [model, {"name": "accuracy", "role": "evaluation", "value": 0.7 + (i % 30) / 100,
                  "about": "model"}])
    task("validate", "validation", [model],
         [{"name": "val_accuracy", "role": "evaluation", "value": 0.6 + (i % 30) / 100,
           "about": "model"}])
    events.append({**common, "kind": "workflow_end", "t": t + 2, "status": "finished"})
    return events


def make_data(runs: int, workdir: Path, *, ontologies: bool = True) -> tuple[Path, int]:
    """Translate ``runs`` workflows (enriched, not validated: speed) and dump them as N-Quads,
    with the ontology graphs every provml store holds (``ontologies``): both servers get the
    same quads, and ``provml serve`` has nothing to write at start."""
    from pyoxigraph import RdfFormat

    from provml.knowledge import KnowledgeGraph
    from provml.store import open_store

    kg = KnowledgeGraph(open_store(), validate=False)
    if ontologies:
        kg.load_ontologies()
    for i in range(runs):
        kg.ingest_events(run_events(i))
    nq = workdir / "data.nq"
    nq.write_bytes(kg.store.dump(format=RdfFormat.N_QUADS))
    count = len(kg.store)
    kg.close()
    return nq, count


# -- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {url}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url}")


THREAD = "provml serve --isolate-queries thread --result-cache-mb 0"

#: the provml variants besides the default (every guard on, the lean read path on)
VARIANTS: dict[str, list[str]] = {
    "provml serve": [],
    "provml serve --result-cache-mb 0": ["--result-cache-mb", "0"],
    "provml serve --no-fast-reads": ["--no-fast-reads"],
    # the cost of isolation: queries in the server process, evaluated every time (no cache)
    THREAD: ["--isolate-queries", "thread", "--result-cache-mb", "0"],
    THREAD + " --timeout-s 0": ["--isolate-queries", "thread", "--result-cache-mb", "0"],
}


#: the front answering fixed bytes (benchmarks/fixed_app.py): the ceiling of a cached answer
FIXED = "the front + a fixed answer (no provml)"


def start_servers(nq: Path, workdir: Path, threads: int,
                  only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every variant of :data:`VARIANTS` (those named in ``only`` when given), ``oxigraph
    serve``, and the front answering fixed bytes — each on its own copy of the data."""
    import pyoxigraph

    env = {**os.environ, "PROVML_TOKEN": TOKEN}
    servers: dict[str, Any] = {}
    waits: list[tuple[str, subprocess.Popen[bytes]]] = []
    for i, (name, extra) in enumerate(VARIANTS.items()):
        if only is not None and name not in only and name != "provml serve":
            continue
        directory = workdir / f"provml-store-{i}"
        store = pyoxigraph.Store(str(directory))
        store.bulk_load(path=str(nq), format=pyoxigraph.RdfFormat.N_QUADS)
        store.flush()
        del store
        port = free_port()
        timeout = "0" if name.endswith(" --timeout-s 0") else str(TIMEOUT_S)
        process = subprocess.Popen(
            [str(BIN / "provml"), "serve", "--store", str(directory), "--port", str(port),
             "--threads", str(threads), "--timeout-s", timeout, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        servers[name] = {"process": process, "query_url": f"http://127.0.0.1:{port}/sparql"}
        waits.append((f"http://127.0.0.1:{port}/health", process))
    if only is None or FIXED in only:  # the front's ceiling: the same answer, no provml
        for url, process in waits[:1]:
            wait_for(url, process)
        first = next(iter(servers.values()))["query_url"]
        body = urllib.request.urlopen(urllib.request.Request(
            first + "?" + urllib.parse.urlencode({"query": SIMPLE}),
            headers={"Accept": "application/sparql-results+json"}), timeout=60).read()
        (workdir / "fixed-body").write_bytes(body)
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "fixed_app.py"), str(port),
             str(workdir / "fixed-body")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers[FIXED] = {"process": process, "query_url": f"http://127.0.0.1:{port}/sparql"}
        waits.append((f"http://127.0.0.1:{port}/health", process))
    oxigraph_dir, o_port = workdir / "oxigraph-store", free_port()
    subprocess.run([str(BIN / "oxigraph"), "load", "--location", str(oxigraph_dir),
                    "--file", str(nq)], check=True, capture_output=True)
    oxigraph = subprocess.Popen(
        [str(BIN / "oxigraph"), "serve", "--location", str(oxigraph_dir), "--bind",
         f"127.0.0.1:{o_port}", "--union-default-graph"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers["oxigraph serve"] = {"process": oxigraph, "query_url": f"http://127.0.0.1:{o_port}/query"}
    for url, process in waits:
        wait_for(url, process)
    wait_for(f"http://127.0.0.1:{o_port}/query?query=ASK%7B%7D", oxigraph)
    return servers


def stop(servers: dict[str, Any]) -> None:
    for server in servers.values():
        process: subprocess.Popen[bytes] = server["process"]
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# -- load -------------------------------------------------------------------------------------

_WRK_LATENCY = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def load_wrk(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t", str(min(concurrency, 2)), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s",
         "--timeout", "120s", "--latency", "-H", "Accept: application/sparql-results+json", url],
        check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = {f"p{m[0]}_ms": float(m[1]) * _UNIT[m[2]] for m in _WRK_LATENCY.findall(out)}
    return {"requests_per_s": rps, **lat, "non_2xx": float(errors.group(1)) if errors else 0.0,
            "requests": done}


def load_python(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    parts = urllib.parse.urlsplit(url)
    path = parts.path + "?" + parts.query
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        mine: list[float] = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            conn.request("GET", path, headers={"Accept": "application/sparql-results+json"})
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cuts = (statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1
            else latencies * 99 or [0.0] * 99)
    return {"requests_per_s": len(latencies) / elapsed, "p50_ms": cuts[49], "p90_ms": cuts[89],
            "p99_ms": cuts[98], "non_2xx": float(errors[0]), "requests": float(len(latencies))}


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and every live descendant (query
    workers), from /proc: a measure of cost less swayed than requests/s by
    what else runs on the machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == current)
    return total


def measure(servers: dict[str, Any], query: str, concurrency: int, seconds: float, rounds: int,
            use_wrk: bool, *, names: tuple[str, ...] = ("provml serve", "oxigraph serve")
            ) -> dict[str, Any]:
    """Alternate the servers ``rounds`` times; wrk for fast queries, the Python generator (which
    lets a request started before the end finish) for slow ones. The ratio is the first of
    ``names`` over ``oxigraph serve``."""
    load = load_wrk if use_wrk and len(query) < 1000 else load_python
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:  # alternate: provml, oxigraph, provml, ...
            url = servers[name]["query_url"] + "?" + urllib.parse.urlencode({"query": query})
            pid = servers[name]["process"].pid
            before = cpu_seconds(pid)
            sample = load(url, concurrency, seconds)
            used = cpu_seconds(pid) - before
            sample["cpu_us_per_request"] = used / max(sample["requests"], 1.0) * 1e6
            samples[name].append(sample)
    out: dict[str, Any] = {}
    for name, runs in samples.items():
        out[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        out[name]["rounds"] = runs
    ours, theirs = out[names[0]]["requests_per_s"], out["oxigraph serve"]["requests_per_s"]
    out["ratio"] = ours / theirs if theirs else 0.0
    out["ratios"] = {name: out[name]["requests_per_s"] / theirs if theirs else 0.0
                     for name in names if name != "oxigraph serve"}
    # oxigraph's CPU per request over each one's: the throughput a fully used CPU would give
    cost = out["oxigraph serve"]["cpu_us_per_request"]
    out["cpu_ratios"] = {name: cost / out[name]["cpu_us_per_request"]
                         if out[name]["cpu_us_per_request"] else 0.0
                         for name in names if name != "oxigraph serve"}
    return out


def mix(servers: dict[str, Any], names: tuple[str, ...], rounds: int) -> dict[str, Any]:
    """Q1–Q7 each once, one after the other, per server, alternated; median total seconds
    (the ratio is oxigraph's time over the first of ``names``: above 1 provml is faster)."""
    texts = [(ROOT / "kg" / "query" / "queries" / f"q{i}.rq").read_text() for i in range(1, 7)]
    texts.append(q7())
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(max(rounds, 1)):
        for name in names:
            started = time.perf_counter()
            for text in texts:
                data = urllib.parse.urlencode({"query": text}).encode()
                request = urllib.request.Request(servers[name]["query_url"], data=data, headers={
                    "Accept": "application/sparql-results+json",
                    "Content-Type": "application/x-www-form-urlencoded"})
                with urllib.request.urlopen(request, timeout=300) as response:
                    response.read()
            samples[name].append(time.perf_counter() - started)
    out: dict[str, Any] = {name: {"seconds": statistics.median(runs), "rounds": runs}
                           for name, runs in samples.items()}
    out["ratio"] = out["oxigraph serve"]["seconds"] / out[names[0]]["seconds"]
    return out


def events_per_s(clients: int, batches_per_client: int, threads: int) -> dict[str, float]:
    """8 clients POST whole runs (≈ 230 events each) to /api/events of a fresh in-memory
    ``provml serve`` (validated with SHACL, enriched, stored)."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "provml"), "serve", "--port", str(port), "--threads", str(threads),
         "--max-body-mb", "64"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PROVML_TOKEN": TOKEN})
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        bodies = [[json.dumps(run_events(10_000 + c * batches_per_client + b)).encode()
                   for b in range(batches_per_client)] for c in range(clients)]
        sent = sum(len(run_events(0)) for _ in range(clients * batches_per_client))
        statuses: list[int] = []

        def client(mine: list[bytes]) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            for body in mine:
                conn.request("POST", "/api/events", body=body, headers={
                    "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
            conn.close()

        # warm-up (first batch loads the shapes and the ontology closure)
        client([json.dumps(run_events(99_999)).encode()])
        started = time.monotonic()
        workers = [threading.Thread(target=client, args=(b,)) for b in bodies]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
        ok = sum(1 for s in statuses if s == 202)
        return {"clients": clients, "batches": len(statuses) - 1, "accepted": ok - 1,
                "events": sent, "seconds": elapsed, "events_per_s": sent / elapsed,
                "batches_per_s": (len(statuses) - 1) / elapsed}
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="workflows in the data set")
    parser.add_argument("--seconds", type=float, default=5, help="duration of one load sample")
    parser.add_argument("--rounds", type=int, default=3, help="alternations per measurement")
    parser.add_argument("--threads", type=int, default=16, help="provml serve --threads")
    parser.add_argument("--events-batches", type=int, default=3,
                        help="runs each of the 8 event clients posts (0: no events run)")
    parser.add_argument("--mix-rounds", type=int, default=3,
                        help="alternations of the Q1-Q7 mix and Q7 (0: neither)")
    parser.add_argument("--only", default=None,
                        help="comma-separated server names to run besides 'provml serve' and "
                             "'oxigraph serve' (default: every variant)")
    parser.add_argument("--clients", default="1,4,8",
                        help="comma-separated client counts for the simple SELECT (the issue's "
                             "own measurement used wrk with 4 connections)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "endpoint.json")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    workdir = Path(tempfile.mkdtemp(prefix="provml-bench-"))
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "load_generator": "wrk" if use_wrk else "python http.client threads",
        "provml_threads": args.threads,
        "load_average_before": os.getloadavg(),
    }
    try:
        started = time.monotonic()
        nq, triples = make_data(args.runs, workdir)
        result["data"] = {"runs": args.runs, "quads": triples,
                          "generation_s": time.monotonic() - started}
        print(f"data: {triples} quads from {args.runs} runs", flush=True)
        only = tuple(n.strip() for n in args.only.split(",")) if args.only else None
        servers = start_servers(nq, workdir, args.threads, only)
        try:
            everyone = tuple(servers)
            # Q7 and the mix without the result cache: Q7 repeated would be answered from it
            # (the mix goes by POST, which the cache does not serve, anyway)
            ours = ("provml serve --result-cache-mb 0" if "provml serve --result-cache-mb 0"
                    in servers else "provml serve")
            three = tuple(n for n in (ours, "oxigraph serve", THREAD) if n in servers)
            plan = [("simple_select", SIMPLE, int(clients), args.seconds, args.rounds, everyone)
                    for clients in args.clients.split(",")]
            if args.mix_rounds:
                plan.append(("q7", q7(), 2, args.seconds * 3, max(1, args.rounds - 1), three))
            result["queries"] = {"simple_select": SIMPLE,
                                 "q7": "kg/query/queries/q7.rq, loss='loss'",
                                 "mix": "kg/query/queries/q1.rq ... q7.rq, each once"}
            result["results"] = []
            for name, query, concurrency, seconds, rounds, names in plan:
                row = measure(servers, query, concurrency, seconds, rounds, use_wrk, names=names)
                row.update({"query": name, "concurrency": concurrency})
                result["results"].append(row)
                print(f"{name} c={concurrency}: " + ", ".join(
                    f"{n} {row[n]['requests_per_s']:.2f} req/s "
                    f"({row[n]['cpu_us_per_request']:.0f} us CPU)" for n in names)
                    + f"; ratio {row['ratio']:.2f}", flush=True)
            if args.mix_rounds:
                result["mix"] = mix(servers, three, args.mix_rounds)
                print("Q1-Q7 mix: " + ", ".join(f"{n} {result['mix'][n]['seconds']:.2f} s"
                                                for n in three)
                      + f"; ratio {result['mix']['ratio']:.2f}", flush=True)
        finally:
            stop(servers)
        if args.events_batches:
            result["events"] = events_per_s(8, args.events_batches, args.threads)
            print(f"events: {result['events']['events_per_s']:.0f} events/s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        result["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
