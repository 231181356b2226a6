"""What planning a batch's summaries and late links costs as a long run goes on. Variants:
``kept`` (what the plans read kept from one batch to the next, ``provml.ingest.Reads``, and a
long run's stage summaries kept as running totals, ``provml.ingest.tally.Tally``: the code as
it is), ``forgotten`` (the reads made from the store again for every batch: ``Reads.keep``
forgets, no totals either), ``whole`` (the reads kept, no running totals: every epoch of a
stage read again from memory for each batch — the code before the totals).

    .venv/bin/python benchmarks/plan_growth.py [--runs 8] [--epochs 60] [--batches 50] [--chunk 200] [--reps 2]
        [--variants kept,forgotten]

A long run, one bag of 50 events at a time (as the endpoint's ``POST /api/events`` takes them):
``--runs 1 --epochs 2000 --batches 10 --chunk 50 --variants kept,whole``.

``--runs`` learning runs of ``--epochs`` epochs × ``--batches`` batches (benchmarks/workload.py)
are ingested together through ``KnowledgeGraph.ingest_events`` into a new on-disk store, in
groups of ``--chunk`` events of each run (so each group holds about two epochs of every run, and
a stage's summary, recomputed from all its epochs, reads more of them group after group). Per
group: the thread CPU time of ``plan`` and ``plan_late_links`` per event. The two variants
alternate (kept, forgotten, kept, …), each on a store of its own; the whole ingest's process CPU
is recorded too. The stores must be the same, quad for quad (checked).

Writes ``benchmarks/results/plan_growth.json``; docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import workload  # noqa: E402

import provml.ingest.summary_plan as summary_plan  # noqa: E402
from provml.ingest.plan_reads import Reads  # noqa: E402
from provml.knowledge import KnowledgeGraph  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "plan_growth.json"
KEEP = Reads.keep
TALLY_MIN = getattr(summary_plan, "TALLY_MIN_SECTIONS", None)  # (None: a commit before the totals)


def groups(runs: int, epochs: int, batches: int, chunk: int) -> list[list[dict[str, Any]]]:
    evs = [workload.learning_run(f"g{i}", epochs=epochs, batches=batches) for i in range(runs)]
    return [[e for run in evs for e in run[at:at + chunk]] for at in range(0, max(map(len, evs)), chunk)]


def timed(acc: dict[str, float], name: str) -> Callable[..., Any]:
    original = getattr(summary_plan, name)

    def run(*args: Any, **kwargs: Any) -> Any:
        t = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            acc[name] += time.thread_time() - t
    return run


def one(variant: str, work: list[list[dict[str, Any]]], tmp: Path) -> tuple[dict[str, Any], set[Any]]:
    Reads.keep = KEEP if variant != "forgotten" else (lambda self, *a: self.forget())  # type: ignore[method-assign]
    if TALLY_MIN is not None:
        summary_plan.TALLY_MIN_SECTIONS = TALLY_MIN if variant == "kept" else 10**12
    acc = {"plan": 0.0, "plan_late_links": 0.0}
    originals = {name: getattr(summary_plan, name) for name in acc}
    for name in acc:
        setattr(summary_plan, name, timed(acc, name))
    per_group, cpu_per_group = [], []
    try:
        kg = KnowledgeGraph(OxigraphStore(tmp / variant))
        kg.closure()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for group in work:
            before, cpu_before = sum(acc.values()), time.process_time()
            kg.ingest_events(group)
            per_group.append(1e6 * (sum(acc.values()) - before) / len(group))
            cpu_per_group.append(1e6 * (time.process_time() - cpu_before) / len(group))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        quads = set(kg.store.quads())
        kg.close()
    finally:
        for name, original in originals.items():
            setattr(summary_plan, name, original)
        Reads.keep = KEEP  # type: ignore[method-assign]
        if TALLY_MIN is not None:
            summary_plan.TALLY_MIN_SECTIONS = TALLY_MIN
    events = sum(map(len, work))
    return {"plan_us_per_event_by_group": [round(x, 2) for x in per_group],
            "ingest_cpu_us_per_event_by_group": [round(x, 1) for x in cpu_per_group],
            "plan_us_per_event": 1e6 * sum(acc.values()) / events,
            "ingest_cpu_us_per_event": 1e6 * cpu / events, "ingest_wall_s": wall}, quads


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--chunk", type=int, default=200, help="events of each run a group")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--variants", default="kept,forgotten", help="of kept, forgotten, whole; alternated")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    work = groups(args.runs, args.epochs, args.batches, args.chunk)
    quarter = max(1, len(work) // 4)
    found: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variants.split(",")}
    if not found.keys() <= {"kept", "forgotten", "whole"}:
        raise SystemExit(f"unknown variants: {args.variants}")
    print(f"{sum(map(len, work)):,} events in {len(work)} groups; load {os.getloadavg()[0]:.2f}")
    for rep in range(args.reps):
        stores = {}
        for variant in found:
            with tempfile.TemporaryDirectory() as tmp:
                result, stores[variant] = one(variant, work, Path(tmp))
            found[variant].append(result)
            series = result["plan_us_per_event_by_group"]
            print(f"  rep {rep} {variant:9s}: planning {result['plan_us_per_event']:5.1f} us an event "
                  f"(first quarter of groups {statistics.median(series[:quarter]):5.1f}, last "
                  f"{statistics.median(series[-quarter:]):5.1f}); ingest {result['ingest_cpu_us_per_event']:6.1f} "
                  f"us CPU an event (last quarter {statistics.median(result['ingest_cpu_us_per_event_by_group'][-quarter:]):6.1f}), "
                  f"{result['ingest_wall_s']:.1f} s")
        if any(quads != next(iter(stores.values())) for quads in stores.values()):
            raise SystemExit("the variants stored different quads")
    summary = {
        variant: {
            "planning_us_per_event": spread([r["plan_us_per_event"] for r in rs]),
            "planning_first_quarter_us_per_event": spread(
                [statistics.median(r["plan_us_per_event_by_group"][:quarter]) for r in rs]),
            "planning_last_quarter_us_per_event": spread(
                [statistics.median(r["plan_us_per_event_by_group"][-quarter:]) for r in rs]),
            "ingest_cpu_us_per_event": spread([r["ingest_cpu_us_per_event"] for r in rs]),
            "ingest_cpu_last_quarter_us_per_event": spread(
                [statistics.median(r["ingest_cpu_us_per_event_by_group"][-quarter:]) for r in rs]),
        } for variant, rs in found.items()}
    out = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_after": os.getloadavg(),
           "params": vars(args) | {"out": str(args.out)}, "events": sum(map(len, work)), "groups": len(work),
           "results": found, "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
