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

from provml.named_queries import get_query, run_query
from provml.vocab import PROV, PROVML, RDFS
from pyoxigraph import Literal, QuerySolutions

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

    Hyperparameters and final values have the meaning of the named query ``compare_runs``
    (evaluations about a model, the last one per stage and measure); they are read with two
    simpler queries per run, since that query's ``FILTER NOT EXISTS`` takes seconds per run on a
    store of a few 10k triples. The curves are the named query ``epoch_metrics``.

    :param store: the store (or knowledge graph) to read.
    :param runs: run IRIs; duplicates are dropped.
    :raises provml.errors.ParameterError: a run is not a valid IRI.
    """
    chosen = tuple(dict.fromkeys(runs))
    target = getattr(store, "store", store)
    hyper: dict[str, dict[str, str]] = {}
    evals: dict[str, dict[str, str]] = {}
    last: dict[tuple[str, str], str] = {}
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for run in chosen:
        node = get_query("epoch_metrics").parameters[0].term(run)  # validates the IRI
        for row in _select(target, _HYPERPARAMETERS.format(run=node, **_TERMS)):
            hyper.setdefault(_text(row["name"]), {})[run] = _text(row["value"])
        for row in _select(target, _EVALUATIONS.format(run=node, **_TERMS)):
            key = f"{_text(row['stage'])} · {_text(row['name'])}"
            ended = _text(row["t"])
            if (run, key) not in last or ended >= last[(run, key)]:
                last[(run, key)] = ended
                evals.setdefault(key, {})[run] = _text(row["value"])
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


_TERMS = {
    "informed": PROV.wasInformedBy, "used": PROV.used, "generated": PROV.wasGeneratedBy,
    "derived": PROV.wasDerivedFrom, "value": PROV.value, "ended": PROV.endedAtTime,
    "label": RDFS.label, "stage_class": PROVML.LearningStageExecution,
    "hyper_class": PROVML.LearningHyperparameterValue, "eval_class": PROVML.ModelEvaluation,
    "evaluated": PROVML.evaluatedModel,
}

_HYPERPARAMETERS = """SELECT DISTINCT ?name ?value WHERE {{
  ?st {informed}+ {run} ; a {stage_class} ; {used} ?x .
  ?x a {hyper_class} ; {value} ?value ; {derived}/{label} ?name .
}}"""

_EVALUATIONS = """SELECT DISTINCT ?stage ?name ?value ?t WHERE {{
  ?st {informed}+ {run} ; a {stage_class} ; {label} ?stage .
  ?exec {informed}* ?st ; {ended} ?t .
  ?x {generated} ?exec ; a {eval_class} ; {evaluated} ?model ; {value} ?value ;
     {derived}/{label} ?name .
}}"""


def _select(store: Any, text: str) -> list[Any]:
    result = store.query(text, use_default_graph_as_union=True)
    assert isinstance(result, QuerySolutions)
    return list(result)


def _text(term: Any) -> str:
    if isinstance(term, Literal):
        return term.value
    return "" if term is None else str(term.value)
