"""Runs side by side: hyperparameters, final evaluation values and per-epoch curves.

``compare(store, runs)`` gives what the named queries ``compare_runs`` and ``epoch_metrics`` mean
for each run (read with simpler direct queries, see :func:`compare`) and arranges it for a
comparison page: one row per hyperparameter and per
(stage, measure), one column per run, and one curve per (measure, run).

>>> from provml.store import open_store
>>> c = compare(open_store(), ["https://w3id.org/provml/id/run/none"])
>>> c.hyperparameters, c.curves
({}, {})
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyoxigraph import Literal, NamedNode

from provml.events import double_spelling
from provml.query.named import get_query
from provml.store import select
from provml.vocab import PROV, PROVML, RDFS

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
            "curves": {m: {r: [[x, _json_number(y)] for x, y in pts] for r, pts in by_run.items()}
                       for m, by_run in self.curves.items()},
        }


def _json_number(value: float) -> float | str:
    """``value``, or for NaN and the infinities (a diverged loss) XSD's spelling (``"NaN"``,
    ``"INF"``, ``"-INF"``, as the event format writes them): JSON has no such numbers, and
    ``/compare.json`` was not JSON with them in it.

    >>> _json_number(0.5), _json_number(float("nan")), _json_number(float("-inf"))
    (0.5, 'NaN', '-INF')
    """
    return value if math.isfinite(value) else double_spelling(value)


def compare(store: Store, runs: Sequence[str]) -> Comparison:
    """Compare the workflow executions ``runs`` (IRIs).

    Hyperparameters and final values have the meaning of the named query ``compare_runs``
    (evaluations about a model, the last one per stage and measure); they are read with two
    simpler queries per run, since that query's ``FILTER NOT EXISTS`` takes seconds per run on a
    store of a few 10k triples. The curves have the meaning of the named query ``epoch_metrics``
    (numeric values generated per epoch of a learning stage; values of deeper sections averaged
    per epoch as ``"<measure> (batch mean)"``), keyed by measure (``"stage · measure"`` when
    several stages have it), read directly for the same reason (0.4 s per run there).

    :param store: the store to read.
    :param runs: run IRIs; duplicates are dropped.
    :raises provml.errors.ParameterError: a run is not a valid IRI.
    """
    chosen = tuple(dict.fromkeys(runs))
    target = store
    hyper: dict[str, dict[str, str]] = {}
    evals: dict[str, dict[str, str]] = {}
    last: dict[tuple[str, str], str] = {}
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {}
    by_stage: dict[str, dict[str, dict[str, list[tuple[float, float]]]]] = {}
    for run in chosen:
        node = get_query("epoch_metrics").parameters[0].term(run)  # validates the IRI
        if not _select(target, f"SELECT ?p WHERE {{ {{ {node} ?p ?o }} UNION {{ ?s ?p {node} }} }} LIMIT 1"):
            continue  # a run the store does not know has nothing to read: its queries scanned
            # for it anyway, ≈ 0.7 s a run (a probe, 22nd session: 20 unknown runs, 14 s). A run
            # whose begin was never ingested is known by its stages' links to it alone
        for row in _select(target, _HYPERPARAMETERS.format(run=node, **_TERMS)):
            hyper.setdefault(_text(row["name"]), {})[run] = _text(row["value"])
        for row in _select(target, _EVALUATIONS.format(run=node, **_TERMS)):
            key = f"{_text(row['stage'])} · {_text(row['name'])}"
            ended = _text(row["t"])
            if (run, key) not in last or ended >= last[(run, key)]:
                last[(run, key)] = ended
                evals.setdefault(key, {})[run] = _text(row["value"])
        for (stage, metric), points in _curves(target, node).items():
            by_stage.setdefault(metric, {}).setdefault(stage, {})[run] = points
    for metric, stages in by_stage.items():
        for stage, by_run in stages.items():
            curves[metric if len(stages) == 1 else f"{stage} · {metric}"] = by_run
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


_EPOCH_VALUES = """SELECT DISTINCT ?stage ?epoch ?metric ?v ?val WHERE {{
  ?st {informed}+ {run} ; a {stage_class} ; {label} ?stage .
  ?e {informed} ?st ; a {section_class} ; {iteration} ?epoch .
  {inner}
  ?val {generated} ?gen ; a {eval_class} ; {value} ?v ; {derived}/{label} ?metric .
}}"""


def _curves(store: Store, run: NamedNode | Literal) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """``{(stage label, measure): [(epoch, value), ...]}`` of one run, in epoch order."""
    sums: dict[tuple[str, str, float], list[float]] = {}
    for inner, suffix in (("BIND(?e AS ?gen)", ""), (f"?gen {PROV.wasInformedBy}+ ?e .", " (batch mean)")):
        text = _EPOCH_VALUES.format(run=run, inner=inner, section_class=PROVML.LearningStageSectionExecution,
                                    iteration=PROVML.iteration, **_TERMS)
        for row in _select(store, text):
            try:
                epoch, value = float(_text(row["epoch"])), float(_text(row["v"]))
            except ValueError:
                continue
            if value != value and suffix:  # NaN: left out of the batches' means, as the stored
                continue  # summaries leave it out (an epoch's own NaN is kept: the chart says so)
            key = (_text(row["stage"]), _text(row["metric"]) + suffix, epoch)
            sums.setdefault(key, []).append(value)
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for (stage, metric, epoch), values in sorted(sums.items()):
        out.setdefault((stage, metric), []).append((epoch, sum(values) / len(values)))
    return out


def _select(store: Store, text: str) -> list[Any]:
    return list(select(store, text))


def _text(term: Any) -> str:
    if isinstance(term, Literal):
        return term.value
    return "" if term is None else str(term.value)
