"""Ingest cost per event as the store grows: the same workload written group after group into one
on-disk store, each ingest part's CPU per event recorded against the number of quads stored.

    python benchmarks/ingest_growth.py [--groups 12] [--events 10000] [--small 2] [--small-events 500]
                                       [--paths writer kg] [--optimize-every 0] [--tmp DIR] [--out FILE]

Two stores grow side by side, group by group alternating (A B A B …), one per write path:

* **writer** — the broker writer's passes (``provml.ingest.handover.write_passes``): stage links
  through a store lookup, the write, then ``late_links`` and ``update_summaries`` (SPARQL over the
  store after the write); translation, enrichment and validation as a broker worker does them;
* **kg** — ``KnowledgeGraph``'s path (``provml load --together``, ``POST /api/events``,
  ``Client(store=...)``): ``prepare_batch`` then ``store_batch`` (late links and summaries
  planned by pattern reads before the write, the summaries replaced after it).

Each group is ``--events`` events of new runs (about 10,000: ``provml load``'s ``--together``);
after it, ``--small`` bags of ``--small-events`` events each go through the kg path's whole
``ingest_events`` (the endpoint's bag size) and are timed as one number. Parts are measured in
thread CPU seconds (``time.thread_time``; the bulk loader's own threads and RocksDB's background
compactions are in the group's process CPU instead). ``--optimize-every N`` runs
``OxigraphStore.optimize()`` after every N-th group (its CPU recorded) to see what compaction buys.

Prints a table per group and saves ``benchmarks/results/ingest_growth.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pyoxigraph  # noqa: E402
import workload  # noqa: E402

from provml.ingest.enrichment import with_entailed_types  # noqa: E402
from provml.ingest.plan_reads import Future  # noqa: E402
from provml.ingest.shortcuts import late_links, stage_links, store_lookup  # noqa: E402
from provml.ingest.summaries import update_summaries  # noqa: E402
from provml.ingest.summary_plan import apply, plan, plan_late_links  # noqa: E402
from provml.ingest.translation import translate  # noqa: E402
from provml.ingest.validation import validate_triples  # noqa: E402
from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402
from provml.vocab import PROV, PROVML  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "ingest_growth.json"


def group_events(group: int, n: int, tag: str) -> list[dict[str, Any]]:
    """About ``n`` events of runs no other group has (the workload's runs, renamed)."""
    per_run = 4 + 10 * (2 + 2 * 35)
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) + per_run <= max(n, per_run):
        out.extend(workload.learning_run(f"{tag}-{group}-{i}", epochs=10, batches=35))
        i += 1
    return out


class Parts:
    """Thread CPU seconds per named part."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}

    def time(self, name: str, fn: Callable[[], Any]) -> Any:
        t = time.thread_time()
        out = fn()
        self.s[name] = self.s.get(name, 0.0) + time.thread_time() - t
        return out


def prepare(kg: KnowledgeGraph, events: list[dict[str, Any]], parts: Parts) -> list[pyoxigraph.Quad]:
    quads: list[pyoxigraph.Quad] = parts.time("translate", lambda: translate(events, iris=kg.iris))
    quads = quads + parts.time("shortcuts", lambda: stage_links(quads, store_lookup(kg.store)))
    quads = parts.time("enrich", lambda: with_entailed_types(quads, kg.closure()))

    def context() -> list[pyoxigraph.Quad]:
        subjects = {q.subject for q in quads}
        refs = {q.object for q in quads if isinstance(q.object, pyoxigraph.NamedNode) and q.object not in subjects}
        return list(kg._types_of(refs))

    ctx = parts.time("context", context)
    report = parts.time("validate", lambda: validate_triples([*quads, *ctx]))
    assert not report.violations, report
    return quads


#: what the writer's passes read before they were planned (its ``_PASSES`` until then)
_FORMER_PASSES = frozenset({PROV.wasInformedBy, PROVML.iteration, PROVML.stageExecution, PROV.wasGeneratedBy})


def write_writer(kg: KnowledgeGraph, quads: list[pyoxigraph.Quad], parts: Parts) -> None:
    """The broker writer before its passes were planned (``handover.write_passes`` with
    ``complete=False``, step by step): the write, then ``late_links`` and ``update_summaries``
    through SPARQL over the store."""
    from provml.ingest.handover import load, nquads

    data = nquads(quads)  # the worker's side: not timed
    keys = nquads([q for q in quads if q.predicate in _FORMER_PASSES])
    read = parts.time("receive", lambda: list(pyoxigraph.parse(keys, format=pyoxigraph.RdfFormat.N_QUADS)))
    parts.time("write", lambda: load(kg.store, data, atomic=False))
    parts.time("late_links", lambda: late_links(kg.store, read))
    parts.time("summaries", lambda: update_summaries(kg.store, read))


def write_planned(kg: KnowledgeGraph, quads: list[pyoxigraph.Quad], parts: Parts) -> None:
    """The broker writer as it is now (``handover.write_passes``): the group's N-Quads bytes and
    the quads its passes read, as a worker hands them over; late links and summaries planned
    before the write."""
    from provml.ingest.handover import _split, nquads, write_passes

    data = nquads(quads)  # the worker's side: not timed
    read = parts.time("receive", lambda: list(pyoxigraph.parse(nquads(_split(quads)[0]),
                                                                format=pyoxigraph.RdfFormat.N_QUADS)))
    parts.time("write+passes", lambda: write_passes(kg.store, data, read, atomic=False, complete=True))


def write_kg(kg: KnowledgeGraph, quads: list[pyoxigraph.Quad], parts: Parts) -> None:
    """``summary_plan.store_batch``'s steps, each timed."""
    future = Future(kg.store.raw, quads)  # type: ignore[attr-defined]
    links = parts.time("late_links", lambda: plan_late_links(kg.store, quads, future=future))
    planned = parts.time("summaries", lambda: plan(kg.store, quads, future=future))
    assert links is not None and planned is not None
    parts.time("write", lambda: kg.store.add([*quads, *links]))
    parts.time("summaries", lambda: apply(kg.store, planned))


