"""The broker writer's group write with its links written after the group's N-Quads (now: a
group that does not parse gets none of its links) against beside them (before), alternated.

    OMP_NUM_THREADS=1 python benchmarks/writer_links.py [--bags 256] [--reps 5]

Builds ``--bags`` quads entries of 50 events (learning runs of benchmarks/workload.py, through
the real pipeline and :func:`provml.ingest.handover.hand_over`), then per repetition writes them
in groups of 64 (:func:`provml.ingest.handover.write_group`) into a fresh on-disk store, once per
variant, A B A B ...: wall seconds and process CPU seconds per repetition, medians with min–max.
Results: ``benchmarks/results/writer_links.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import workload  # noqa: E402

import provml.ingest.handover as handover  # noqa: E402
from provml.ingest.translation import translate  # noqa: E402
from provml.knowledge import KnowledgeGraph, open_kg  # noqa: E402
from provml.store.oxigraph import OxigraphStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "writer_links.json"


class _Beside(handover._Loading):
    """Before: the links' write starts at once, beside the group's."""

    def __init__(self, write: Callable[[], None], *, after: handover._Loading | None = None) -> None:
        super().__init__(write)


def entries(bags: int) -> list[dict[bytes, Any]]:
    out: list[dict[bytes, Any]] = []
    run = 0
    while len(out) < bags:
        events = list(workload.learning_run(f"w{run}", epochs=4, batches=200))
        run += 1
        for i in range(0, len(events), 50):
            kg = KnowledgeGraph(OxigraphStore())
            quads = kg.prepare_batch(translate(events[i : i + 50], iris=kg.iris, roles=kg._role), links=False)
            fields = {k.encode(): v for k, v in handover.hand_over(quads).items()}
            out.append({**fields, b"n": b"50", b"ts": b"[]", b"ids": b"[]"})
    return out[:bags]


def one(group_entries: list[dict[bytes, Any]], loading: type[handover._Loading]) -> tuple[float, float]:
    handover._Loading = loading  # type: ignore[misc]
    with tempfile.TemporaryDirectory() as directory:
        kg = open_kg(Path(directory) / "store")
        wall, cpu = time.perf_counter(), time.process_time()
        for g in range(0, len(group_entries), 64):
            handover.write_group(kg.store, group_entries[g : g + 64], atomic=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        kg.close()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bags", type=int, default=256)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    built = entries(args.bags)
    after = handover._Loading
    variants: dict[str, type[handover._Loading]] = {"links after the group (now)": after,
                                                    "links beside the group (before)": _Beside}
    one(built, after)  # warm-up
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _rep in range(args.reps):
        for name, loading in variants.items():
            times[name].append(one(built, loading))
    handover._Loading = after  # type: ignore[misc]
    result: dict[str, Any] = {"bags": args.bags, "events": 50 * args.bags, "reps": args.reps,
                              "load": os.getloadavg(), "variants": {}}
    for name, runs in times.items():
        walls, cpus = [w for w, _c in runs], [c for _w, c in runs]
        result["variants"][name] = {"wall_s": [statistics.median(walls), min(walls), max(walls)],
                                    "cpu_s": [statistics.median(cpus), min(cpus), max(cpus)],
                                    "events_per_s": 50 * args.bags / statistics.median(walls)}
        print(f"{name:34} wall {statistics.median(walls):.3f} s ({min(walls):.3f}-{max(walls):.3f})  "
              f"cpu {statistics.median(cpus):.3f} s ({min(cpus):.3f}-{max(cpus):.3f})  "
              f"{50 * args.bags / statistics.median(walls):,.0f} events/s")
    print("load average", os.getloadavg())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
