"""Three bags for the tests of a spec's reach (a spec gives roles to the values of its own bag
and of later ones, never to a bag before it): a learning workflow's first training task with
``lr = 0.1``, a spec that names ``lr`` a hyperparameter, a later training task with ``lr = 0.2``."""

from __future__ import annotations

from typing import Any

Bag = list[dict[str, Any]]


def spec_bags() -> tuple[Bag, Bag, Bag]:
    """``(first, [spec], later)``, fresh dicts on every call."""
    spec = {"v": 1, "kind": "spec", "t": 0, "run": "spec", "workflow": "wf",
            "spec": {"workflow": "wf", "type": "learning", "transformations": [
                {"name": "train", "type": "training", "used": [{"name": "lr", "role": "hyperparameter"}]}]}}
    first = [{"v": 1, "kind": "workflow_begin", "t": 0, "run": "r", "workflow": "wf", "type": "learning"},
             {"v": 1, "kind": "task_begin", "t": 1, "run": "r", "workflow": "wf", "task": "train", "name": "train",
              "type": "training", "used": [{"name": "lr", "value": 0.1}]}]
    later = [{"v": 1, "kind": "task_begin", "t": 2, "run": "r", "workflow": "wf", "task": "train2", "name": "train",
              "type": "training", "used": [{"name": "lr", "value": 0.2}]}]
    return first, [spec], later