def thread_cpu_s(pid: int | str = "self") -> dict[str, float]:
    """CPU seconds of a process's live threads (this one's by default), summed by thread name
    (``rocksdb:low``: compactions, ``rocksdb:high``: flushes)."""
    out: dict[str, float] = {}
    for name, cpu in threads_cpu(pid).values():
        out[name] = out.get(name, 0.0) + cpu
    return out


def threads_cpu(pid: int | str = "self") -> dict[int, tuple[str, float]]:
    """Each live thread of a process (this one's by default): its name and CPU seconds."""
    out: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:  # the process ended
        return out
    for tid in tids:
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)  # utime, stime
    return out


def settle(pid: int | str = "self", *, quiet_s: float = 5.0, limit_s: float = 600.0) -> tuple[float, dict[str, float]]:
    """Wait until the RocksDB threads of a process (this one's by default) have used no CPU (under
    0.01 s) for ``quiet_s``, ``limit_s`` at most: the wall time until their last work, and the CPU
    seconds they used meanwhile by thread name (``rocksdb:low``: compactions, ``rocksdb:high``:
    flushes)."""
    keys = ("rocksdb:low", "rocksdb:high")
    start, first = time.perf_counter(), thread_cpu_s(pid)
    last, busy_until = first, start
    while time.perf_counter() - busy_until < quiet_s and time.perf_counter() - start < limit_s:
        time.sleep(0.5)
        now = thread_cpu_s(pid)
        if sum(now.get(k, 0.0) for k in keys) - sum(last.get(k, 0.0) for k in keys) > 0.01:
            busy_until = time.perf_counter()
        last = now
    return busy_until - start, {k: last.get(k, 0.0) - first.get(k, 0.0) for k in keys}


def background_cpu_s() -> float:
    """CPU seconds of this process's RocksDB background threads (flushes and compactions)."""
    return sum(cpu for name, cpu in thread_cpu_s().items() if name.startswith("rocksdb"))


def run_group(kg: KnowledgeGraph, name: str, g: int, args: argparse.Namespace, path: Path) -> dict[str, Any]:
    events = group_events(g, args.events, "big")
    parts = Parts()
    cpu, bg = time.process_time(), background_cpu_s()
    quads = prepare(kg, events, parts)
    {"writer": write_writer, "kg": write_kg, "planned": write_planned}[name](kg, quads, parts)
    cpu, bg = time.process_time() - cpu, background_cpu_s() - bg
    small = group_events(g, args.small * args.small_events, "small")
    t = time.thread_time()
    for i in range(0, len(small), args.small_events):
        kg.ingest_events(small[i:i + args.small_events])
    small_s = time.thread_time() - t
    optimize_s = None
    if args.optimize_every and (g + 1) % args.optimize_every == 0:
        t = time.process_time()
        kg.store.optimize()  # type: ignore[attr-defined]
        optimize_s = time.process_time() - t
    return {"path": name, "group": g, "quads_after": len(kg.store), "events": len(events),
            "us_per_event": {k: 1e6 * v / len(events) for k, v in parts.s.items()},
            "process_cpu_us_per_event": 1e6 * cpu / len(events),
            "background_cpu_us_per_event": 1e6 * bg / len(events),
            "small_events": len(small), "small_us_per_event": 1e6 * small_s / max(1, len(small)),
            "optimize_cpu_s": optimize_s, "sst_files": len(list(path.glob("*.sst"))),
            "python_objects": len(gc.get_objects()), "load": os.getloadavg()[0]}


