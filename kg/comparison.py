"""Runs side by side: hyperparameters, final evaluation values and per-epoch curves.

``compare(store, runs)`` answers the named queries ``compare_runs`` and ``epoch_metrics`` for
each run and arranges the answers for a comparison page: one row per hyperparameter and per
(stage, measure), one column per run, and one curve per (measure, run).

>>> from provml.store import open_store
>>> c = compare(open_store(), ["https://w3id.org/provml/id/run/none"])
>>> c.hyperparameters, c.curves
({}, {})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provml.named_queries import run_query
from pyoxigraph import Literal

if TYPE_CHECKING:
    from provml.store import Store

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    """The compared ``runs`` (IRIs, in the order asked) and, by run IRI:

    - ``hyperparameters``: ``{name: {run: value}}`` (values as text);
    - ``evaluations``: ``{"stage · measure": {run: value}}`` — the last value of each measure in
      each learning stage;
    - ``curves``: ``{measure: {run: [(epoch, value), ...]}}`` in epoch order (numbers).
    """

    runs: tuple[str, ...]
    hyperparameters: dict[str, dict[str, str]] = field(default_factory=dict)
    evaluations: dict[str, dict[str, str]] = field(default_factory=dict)
    curves: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": list(self.runs),
            "hyperparameters": self.hyperparameters,
            "evaluations": self.evaluations,
            "curves": {m: {r: [list(p) for p in pts] for r, pts in by_run.items()}
                       for m, by_run in self.curves.items()},
        }


def compare(store: Store, runs: Sequence[str]) -> Comparison:
    """Compare the workflow executions ``runs`` (IRIs).

    :param store: the store (or knowledge graph) to read.
    :param runs: run IRIs; duplicates are dropped.
    :raises provml.errors.ParameterError: a run is not a valid IRI.
    """
    chosen = tuple(dict.fromkeys(runs))
    hyper: dict[str, dict[str, str]] = {}
    evals: dict[str, dict[str, str]] = {}
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for run in chosen:
        for row in run_query(store, "compare_runs", {"run_a": run, "run_b": run}):
            name, value = _text(row["name"]), _text(row["value"])
            if _text(row["kind"]) == "hyperparameter":
                hyper.setdefault(name, {})[run] = value
            else:
                evals.setdefault(f"{_text(row['stage'])} · {name}", {})[run] = value
        for row in run_query(store, "epoch_metrics", {"run": run}):
            try:
                point = (float(_text(row["epoch"])), float(_text(row["value"])))
            except ValueError:
                continue
            curves.setdefault(_text(row["metric"]), {}).setdefault(run, []).append(point)
    for by_run in curves.values():
        for points in by_run.values():
            points.sort()
    return Comparison(chosen, dict(sorted(hyper.items())), dict(sorted(evals.items())),
                      dict(sorted(curves.items())))


def _text(term: Any) -> str:
    if isinstance(term, Literal):
        return term.value
    return "" if term is None else str(term.value)
