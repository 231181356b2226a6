"""Ingest throughput: the whole provml pipeline versus a raw pyoxigraph bulk load of the same quads.

    python benchmarks/ingest.py [--sizes 10000 100000] [--reps 3] [--batch 500] [--together 10000] [--quick]

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
  ``--together`` events, written with the bulk loader; a failing group batch by batch);
* **raw** — ``pyoxigraph.Store.bulk_load`` of the very quads the pipeline wrote (N-Quads bytes)
  into a fresh on-disk store.

Also a per-stage breakdown of one pipeline pass (where the time goes). Prints a table and saves
``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
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

import provml.store.oxigraph as oxigraph_store  # noqa: E402
from provml.events import check  # noqa: E402
from provml.ingest.enrichment import with_entailed_types  # noqa: E402
from provml.ingest.loader import TOGETHER  # noqa: E402
from provml.ingest.translation import translate  # noqa: E402
from provml.ingest.validation import _verdicts  # noqa: E402
from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.store.oxigraph import BULK_MIN_QUADS, OxigraphStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "ingest.json"


def batches(events: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def run_pipeline(events: list[dict[str, Any]], batch: int, tmp: Path, *, groups: bool = True,
                 bulk: bool = False, together: int = 0) -> tuple[float, int, float]:
    import os

    from provml.ingest.loader import ingest_bags

    oxigraph_store.BULK_MIN_QUADS = 0 if bulk else BULK_MIN_QUADS
    os.environ["PROVML_SHACL_GROUPS"] = "1" if groups else "0"
    _verdicts.cache_clear()  # as in a fresh process: no view known clean yet
    path = tmp / "pipeline"
    kg = KnowledgeGraph(OxigraphStore(path))
    kg.closure()  # computed once per ontology version and cached on disk; not part of ingest
    start, cpu = time.perf_counter(), time.process_time()
    if together:
        for _source, _bag, outcome in ingest_bags(kg, ((str(i), b) for i, b in enumerate(batches(events, batch))),
                                                 together=together):
            assert not isinstance(outcome, Exception), outcome
    else:
        for bag in batches(events, batch):
            kg.ingest_events(bag)
    kg.store.flush() if hasattr(kg.store, "flush") else None
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = len(kg.store)
    kg.close()
    shutil.rmtree(path)
    return elapsed, n, cpu


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
    ap.add_argument("--quick", action="store_true", help="sizes 2000 and 10000, 2 repetitions")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.reps = [2_000, 10_000], 2
    import os

    out: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(),
                           "pyoxigraph": pyoxigraph.__version__, "batch": args.batch, "together": args.together,
                           "load_before": os.getloadavg(), "runs": []}
    for size in args.sizes:
        events = workload.events(size)
        # the quads the pipeline writes, serialised once for the raw load
        kg = KnowledgeGraph(OxigraphStore())
        for bag in batches(events, args.batch):
            kg.ingest_events(bag)
        nquads = kg.store.dump(format=pyoxigraph.RdfFormat.N_QUADS)
        n_quads = len(kg.store)
        pipe, whole, together, raw = [], [], [], []
        pipe_cpu, raw_cpu, together_cpu = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.reps):  # alternate A B C D A B C D
                seconds, _n, cpu = run_pipeline(events, args.batch, Path(tmp))
                pipe.append(seconds)
                pipe_cpu.append(cpu)
                seconds, _n, cpu = run_pipeline(events, args.batch, Path(tmp), together=args.together)
                together.append(seconds)
                together_cpu.append(cpu)
                seconds, _n, _cpu = run_pipeline(events, args.batch, Path(tmp), groups=False)
                whole.append(seconds)
                seconds, cpu = run_raw(nquads, Path(tmp))
                raw.append(seconds)
                raw_cpu.append(cpu)
        os.environ["PROVML_SHACL_GROUPS"] = "1"
        stages = breakdown(events, args.batch)
        med_p, med_r, med_w = statistics.median(pipe), statistics.median(raw), statistics.median(whole)
        row = {
            "events": len(events), "quads": n_quads,
            "pipeline_s": pipe, "whole_validation_s": whole, "together_s": together, "raw_s": raw,
            "whole_ratio": med_r / med_w, "together_ratio": med_r / statistics.median(together),
            "together_cpu_s": together_cpu,
            "together_cpu_ratio": statistics.median(raw_cpu) / statistics.median(together_cpu),
            "pipeline_events_per_s": len(events) / med_p, "pipeline_quads_per_s": n_quads / med_p,
            "raw_quads_per_s": n_quads / med_r, "ratio": med_r / med_p,
            "pipeline_cpu_s": pipe_cpu, "raw_cpu_s": raw_cpu,
            "cpu_ratio": statistics.median(raw_cpu) / statistics.median(pipe_cpu),
            "stages_s": stages,
        }
        out["runs"].append(row)
        print(f"{len(events):>8} events {n_quads:>9} quads | pipeline {med_p:7.2f} s "
              f"(min {min(pipe):.2f}, max {max(pipe):.2f}) {row['pipeline_events_per_s']:9.0f} ev/s "
              f"{row['pipeline_quads_per_s']:9.0f} q/s | raw {med_r:6.2f} s {row['raw_quads_per_s']:9.0f} q/s "
              f"| ratio {row['ratio']:.3f} (process CPU {statistics.median(pipe_cpu):.2f} s vs "
              f"{statistics.median(raw_cpu):.2f} s: {row['cpu_ratio']:.3f}) | whole validation {med_w:.2f} s (min {min(whole):.2f}, "
              f"max {max(whole):.2f}) ratio {row['whole_ratio']:.3f} | together {statistics.median(together):.2f} s "
              f"(min {min(together):.2f}, max {max(together):.2f}) ratio {row['together_ratio']:.3f}, process CPU "
              f"{statistics.median(together_cpu):.2f} s: {row['together_cpu_ratio']:.3f}")
        total = sum(stages.values())
        print("         stages: " + ", ".join(f"{k} {v:.2f} s ({100 * v / total:.0f} %)" for k, v in stages.items()))
    out["load_after"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