def serve(name: str, path: Path, args: argparse.Namespace, conn: Any) -> None:
    """One path's store in its own process (its own RocksDB threads): a group per request."""
    os.environ["OMP_NUM_THREADS"] = "1"
    kg = KnowledgeGraph(OxigraphStore(path))
    kg.closure()
    try:
        while (g := conn.recv()) is not None:
            conn.send(run_group(kg, name, g, args, path))
    finally:
        kg.close()


def main() -> None:
    import multiprocessing

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=10)
    ap.add_argument("--events", type=int, default=10_000, help="events a group (about)")
    ap.add_argument("--small", type=int, default=2, help="small bags after each group through ingest_events")
    ap.add_argument("--small-events", type=int, default=500)
    ap.add_argument("--paths", nargs="+", choices=["writer", "planned", "kg"], default=["writer", "kg"])
    ap.add_argument("--optimize-every", type=int, default=0, help="OxigraphStore.optimize() after every N groups")
    ap.add_argument("--tmp", type=Path, default=None, help="where the stores grow (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="provml-growth-", dir=args.tmp))
    out: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(),
                           "pyoxigraph": pyoxigraph.__version__, "events_a_group": args.events,
                           "small": args.small, "small_events": args.small_events,
                           "optimize_every": args.optimize_every, "load_before": os.getloadavg(), "groups": []}
    ctx = multiprocessing.get_context("spawn")
    workers = {}
    for name in args.paths:
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=serve, args=(name, tmp / name, args, theirs))
        proc.start()
        workers[name] = (proc, mine)
    try:
        for g in range(args.groups):
            for name, (_proc, conn) in workers.items():  # alternate the paths group by group
                conn.send(g)
                row = conn.recv()
                out["groups"].append(row)
                us = row["us_per_event"]
                opt = row["optimize_cpu_s"]
                print(f"{name:>6} g{g:<2} {row['quads_after']:>9} quads {row['sst_files']:>3} sst | "
                      + " ".join(f"{k} {v:.0f}" for k, v in us.items())
                      + f" | process {row['process_cpu_us_per_event']:.0f} us/ev, rocksdb threads "
                      f"{row['background_cpu_us_per_event']:.0f} | {row['python_objects'] / 1e6:.2f}M objects | small bags {row['small_us_per_event']:.0f} us/ev"
                      + (f" | optimize {opt:.2f} s" if opt is not None else "")
                      + f" | load {row['load']:.1f}", flush=True)
    finally:
        for proc, conn in workers.values():
            conn.send(None)
            proc.join()
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_after"] = os.getloadavg()
    # the store-side parts (what the broker writer does) and the whole, first groups against last
    store_side = ("receive", "write", "late_links", "summaries", "write+passes")
    out["summary"] = {}
    for name in args.paths:
        rows = [r for r in out["groups"] if r["path"] == name]
        side = [sum(v for k, v in r["us_per_event"].items() if k in store_side) + r["background_cpu_us_per_event"]
                for r in rows]
        whole = [r["process_cpu_us_per_event"] for r in rows]
        small = [r["small_us_per_event"] for r in rows]
        first, last = slice(0, 2), slice(-3, None)
        out["summary"][name] = {"store_side_first2": side[first], "store_side_last3": side[last],
                                "process_first2": whole[first], "process_last3": whole[last],
                                "small_bags_2nd": small[1:2], "small_bags_last3": small[last],
                                "quads_first2": [r["quads_after"] for r in rows[first]],
                                "quads_last3": [r["quads_after"] for r in rows[last]]}
        print(f"{name:>7}: store side (write, late links, summaries, RocksDB threads) "
              f"{' '.join(f'{x:.0f}' for x in side[first])} -> {' '.join(f'{x:.0f}' for x in side[last])} us/ev; "
              f"process {' '.join(f'{x:.0f}' for x in whole[first])} -> {' '.join(f'{x:.0f}' for x in whole[last])} "
              f"us/ev; small bags {' '.join(f'{x:.0f}' for x in small[last])} us/ev at the end")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
