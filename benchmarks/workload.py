"""Synthetic capture events shaped like the paper's learning workflows (for benchmarks).

One learning run = a training stage with E epochs × B batches (begin and end events per batch,
epoch and stage, a loss per batch, a model and evaluations per epoch), the paper's capture
granularity (§6.2).
"""

from __future__ import annotations

from typing import Any


def learning_run(run: str, *, epochs: int, batches: int, t0: float = 1_767_225_600.0) -> list[dict[str, Any]]:
    wf = "bench-training"
    base = {"v": 1, "run": run, "workflow": wf}
    cyc = {"stage": "train", "stage_type": "training"}
    t = t0
    ev: list[dict[str, Any]] = [
        {**base, "kind": "workflow_begin", "t": t, "type": "learning", "meta": {"hostname": "node01", "pid": 1}},
        {**base, "kind": "task_begin", "t": t, "task": "train", "name": "train", "type": "training", "used": [
            {"name": "lr", "role": "hyperparameter", "value": 0.01},
            {"name": "batch_size", "role": "hyperparameter", "value": 64},
            {"name": "train", "role": "learning_dataset",
             "data": {"store": "fs", "location": "data/train.npz", "sha256": "ab" * 32}},
        ]},
    ]
    for e in range(epochs):
        eid = f"train/epoch-{e}"
        ev.append({**base, **cyc, "kind": "cycle_begin", "t": t, "task": eid, "name": "epoch", "iteration": e,
                   "parent": "train"})
        for b in range(batches):
            bid = f"{eid}/batch-{b}"
            ev.append({**base, **cyc, "kind": "cycle_begin", "t": t, "task": bid, "name": "batch", "iteration": b,
                       "parent": eid})
            t += 0.01
            ev.append({**base, **cyc, "kind": "cycle_end", "t": t, "task": bid, "name": "batch", "iteration": b,
                       "parent": eid, "status": "finished",
                       "generated": [{"name": "loss", "role": "evaluation", "value": 1.0 / (1 + e + b)}]})
        model = {"name": "model", "role": "model", "data": {"store": "fs", "location": f"models/{run}/e{e}.pt"}}
        ev.append({**base, **cyc, "kind": "cycle_end", "t": t, "task": eid, "name": "epoch", "iteration": e,
                   "parent": "train", "status": "finished", "generated": [
                       model, {"name": "accuracy", "role": "evaluation", "value": 0.5 + e / (2 * epochs), "about": "model"},
                       {"name": "epoch", "role": "model_hyperparameter", "value": e, "about": "model"}]})
    ev.append({**base, "kind": "task_end", "t": t, "task": "train", "name": "train", "type": "training",
               "status": "finished"})
    ev.append({**base, "kind": "workflow_end", "t": t, "type": "learning", "status": "finished"})
    return ev


def events(n: int, *, batches: int = 35, epochs: int = 10) -> list[dict[str, Any]]:
    """About ``n`` events: as many whole runs as fit (35 batches/epoch as in the paper)."""
    per_run = 4 + epochs * (2 + 2 * batches)
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) + per_run <= max(n, per_run):
        out.extend(learning_run(f"bench-{i}", epochs=epochs, batches=batches))
        i += 1
    return out
