"""Ingest throughput: the whole provml pipeline versus a raw pyoxigraph bulk load of the same quads.

    python benchmarks/ingest.py [--sizes 10000 100000] [--reps 3] [--batch 500] [--together 10000]
                                [--together-max 50000]
                                [--variants pipeline together fixed whole noflush nofilter shareN bulkN]
                                [--no-stages]
                                [--out FILE]
                                [--quick]

For each size, the same synthetic events (``workload.py``: learning runs with epochs and batches,
the paper's capture granularity) are ingested, alternating A B A B …:

* **pipeline** — ``KnowledgeGraph.ingest_events`` in batches (schema check, translation,
  enrichment with the ontology's class closure, SHACL validation, one transaction per batch)
  into a fresh on-disk Oxigraph store;
* **whole** — the same pipeline validating every node of every batch (``PROVML_SHACL_GROUPS=0``;
  the default validates one representative per group of nodes the shapes see alike, see
  ``provml.ingest.representatives``);
* **together** — the same batches handed over together, as ``provml load`` does
  (``provml.ingest.loader.ingest_bags``: consecutive batches go through the pipeline as one, up to
  ``--together`` events at first, later groups half the events handed over so far up to
  ``--together-max``, written with the bulk loader; a failing group batch by batch);
* **fixed** — ``together`` with every group of ``--together`` events (the code before the
  twenty-fifth session);
* **noflush** — the pipeline with the store's memtables left to RocksDB's own flushes (no
  early flush after ``provml.store.oxigraph.FLUSH_QUADS`` quads written in transactions: the
  code before the twelfth session);
* **nofilter** — the pipeline with every node the plans look at read from the store, the new
  ones too (``provml.ingest.plan_reads.FILTERS`` off: the code before the fourteenth session);
* **bulkN** (e.g. ``bulk4000``) — the pipeline with ``BULK_MIN_QUADS`` = N (a batch of N quads
  or more written with the bulk loader, a smaller one in a transaction);
* **shareN** (e.g. ``share50``) — the pipeline with ``FLUSH_SHARE`` = N (a flush once 1/N of
  the store's quads went to the memtables since the last);
* **raw** — ``pyoxigraph.Store.bulk_load`` of the very quads the pipeline wrote (N-Quads bytes)
  into a fresh on-disk store.

Every variant's store must hold exactly the quads of the reference (the pipeline into an
in-memory store, whose dump the raw load writes): compared after each run, outside the clock
(:func:`digest`); a variant that stores other quads stops the run.

Also a per-stage breakdown of one pipeline pass (where the time goes). Prints a table and saves
``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pyoxigraph  # noqa: E402
import workload  # noqa: E402

from provml.events import check  # noqa: E402
from provml.ingest.enrichment import with_entailed_types  # noqa: E402
from provml.ingest.loader import TOGETHER, TOGETHER_MAX  # noqa: E402
from provml.ingest.translation import translate  # noqa: E402
from provml.ingest.validation import _verdicts  # noqa: E402
from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.store.oxigraph import BULK_MIN_QUADS, FLUSH_QUADS, FLUSH_SHARE, OxigraphStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "ingest.json"


def batches(events: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def run_pipeline(events: list[dict[str, Any]], batch: int, tmp: Path, *, groups: bool = True,
                 together: int = 0, together_max: int = 0, flush: bool = True, share: int | None = None, bulk: int | None = None,
                 filters: bool = True) -> tuple[float, int, float]:
    """Seconds, a digest of the quads stored (:func:`digest`, outside the clock), process CPU."""
    import os

    import provml.ingest.plan_reads as plan_reads
    import provml.store.oxigraph as oxigraph
    from provml.ingest.loader import ingest_bags

    os.environ["PROVML_SHACL_GROUPS"] = "1" if groups else "0"
    oxigraph.FLUSH_QUADS = FLUSH_QUADS if flush else 10**15
    oxigraph.FLUSH_SHARE = share or FLUSH_SHARE
    oxigraph.BULK_MIN_QUADS = bulk or BULK_MIN_QUADS
    plan_reads.FILTERS = filters
    _verdicts.cache_clear()  # as in a fresh process: no view known clean yet
    path = tmp / "pipeline"
    kg = KnowledgeGraph(OxigraphStore(path))
    kg.closure()  # the class closure, computed once per process (provml.ingest.enrichment); not part of ingest
    start, cpu = time.perf_counter(), time.process_time()
    if together:
        for _source, _bag, outcome in ingest_bags(kg, ((str(i), b) for i, b in enumerate(batches(events, batch))),
                                                 together=together, together_max=together_max):
            assert not isinstance(outcome, Exception), outcome
    else:
        for bag in batches(events, batch):
            kg.ingest_events(bag)
    kg.store.flush() if hasattr(kg.store, "flush") else None
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    stored = digest(kg.store.dump(format=pyoxigraph.RdfFormat.N_QUADS))
    kg.close()
    shutil.rmtree(path)
    return elapsed, stored, cpu


def digest(nquads: bytes) -> int:
    """The quads of an N-Quads dump as one number, whatever their order: every variant must store
    exactly the quads of the in-memory reference (each line is a distinct quad)."""
    return hash(frozenset(nquads.splitlines()))


def run_raw(nquads: bytes, tmp: Path) -> tuple[float, float]:
    path = tmp / "raw"
    store = pyoxigraph.Store(str(path))
    start, cpu = time.perf_counter(), time.process_time()
    store.bulk_load(nquads, format=pyoxigraph.RdfFormat.N_QUADS)
    store.flush()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    del store
    shutil.rmtree(path)
    return elapsed, cpu


def breakdown(events: list[dict[str, Any]], batch: int) -> dict[str, float]:
    """Seconds per stage over the whole event list, batch by batch, into an in-memory store."""
    from provml.ingest.shortcuts import late_links, stage_links, store_lookup
    from provml.ingest.summaries import update_summaries
    from provml.ingest.validation import validate_triples

    _verdicts.cache_clear()
    kg = KnowledgeGraph(OxigraphStore())
    kg.closure()
    t = dict.fromkeys(("check", "translate", "shortcuts", "enrich", "context", "validate", "write", "summaries"), 0.0)
    for bag in batches(events, batch):
        t0 = time.perf_counter()
        check(bag)
        t1 = time.perf_counter()
        quads = translate(bag, iris=kg.iris)
        t2 = time.perf_counter()
        quads += stage_links(quads, store_lookup(kg.store))
        t2s = time.perf_counter()
        quads = with_entailed_types(quads, kg.closure())
        t3 = time.perf_counter()
        subjects = {q.subject for q in quads}
        refs = {q.object for q in quads if isinstance(q.object, pyoxigraph.NamedNode) and q.object not in subjects}
        context = list(kg._types_of(refs))
        t4 = time.perf_counter()
        validate_triples([*quads, *context])
        t5 = time.perf_counter()
        kg.store.add(quads)
        late_links(kg.store, quads)
        t6 = time.perf_counter()
        update_summaries(kg.store, quads)
        t7 = time.perf_counter()
        for key, a, b in (("check", t0, t1), ("translate", t1, t2), ("shortcuts", t2, t2s), ("enrich", t2s, t3),
                          ("context", t3, t4),
                          ("validate", t4, t5), ("write", t5, t6), ("summaries", t6, t7)):
            t[key] += b - a
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--together", type=int, default=TOGETHER, help="events of consecutive batches ingested together")
    ap.add_argument("--together-max", type=int, default=TOGETHER_MAX, help="the most events a group grows to")
    ap.add_argument("--variants", nargs="+", default=["pipeline", "together", "whole"],
                    help="which pipelines to run beside the raw load: pipeline, together, fixed, whole, noflush, nofilter, shareN, "
                         "bulkN")
    ap.add_argument("--no-stages", dest="stages", action="store_false", help="skip the per-stage breakdown")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where to save the results (JSON)")
    ap.add_argument("--quick", action="store_true", help="sizes 2000 and 10000, 2 repetitions")
    args = ap.parse_args()
    for name in args.variants:
        if name not in ("pipeline", "together", "fixed", "whole", "noflush", "nofilter") and not (
                re.fullmatch(r"(share|bulk)[0-9]+", name)):
            ap.error(f"unknown variant {name!r}: pipeline, together, fixed, whole, noflush, nofilter, shareN (e.g. share50) "
                     "or bulkN (e.g. bulk4000)")
    if args.quick:
        args.sizes, args.reps = [2_000, 10_000], 2
    import os

    out: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(),
                           "pyoxigraph": pyoxigraph.__version__, "batch": args.batch, "together": args.together,
                           "together_max": args.together_max,
                           "load_before": os.getloadavg(), "runs": []}
    for size in args.sizes:
        events = workload.events(size)
        # the quads the pipeline writes, serialised once for the raw load
        kg = KnowledgeGraph(OxigraphStore())
        for bag in batches(events, args.batch):
            kg.ingest_events(bag)
        nquads = kg.store.dump(format=pyoxigraph.RdfFormat.N_QUADS)
        n_quads = len(kg.store)
        reference = digest(nquads)
        kg.close()  # (kept open, its store and what the plans kept cost the runs' collections ≈ 10 %)
        del kg
        variants = {name: options for name, options in (
            ("pipeline", {}), ("together", {"together": args.together, "together_max": args.together_max}),
            ("fixed", {"together": args.together, "together_max": args.together}), ("whole", {"groups": False}),
            ("noflush", {"flush": False}), ("nofilter", {"filters": False}),
        ) if name in args.variants}
        variants.update({name: {"share": int(name[len("share"):])} for name in args.variants if name.startswith("share")})
        variants.update({name: {"bulk": int(name[len("bulk"):])} for name in args.variants if name.startswith("bulk")})
        wall: dict[str, list[float]] = {name: [] for name in [*variants, "raw"]}
        cpu: dict[str, list[float]] = {name: [] for name in [*variants, "raw"]}
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.reps):  # alternate A B C D A B C D
                for name, options in variants.items():
                    seconds, stored, used = run_pipeline(events, args.batch, Path(tmp), **options)
                    if stored != reference:
                        raise SystemExit(f"{name} stored other quads than the in-memory reference at {size} events")
                    wall[name].append(seconds)
                    cpu[name].append(used)
                seconds, used = run_raw(nquads, Path(tmp))
                wall["raw"].append(seconds)
                cpu["raw"].append(used)
        os.environ["PROVML_SHACL_GROUPS"] = "1"
        stages = breakdown(events, args.batch) if args.stages else {}
        med = statistics.median
        row: dict[str, Any] = {"events": len(events), "quads": n_quads,
                               "raw_quads_per_s": n_quads / med(wall["raw"]), "stages_s": stages}
        for name in wall:
            row[f"{name}_s"], row[f"{name}_cpu_s"] = wall[name], cpu[name]
        line = [f"{len(events):>8} events {n_quads:>9} quads | raw {med(wall['raw']):.2f} s "
                f"({min(wall['raw']):.2f}-{max(wall['raw']):.2f}), process CPU {med(cpu['raw']):.2f} s"]
        for name in variants:
            row[f"{name}_ratio"] = med(wall["raw"]) / med(wall[name])
            row[f"{name}_cpu_ratio"] = med(cpu["raw"]) / med(cpu[name])
            row[f"{name}_events_per_s"] = len(events) / med(wall[name])
            line.append(f"{name} {med(wall[name]):.2f} s ({min(wall[name]):.2f}-{max(wall[name]):.2f}) "
                        f"{row[f'{name}_events_per_s']:.0f} ev/s, ratio {row[f'{name}_ratio']:.3f}; process CPU "
                        f"{med(cpu[name]):.2f} s ({min(cpu[name]):.2f}-{max(cpu[name]):.2f}), ratio "
                        f"{row[f'{name}_cpu_ratio']:.3f}")
        out["runs"].append(row)
        print("\n   ".join(line))
        total = sum(stages.values()) or 1.0
        print("   stages: " + ", ".join(f"{k} {v:.2f} s ({100 * v / total:.0f} %)" for k, v in stages.items()))
    out["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
