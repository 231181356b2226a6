"""What a small write does to the reads of a bulk-loaded on-disk store, and what compaction buys.

    .venv/bin/python benchmarks/store_layout.py [--runs 100] [--reps 5] [--queries 1,3,4,7]

Why ``provml serve`` compacts a store it has written the ontologies into at start
(``endpoint/app.py``): the endpoint benchmark's provml store (bulk-loaded without them) was
read 11–14 % slower than the same data under ``oxigraph serve``, query by query. Here, in one
process, the same queries (``kg/query/queries/q*.rq``, Q7 with the loss named) on four copies of
one bulk-loaded store, read alternately (A B C D A B C D …, CPU seconds of the reading thread,
each answer serialized as SPARQL JSON by Oxigraph):

* ``bulk``: the store as the bulk loader leaves it (the ontologies in the loaded data);
* ``log``: the same data bulk-loaded without the ontologies, which are then written as
  ``provml serve`` writes them (a transaction): they stay in the write-ahead log and memtable;
* ``flushed``: as ``log``, then flushed (a small file over the store's others);
* ``compacted``: as ``flushed``, then ``OxigraphStore.optimize()`` (what the server now does).

Writes ``benchmarks/results/store_layout.json``; docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pyoxigraph import QueryResultsFormat, RdfFormat, Store, serialize

from provml.knowledge import ONTOLOGY_GRAPHS, open_kg
from provml.store.oxigraph import OxigraphStore


def _endpoint_benchmark() -> Any:
    """``benchmarks/endpoint.py`` (its data and queries), loaded by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("endpoint_benchmark", Path(__file__).with_name("endpoint.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BENCH = _endpoint_benchmark()
ROOT, make_data, q7 = _BENCH.ROOT, _BENCH.make_data, _BENCH.q7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="learning workflows in the data")
    parser.add_argument("--reps", type=int, default=5, help="alternations")
    parser.add_argument("--queries", default="1,3,4,7", help="which of Q1-Q7 (Q5 takes ~6 s each)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "store_layout.json")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    workdir = Path(tempfile.mkdtemp(prefix="provml-layout-"))
    nq, quads = make_data(args.runs, workdir, ontologies=False)
    ontologies = open_kg()  # the quads provml writes at start, as it writes them
    onto = [q for q in ontologies.store.quads() if q.graph_name in ONTOLOGY_GRAPHS]
    ontologies.close()
    with_onto = workdir / "with-ontologies.nq"
    with_onto.write_bytes(nq.read_bytes() + _nquads(onto))
    stores: dict[str, Any] = {}
    for name in ("bulk", "log", "flushed", "compacted"):
        raw = Store(str(workdir / name))
        raw.bulk_load(path=str(with_onto if name == "bulk" else nq), format=RdfFormat.N_QUADS)
        raw.flush()
        del raw
        store = OxigraphStore(workdir / name)
        if name != "bulk":
            store.add(onto)
        if name in ("flushed", "compacted"):
            store.flush()
        if name == "compacted":
            started = time.perf_counter()
            store.optimize()
            compaction_s = time.perf_counter() - started
        stores[name] = store
    texts = {int(i): (q7() if i == "7" else (ROOT / "kg" / "query" / "queries" / f"q{i}.rq").read_text())
             for i in args.queries.split(",")}
    samples: dict[str, dict[int, list[float]]] = {n: {i: [] for i in texts} for n in stores}
    load = [os.getloadavg()[0]]
    for _ in range(args.reps):
        for i, text in texts.items():
            for name, store in stores.items():
                started = time.thread_time()
                store.raw.query(text, use_default_graph_as_union=True).serialize(format=QueryResultsFormat.JSON)
                samples[name][i].append(time.thread_time() - started)
        load.append(os.getloadavg()[0])
    result: dict[str, Any] = {"quads": quads + len(onto), "ontology_quads": len(onto),
                              "compaction_s": compaction_s, "reps": args.reps, "load_average": load,
                              "queries": {}}
    for i in texts:
        base = statistics.median(samples["bulk"][i])
        row = {n: {"median_s": statistics.median(s[i]), "min_s": min(s[i]), "max_s": max(s[i]),
                   "over_bulk": statistics.median(s[i]) / base} for n, s in samples.items()}
        result["queries"][f"q{i}"] = row
        print(f"Q{i}: " + ", ".join(f"{n} {r['median_s']:.3f} s ({r['over_bulk']:.2f}x)" for n, r in row.items()),
              flush=True)
    print(f"compaction {compaction_s:.2f} s for {quads + len(onto)} quads; load {load}")
    for store in stores.values():
        store.close()
    args.out.write_text(json.dumps(result, indent=1))


def _nquads(quads: list[Any]) -> bytes:
    data = serialize(quads, format=RdfFormat.N_QUADS)
    assert data is not None
    return data


if __name__ == "__main__":
    main()
