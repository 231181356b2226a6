"""What small transactions cost an on-disk store as it grows, with and without early flushes of
its memtables (``provml.store.oxigraph.FLUSH_QUADS`` / ``FLUSH_SHARE``).

    .venv/bin/python benchmarks/memtable_flush.py [--quads 2000000] [--bag 600] [--reps 1]
        [--variants adaptive,fixed,share20,none] [--settle SECONDS] [--out FILE]

The quads are the ingest benchmark's (``workload.events(10000)`` through the whole pipeline, in
memory, ≈ 107,000 quads), copied as often as needed with their instance IRIs renamed
(``…/provml/id/`` → ``…/provml/id/cK/``): new runs of the same shape, the vocabulary shared.
They are written in bags of ``--bag`` quads (≈ 600: a bag of 50 events, as the endpoint's ``POST
/api/events`` takes them) through ``OxigraphStore.add`` — one transaction each — into a new
on-disk store, once per variant, the variants alternating:

* ``adaptive`` — the code as it is: the memtables flushed once ``FLUSH_QUADS`` quads, or
  1/``FLUSH_SHARE`` of the store's quads (from its size on disk), went there since the last flush;
* ``fixed`` — flushed every ``FLUSH_QUADS`` quads, whatever the store's size;
* ``shareN`` (e.g. ``share20``) — as ``adaptive`` with ``FLUSH_SHARE`` = N: a flush once 1/N of
  the store's quads went to the memtables (a smaller N: fewer, larger flushes);
* ``none`` — RocksDB's own flushes only (a memtable of 64 MB an index).

Recorded: the thread CPU of the ``add`` calls (parsing the bag is left out) and its µs a quad in
each quarter of the bags (medians), the CPU of RocksDB's threads (``rocksdb:low`` compactions,
``rocksdb:high`` flushes) over each quarter, and the wall time of the writes. Then, with
``--settle S``, the store is left alone until its background threads have used no CPU for 5 s
(at most S seconds): the compactions the writes left pending, which every variant pays later,
are counted too (``settle``: their CPU and wall time, the size on disk after them). Writes
``benchmarks/results/memtable_flush.json``; docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import RdfFormat

sys.path.insert(0, str(Path(__file__).parent))
import workload  # noqa: E402
from ingest_growth import settle  # noqa: E402
from ingest_growth import thread_cpu_s as threads  # noqa: E402

import provml.store.oxigraph as oxigraph  # noqa: E402
from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "memtable_flush.json"
VARIANTS = {  # FLUSH_QUADS, FLUSH_SHARE
    "adaptive": (oxigraph.FLUSH_QUADS, oxigraph.FLUSH_SHARE),
    "fixed": (oxigraph.FLUSH_QUADS, 10**15),
    "none": (10**15, oxigraph.FLUSH_SHARE),
}


def template() -> list[str]:
    kg = KnowledgeGraph(OxigraphStore())
    events = workload.events(10_000)
    for at in range(0, len(events), 500):
        kg.ingest_events(events[at:at + 500])
    lines = kg.store.dump(format=RdfFormat.N_QUADS).decode().splitlines(keepends=True)
    kg.close()
    return lines


def bags(lines: list[str], quads: int, bag: int) -> list[str]:
    """``quads`` lines in bags of ``bag``, from copies of ``lines`` renamed."""
    out: list[str] = []
    copy = 0
    while len(out) * bag < quads:
        text = "".join(lines).replace("/provml/id/", f"/provml/id/c{copy}/")
        renamed = text.splitlines(keepends=True)
        out.extend("".join(renamed[at:at + bag]) for at in range(0, len(renamed), bag))
        copy += 1
    return out[: -(-quads // bag)]


def settings(variant: str) -> tuple[int, int]:
    """``FLUSH_QUADS`` and ``FLUSH_SHARE`` of a variant."""
    if variant.startswith("share"):
        return oxigraph.FLUSH_QUADS, int(variant[len("share"):])
    return VARIANTS[variant]


def run(variant: str, work: list[str], tmp: Path, settle_s: float = 0.0) -> dict[str, Any]:
    oxigraph.FLUSH_QUADS, oxigraph.FLUSH_SHARE = settings(variant)
    path = tmp / variant
    store = OxigraphStore(path)
    before = threads()
    per_bag: list[float] = []
    adds = wall = 0.0
    quarters: list[dict[str, float]] = []
    quarter = -(-len(work) // 4)
    written = 0
    for i, text in enumerate(work):
        quads = list(pyoxigraph.parse(text.encode(), format=RdfFormat.N_QUADS))
        t0, c0 = time.perf_counter(), time.thread_time()
        store.add(quads)
        spent = time.thread_time() - c0
        wall += time.perf_counter() - t0
        adds += spent
        written += len(quads)
        per_bag.append(1e6 * spent / len(quads))
        if (i + 1) % quarter == 0 or i + 1 == len(work):
            now = threads()
            quarters.append({"quads": written, "add_cpu_s": adds, "wall_s": wall,
                             "add_us_a_quad_median": statistics.median(per_bag[-quarter:]),
                             **{f"{k}_s": now.get(k, 0.0) - before.get(k, 0.0) for k in ("rocksdb:low", "rocksdb:high")}})
    t0 = time.perf_counter()
    store.flush()
    wall += time.perf_counter() - t0
    after = threads()
    result = {"variant": variant, "quads": written, "wall_s": wall, "add_cpu_s": adds,
              "background_cpu_s": {k: after.get(k, 0.0) - before.get(k, 0.0) for k in ("rocksdb:low", "rocksdb:high")},
              "quarters": quarters, "size_on_disk": store.size_on_disk()}
    result["cpu_s"] = adds + sum(result["background_cpu_s"].values())
    if settle_s > 0:
        wall_s, cpu = settle(limit_s=settle_s)
        result["settle"] = {"wall_s": wall_s, "cpu_s": cpu, "size_on_disk": store.size_on_disk()}
        result["cpu_s_settled"] = result["cpu_s"] + sum(cpu.values())
    store.close()
    shutil.rmtree(path)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quads", type=int, default=2_000_000)
    ap.add_argument("--bag", type=int, default=600)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--variants", default="adaptive,fixed,none")
    ap.add_argument("--settle", type=float, default=0.0,
                    help="after the writes, wait up to this many seconds for the compactions they left")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    work = bags(template(), args.quads, args.bag)
    out: dict[str, Any] = {"machine": platform.platform(), "pyoxigraph": pyoxigraph.__version__,
                           "quads": args.quads, "bag": args.bag, "load_before": os.getloadavg(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.reps):  # alternate A B C A B C
            for variant in args.variants.split(","):
                r = run(variant, work, Path(tmp), args.settle)
                out["runs"].append(r)
                settled = (f"; then {r['settle']['wall_s']:.1f} s of compactions, {r['cpu_s_settled']:.1f} s of CPU "
                           f"in all, {r['settle']['size_on_disk'] / 1e6:.0f} MB" if "settle" in r else "")
                print(f"{variant:9} {r['quads']:>9} quads: wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s "
                      f"(add {r['add_cpu_s']:.1f}, compactions {r['background_cpu_s']['rocksdb:low']:.1f}, "
                      f"flushes {r['background_cpu_s']['rocksdb:high']:.1f}), {r['size_on_disk'] / 1e6:.0f} MB; "
                      "add µs a quad by quarter "
                      + " / ".join(f"{q['add_us_a_quad_median']:.1f}" for q in r["quarters"]) + settled, flush=True)
    out["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
