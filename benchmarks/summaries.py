"""Measure summaries at query time: Q7 before this work (``former/q7.rq``: the minimum over every
batch loss of the epoch, the models found through ``provml:stageExecution``), Q7 in five
sub-selects (``former/q7_subselects.rq``: the models through ``prov:wasInformedBy?``) without the
summaries (every batch loss) and with them (the epoch's ``provml:summary``), Q7 now (one walk from
the selection, the details of each model as a row-by-row ``UNION``), and ``epoch_metrics`` now
(the batch mean averaged over the batches) against a variant that reads the epoch summaries'
means; alternated run by run on one provml store.

    OMP_NUM_THREADS=1 python benchmarks/summaries.py --selections 17 --store DIR [--reps 5]

The store is ``queries.py``'s (``--keep``): built at ``--selections`` when ``DIR`` is missing,
reused when it is there with its ``.params.json``. One warm-up, then ``reps`` runs of each text,
alternated: median, min, max seconds and the rows. Q7's rows must be equal (as multisets); the epoch_metrics
variant's are compared by value (its means are computed differently: the last bits may differ,
and it would count every numeric batch value, not only evaluations). Results:
``benchmarks/results/summaries.json`` (one entry per size, merged). With ``--generic DIR``, the
generic representation's Q7 (``generic_queries/q7.rq``) on that store joins the alternation (its
rows are not compared: another representation).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pyoxigraph  # noqa: E402
import queries as bq  # noqa: E402

from provml.query.named import NamedQuery, bind, get_query  # noqa: E402

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "summaries.json"

EPOCH_METRICS_FROM_SUMMARIES = """PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX provml: <https://w3id.org/provml#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?run ?stage ?stage_label ?epoch ?metric (AVG(?v) AS ?value)
WHERE {
  {
    SELECT ?run ?stage ?stage_label ?epoch ?metric ?v WHERE {
      ?stage provml:workflowExecution ?run ; a provml:LearningStageExecution ; rdfs:label ?stage_label .
      ?epoch_exec prov:wasInformedBy ?stage ; provml:iteration ?epoch .
      ?val prov:wasGeneratedBy ?epoch_exec ; a provml:ModelEvaluation ; provml:attributeName ?metric ; prov:value ?v .
      FILTER(isNumeric(?v))
    }
  } UNION {
    SELECT ?run ?stage ?stage_label ?epoch ?metric ?v WHERE {
      ?stage provml:workflowExecution ?run ; a provml:LearningStageExecution ; rdfs:label ?stage_label .
      ?epoch_exec prov:wasInformedBy ?stage ; provml:iteration ?epoch ; provml:summary ?s .
      ?s provml:attributeName ?m ; provml:meanValue ?v .
      BIND(CONCAT(?m, " (batch mean)") AS ?metric)
    }
  }
}
GROUP BY ?run ?stage ?stage_label ?epoch ?metric
ORDER BY ?run ?stage ?metric ?epoch"""


def q7_without_summaries() -> str:
    """Q7 in five sub-selects with its minimum batch loss read from every batch, as before the summaries."""
    text = (HERE / "former" / "q7_subselects.rq").read_text()
    summary = """      ?gen provml:summary ?summary .
      ?summary provml:attributeName ?loss ; provml:minimumValue ?l ."""
    walk = """      ?batch prov:wasInformedBy|provml:stageExecution ?gen ; provml:iteration ?it .
      ?lv prov:wasGeneratedBy ?batch ; provml:attributeName ?loss ; prov:value ?l ."""
    assert summary in text
    return text.replace(summary, walk)


def variant(name: str, text: str) -> NamedQuery:
    q = get_query(name)
    return NamedQuery(name=name, title=q.title, description=q.description, paper=q.paper,
                      parameters=q.parameters, text=text, source="variant")


def rows(store: pyoxigraph.Store, text: str) -> tuple[float, list[tuple[str | None, ...]]]:
    import time

    t0 = time.perf_counter()
    result = store.query(text, use_default_graph_as_union=True)
    assert isinstance(result, pyoxigraph.QuerySolutions)
    names = [v.value for v in result.variables]
    out = [tuple(None if s[n] is None else s[n].value for n in names) for s in result]
    return time.perf_counter() - t0, out


def same_values(a: list[tuple[str | None, ...]], b: list[tuple[str | None, ...]]) -> bool:
    """Equal rows, numbers compared to 1e-9 relative."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(sorted(a, key=str), sorted(b, key=str), strict=True):
        for x, y in zip(ra, rb, strict=True):
            if x == y:
                continue
            try:
                if not math.isclose(float(x or "nan"), float(y or "nan"), rel_tol=1e-9):
                    return False
            except ValueError:
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--selections", type=int, default=17)
    ap.add_argument("--store", type=Path, required=True, help="the provml store (built when missing)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--generic", type=Path, default=None,
                    help="the generic store of the same size: its Q7 alternated with the others")
    args = ap.parse_args()
    saved = bq.ensure_store(args.store, args.selections, "provml")
    store = pyoxigraph.Store.read_only(str(args.store))
    stores = {"generic": pyoxigraph.Store.read_only(str(args.generic))} if args.generic else {}
    params = saved["params"]
    pairs = {
        "q7": {"former": bind(variant("q7", (HERE / "former" / "q7.rq").read_text()), params["q7"]),
               "sub-selects without summaries": bind(variant("q7", q7_without_summaries()), params["q7"]),
               "sub-selects": bind(variant("q7", (HERE / "former" / "q7_subselects.rq").read_text()), params["q7"]),
               "current": bind(get_query("q7"), params["q7"]),
               **({"generic": bind(bq.generic_query("q7"), params["q7"])} if args.generic else {})},
        "epoch_metrics": {"current": bind(get_query("epoch_metrics"), params["epoch_metrics"]),
                          "from summaries": bind(variant("epoch_metrics", EPOCH_METRICS_FROM_SUMMARIES),
                                                 params["epoch_metrics"])},
    }
    entry: dict[str, Any] = {"selections": args.selections, "store": saved["info"], "queries": {}}
    for name, texts in pairs.items():
        times: dict[str, list[float]] = {k: [] for k in texts}
        answers = {k: rows(stores.get(k, store), t)[1] for k, t in texts.items()}  # warm-up
        first, *others = (a for k, a in answers.items() if k != "generic")
        equal = all(Counter(first) == Counter(b) if name == "q7" else same_values(first, b) for b in others)
        for _ in range(args.reps):
            for k, t in texts.items():
                times[k].append(rows(stores.get(k, store), t)[0])
        entry["queries"][name] = {"same_rows": equal, **{
            k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "rows": len(answers[k])}
            for k, v in times.items()}}
        line = " | ".join(f"{k} {statistics.median(v):7.3f} s ({min(v):.3f}-{max(v):.3f}) {len(answers[k])} rows"
                          for k, v in times.items())
        print(f"{name:14s} {line} | same rows: {equal}", flush=True)
    bq.save_size(RESULTS, entry)


if __name__ == "__main__":
    main()
