"""Forward lineage (``impact``, ``og_well_impact``, ``og_models_by_field``): the former texts (one
property path walked forwards from the raw file) against the current ones (sub-selects walked
backwards and joined; docs/queries.md), alternated run by run on one provml store.

    OMP_NUM_THREADS=1 python benchmarks/forward_lineage.py --selections 17 [--store DIR] [--reps 5]

Builds the paper-shaped provml store (``paper_workload.py``, ``query_stores.py``) at ``--selections``
(17 ~ 10^6 quads, 170 ~ 10^7) in ``--store`` (kept, and reused when it is already there), with the
parameters of ``queries.py``; one warm-up, then ``reps`` runs of each text, alternated: median, min,
max seconds and the rows (which must be equal). Results: ``benchmarks/results/forward_lineage.json``
(one entry per size, merged).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import paper_workload as pw  # noqa: E402
import pyoxigraph  # noqa: E402
import queries as bq  # noqa: E402
import query_stores as qs  # noqa: E402

from provml.query.named import NamedQuery, bind, get_query  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "forward_lineage.json"

PREFIXES = """PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX provml: <https://w3id.org/provml#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX og: <https://w3id.org/provml/oil-gas#>
"""
CLASSES = '(provml:LearningDataset "learning dataset") (provml:Model "model") (provml:Prediction "prediction")'
#: the texts before the rewrite (commit 73af5a2)
FORMER = {
    "impact": PREFIXES + """SELECT DISTINCT ?source ?affected ?kind ?label
WHERE {
  BIND(BOUND(?source) AS ?given)
  ?source a provml:DataReference .
  FILTER(?given || EXISTS { ?source provml:kgReference ?d })
  ?affected (prov:wasGeneratedBy/prov:wasInformedBy*/prov:used)+ ?source .
  VALUES (?class ?kind) { $CLASSES }
  ?affected a ?class .
  OPTIONAL { ?affected rdfs:label ?label }
}
ORDER BY ?source ?kind ?affected""".replace("$CLASSES", CLASSES),
    "og_well_impact": PREFIXES + """SELECT DISTINCT ?well ?well_id ?raw ?kind ?affected ?label
WHERE {
  ?raw a provml:DataReference ; provml:kgReference ?well .
  ?well a og:Well .
  OPTIONAL { ?well og:officialName ?well_id }
  FILTER NOT EXISTS { ?raw prov:wasGeneratedBy ?any }
  ?affected (prov:wasGeneratedBy/prov:wasInformedBy*/prov:used)+ ?raw .
  VALUES (?class ?kind) { $CLASSES }
  ?affected a ?class .
  OPTIONAL { ?affected rdfs:label ?label }
}
ORDER BY ?well ?kind ?label""".replace("$CLASSES", CLASSES),
    "og_models_by_field": PREFIXES + """SELECT ?field ?field_label ?model (GROUP_CONCAT(DISTINCT ?well_id; separator=", ") AS ?wells)
       ?lithology ?stage ?measure ?score
WHERE {
  ?model a provml:Model ; prov:wasGeneratedBy/prov:wasInformedBy* ?training .
  ?training a provml:TrainingExecution ; prov:used ?training_set .
  ?training_set a provml:LearningDataset ;
                (prov:wasGeneratedBy/prov:wasInformedBy*/prov:used)+ ?raw .
  ?raw a provml:DataReference ; provml:kgReference ?well .
  ?well og:wellInField ?field ; og:officialName ?well_id .
  OPTIONAL { ?field rdfs:label ?field_label }
  OPTIONAL {
    ?ev provml:evaluatedModel ?model ; provml:kgReference ?lithology ; prov:value ?score ;
        prov:wasDerivedFrom/rdfs:label ?measure ;
        prov:wasGeneratedBy/prov:wasInformedBy* ?st .
    ?lithology a og:Lithology .
    ?st a provml:LearningStageExecution ; rdfs:label ?stage .
  }
}
GROUP BY ?field ?field_label ?model ?lithology ?stage ?measure ?score
ORDER BY ?field ?lithology DESC(?score) ?model""",
}


def former(name: str) -> NamedQuery:
    q = get_query(name)
    return NamedQuery(name=name, title=q.title, description=q.description, paper=q.paper,
                      parameters=q.parameters, text=FORMER[name], source="former")


def rows(store: pyoxigraph.Store, text: str) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    result = store.query(text, use_default_graph_as_union=True)
    assert isinstance(result, pyoxigraph.QuerySolutions)
    out = [repr(s) for s in result]
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--selections", type=int, default=17)
    ap.add_argument("--store", type=Path, required=True, help="where the provml store is (built when missing)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    params_file = args.store.with_name(args.store.name + ".params.json")
    if not (args.store.exists() and params_file.exists()):
        runs, truth = pw.generate_lazily(args.selections)
        info = qs.build(args.store, runs, pw.domain_quads(truth, qs.DOMAIN_GRAPH), representation="provml")
        params_file.write_text(json.dumps({"info": info, "params": bq.params(truth)}))
    saved = json.loads(params_file.read_text())
    store = pyoxigraph.Store.read_only(str(args.store))
    entry: dict[str, Any] = {"selections": args.selections, "store": saved["info"], "queries": {}}
    for name in FORMER:
        texts = {"former": bind(former(name), saved["params"][name]),
                 "current": bind(get_query(name), saved["params"][name])}
        times: dict[str, list[float]] = {k: [] for k in texts}
        n = {k: len(rows(store, t)[1]) for k, t in texts.items()}  # warm-up
        for _ in range(args.reps):
            for k, t in texts.items():
                times[k].append(rows(store, t)[0])
        entry["queries"][name] = {k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v),
                                      "rows": n[k]} for k, v in times.items()}
        e = entry["queries"][name]
        print(f"{name:20s} former {e['former']['median_s']:7.3f} s ({e['former']['min_s']:.3f}-{e['former']['max_s']:.3f})"
              f" | current {e['current']['median_s']:7.3f} s ({e['current']['min_s']:.3f}-{e['current']['max_s']:.3f})"
              f" | rows {n['former']} / {n['current']}", flush=True)
    bq.save_size(RESULTS, entry)


if __name__ == "__main__":
    main()
