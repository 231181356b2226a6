"""What ingest's redaction of an event costs (``provml.capture.redact.redact_event``: every event
from any source passes through it), this tree's against an earlier revision's, alternated.

    python benchmarks/redaction.py [--base REV] [--passes 15] [--out FILE]

Events shaped as a learning run's, as the capture client writes them (8,044: a workflow begin
with metadata, a stage with hyperparameters and data, 20 epochs of 200 batches with a loss
each, the ends). Reported, µs an event: the median (min–max) of ``--passes`` alternated passes
with warm caches; one pass with the caches emptied; and an upper bound, every event with a
name never seen (each a cache miss, and a name the text rules read whole). ``--base`` (default
``HEAD``): the revision whose ``kg/capture/redact.py`` is the other side (``git show``). Saves
``benchmarks/results/redaction.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

RESULTS = Path(__file__).parent / "results" / "redaction.json"
ROOT = Path(__file__).resolve().parent.parent


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def events(epochs: int = 20, batches: int = 200) -> list[dict[str, Any]]:
    c = {"v": 1, "run": "digits-20261206T120000Z-abc123", "workflow": "digits-training"}
    out: list[dict[str, Any]] = [{
        **c, "kind": "workflow_begin", "t": 1.0, "type": "learning", "study": "force2020",
        "persona": {"id": "alice", "name": "Alice"}, "tags": ["baseline", "sklearn"],
        "meta": {"hostname": "node1", "pid": 42, "platform": "Linux-6.1-x86_64", "python": "3.11.9",
                 "packages": {"numpy": "2.1.0", "torch": "2.4.0"}, "env": {"OMP_NUM_THREADS": "1"}}}]
    stage = {**c, "task": "train", "name": "train", "type": "training"}
    out.append({**stage, "kind": "task_begin", "t": 2.0,
                "implementation": {"name": "mlp", "algorithm": "MLP", "software": "torch", "version": "2.4.0"},
                "used": [{"name": "lr", "role": "hyperparameter", "value": 0.01},
                         {"name": "batch_size", "role": "hyperparameter", "value": 32},
                         {"name": "optimizer", "role": "hyperparameter", "value": "SGD"},
                         {"name": "train", "role": "learning_dataset",
                          "data": {"store": "local-fs", "location": "data/train.npz"}}]})
    for e in range(epochs):
        epoch = {**c, "task": f"train/epoch-{e}", "name": "epoch", "iteration": e, "parent": "train",
                 "stage": "train", "stage_type": "training"}
        out.append({**epoch, "kind": "cycle_begin", "t": 3.0})
        for b in range(batches):
            batch = {**c, "task": f"train/epoch-{e}/batch-{b}", "name": "batch", "iteration": b,
                     "parent": f"train/epoch-{e}", "stage": "train", "stage_type": "training"}
            out.append({**batch, "kind": "cycle_begin", "t": 3.1})
            out.append({**batch, "kind": "cycle_end", "t": 3.2, "status": "finished",
                        "generated": [{"name": "loss", "role": "evaluation", "value": 0.5 - b * 1e-4}]})
        out.append({**epoch, "kind": "cycle_end", "t": 4.0, "status": "finished",
                    "generated": [{"name": "loss", "role": "evaluation", "value": 0.4},
                                  {"name": "accuracy", "role": "evaluation", "value": 0.9, "about": "model"}]})
    out.append({**stage, "kind": "task_end", "t": 5.0, "status": "finished",
                "generated": [{"name": "model", "role": "model",
                               "data": {"store": "local-fs", "location": "out/model.pt", "size": 1000}}]})
    out.append({**c, "kind": "workflow_end", "t": 6.0, "status": "finished"})
    return out


def per_event(module: ModuleType, items: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for event in items:
        module.redact_event(event)
    return (time.perf_counter() - started) / len(items) * 1e6


def empty_caches(module: ModuleType) -> None:
    for name in ("_names", "_clean"):
        cache = getattr(module, name, None)
        if isinstance(cache, dict):
            cache.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="HEAD")
    ap.add_argument("--passes", type=int, default=15)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    old_text = subprocess.run(["git", "show", f"{args.base}:kg/capture/redact.py"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
    with tempfile.TemporaryDirectory() as scratch:
        old_path = Path(scratch) / "redact_base.py"
        old_path.write_text(old_text)
        sides = {args.base: load(old_path, "redact_base"),
                 "tree": load(ROOT / "kg" / "capture" / "redact.py", "redact_tree")}
    items = events()
    for module in sides.values():
        per_event(module, items)  # warm
    warm: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.passes):
        for name, module in sides.items():  # alternated
            warm[name].append(per_event(module, items))
    cold = {}
    for name, module in sides.items():
        empty_caches(module)
        cold[name] = per_event(module, items)
    unique: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(5):
        fresh = [{**e, "name": f"{e['name']} {i} mask r{r}"} if "name" in e else e
                 for i, e in enumerate(items)]
        for name, module in sides.items():
            empty_caches(module)
            unique[name].append(per_event(module, fresh))
    out = {"load_before": os.getloadavg(), "events": len(items), "passes": args.passes,
           "base": args.base, "us_per_event": {
               name: {"median": round(statistics.median(v), 3), "min": round(min(v), 3),
                      "max": round(max(v), 3), "caches_emptied": round(cold[name], 3),
                      "every_name_new_median": round(statistics.median(unique[name]), 3)}
               for name, v in warm.items()}}
    print(json.dumps(out["us_per_event"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
