"""The paper's query experiment (S1 §5.4, Fig. 10 / Table 3), reproduced and extended.

    OMP_NUM_THREADS=1 python benchmarks/queries.py [--selections 2 17 170] [--reps 5] [--quick]

For each size, the paper-shaped workload (``paper_workload.py``: 8 learning runs per data
selection, 10 epochs x 35 batches, a loss per batch, a model and evaluations per epoch, a
validation stage; curation, preparation and a domain graph) is translated by provml and
bulk-loaded into two on-disk Oxigraph stores (``query_stores.py``): **provml** (PROV-ML types,
the class closure and provml's ingest-time shortcuts) and **generic** (the same runs without
PROV-ML: PROVLake's generic classes, the kind as a string tag on the plan or attribute).

Every named query is timed on the provml store; Q1-Q7 also on the generic store with the queries
of ``generic_queries/`` (same parameters), alternating provml / generic run by run. Each query runs
once to warm up, then ``reps`` times: median, min and max seconds, and the number of rows.
Each evaluation's process CPU seconds are recorded beside its wall-clock seconds (the query's own
work, which the other jobs on a shared machine do not inflate as they do the wall clock).
Results: ``benchmarks/results/queries.json`` and ``queries.png`` (log scale; with Virtuoso's
numbers beside when ``virtuoso.py`` has run). ``--table`` prints the saved results as Markdown.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import paper_workload as pw  # noqa: E402
import pyoxigraph  # noqa: E402
import query_stores as qs  # noqa: E402

from provml.query.named import NamedQuery, bind, get_query, list_queries  # noqa: E402

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "queries.json"
PLOT = HERE / "results" / "queries.png"
DATA = "https://w3id.org/provml/id/data/sha256-"


def params(truth: pw.Truth) -> dict[str, dict[str, str]]:
    """Parameters of every named query, as a user would give them (one model, one set, one selection)."""
    tr = next(t for t in truth.trainings if not t.gb and t.selection == "sel-0")
    model = DATA + tr.models[-1]
    train_set = DATA + truth.train_set["sel-0"]
    selection = {"selection": "train_wells", "selection_value": pw.selection_text(truth.selections["sel-0"])}
    well = truth.wells[truth.selections["sel-0"][0]]
    base = "https://w3id.org/provml/id/"
    return {
        "q1": {"model": model}, "q2": {"model": model},
        "q3": {"training_set": train_set}, "q4": {"training_set": train_set},
        "q5": selection, "q6": {"training_set": train_set}, "q7": selection,
        "lineage": {"node": model}, "impact": {"source": DATA + truth.raw[well.id]},
        "best_model": {"metric": "macro_f1"},
        "compare_runs": {"run_a": base + "run/" + tr.run, "run_b": base + "run/" + truth.trainings[1].run},
        "epoch_metrics": {"run": base + "run/" + tr.run},
        "og_models_by_field": {"field": well.field},
        "og_prediction_sources": {},
        "og_well_impact": {"well": well.iri},
        "og_wells": {},
    }


def generic_query(name: str) -> NamedQuery:
    provml = get_query(name)
    text = (HERE / "generic_queries" / f"{name}.rq").read_text()
    return NamedQuery(name=name, title=provml.title, description="without PROV-ML", paper=provml.paper,
                      parameters=provml.parameters, text=text, source="generic")


def timed(store: pyoxigraph.Store, text: str) -> tuple[float, int]:
    return timed_cpu(store, text)[::2]  # type: ignore[return-value]


def timed_cpu(store: pyoxigraph.Store, text: str) -> tuple[float, float, int]:
    """Wall-clock seconds, this process's CPU seconds and the number of rows of one evaluation
    (every solution iterated). Oxigraph evaluates on the calling thread, so the CPU seconds are
    the query's own work: on a machine shared with other jobs they stay near what an idle
    machine's wall clock would show, where the wall clock grows with the others' load."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(1 for _ in store.query(text, use_default_graph_as_union=True))
    return time.perf_counter() - t0, time.process_time() - c0, n


def save_size(path: Path, entry: dict[str, Any]) -> None:
    """Merge one size's ``entry`` into the results at ``path`` (replacing that size's former
    entry, sorted by size) and print where."""
    out = json.loads(path.read_text()) if path.exists() else {"runs": []}
    out["runs"] = sorted([r for r in out["runs"] if r["selections"] != entry["selections"]] + [entry],
                         key=lambda r: r["selections"])
    out["pyoxigraph"] = pyoxigraph.__version__
    path.write_text(json.dumps(out, indent=2))
    print(f"saved {path}")


def ensure_store(path: Path, selections: int, rep: str) -> dict[str, Any]:
    """Build the ``rep`` store of ``selections`` at ``path`` unless it is there with its
    ``<path>.params.json`` (kept by ``--keep``; ``forward_lineage.py`` and ``summaries.py`` reuse
    it); returns that file's content: the store's size and load time, and the queries' parameters."""
    saved = path.with_name(path.name + ".params.json")
    if path.exists() and saved.exists():
        print(f"  {rep:8s} reusing {path}", flush=True)
        return dict(json.loads(saved.read_text()))
    runs, truth = pw.generate_lazily(selections)
    shutil.rmtree(path, ignore_errors=True)
    # the domain graph needs the wells, which generate_lazily fills before the first run
    info = qs.build(path, runs, pw.domain_quads(truth, qs.DOMAIN_GRAPH), representation=rep)
    info["disk_bytes"] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(f"  {rep:8s} {info['quads']:>10,} quads, load {info['load_s']:.1f} s "
          f"({info['translate_s']:.1f} s translating), {info['disk_bytes'] / 1e6:.0f} MB", flush=True)
    out = {"info": info, "params": params(truth)}
    saved.write_text(json.dumps(out))
    gc.collect()
    return out


def run_size(selections: int, reps: int, tmp: Path, timeout_note: float,
             skip_generic: tuple[str, ...] = (), only: tuple[str, ...] = ()) -> dict[str, Any]:
    row: dict[str, Any] = {"selections": selections, "learning_runs": selections * 8, "stores": {}, "queries": {}}
    p: dict[str, dict[str, str]] = {}
    for rep in ("provml", "generic"):
        built = ensure_store(tmp / f"{rep}-{selections}", selections, rep)
        row["stores"][rep] = built["info"]
        p = built["params"]
    stores = {rep: pyoxigraph.Store.read_only(str(tmp / f"{rep}-{selections}")) for rep in ("provml", "generic")}
    names = [q.name for q in list_queries() if not only or q.name in only]
    for name in names:
        texts = {"provml": bind(get_query(name), p.get(name, {}))}
        if (HERE / "generic_queries" / f"{name}.rq").exists() and name not in skip_generic:
            texts["generic"] = bind(generic_query(name), p.get(name, {}))
        times: dict[str, list[float]] = {k: [] for k in texts}
        cpu: dict[str, list[float]] = {k: [] for k in texts}
        rows: dict[str, int] = {}
        for rep, text in texts.items():  # warm-up
            seconds, cpu_s, rows[rep] = timed_cpu(stores[rep], text)
            if seconds > timeout_note:  # too slow to repeat: one measurement
                times[rep].append(seconds)
                cpu[rep].append(cpu_s)
        for _ in range(reps):
            for rep, text in texts.items():  # alternate provml / generic
                if len(times[rep]) == 1 and times[rep][0] > timeout_note:
                    continue
                seconds, cpu_s, _ = timed_cpu(stores[rep], text)
                times[rep].append(seconds)
                cpu[rep].append(cpu_s)
        entry = {rep: {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "n": len(ts),
                       "cpu_median_s": statistics.median(cpu[rep]), "cpu_min_s": min(cpu[rep]),
                       "cpu_max_s": max(cpu[rep]), "rows": rows[rep]} for rep, ts in times.items()}
        row["queries"][name] = entry
        p_ = entry["provml"]
        line = f"  {name:22s} provml {p_['median_s']:8.3f} s ({p_['min_s']:.3f}-{p_['max_s']:.3f}; " \
               f"CPU {p_['cpu_median_s']:.3f}) {p_['rows']:>6} rows"
        if "generic" in entry:
            g = entry["generic"]
            line += f" | generic {g['median_s']:8.3f} s ({g['min_s']:.3f}-{g['max_s']:.3f}; CPU " \
                    f"{g['cpu_median_s']:.3f}) {g['rows']:>6} rows | x{g['median_s'] / p_['median_s']:.1f}" \
                    f" (CPU x{g['cpu_median_s'] / p_['cpu_median_s']:.1f})"
        print(line, flush=True)
    del stores
    return row


def _panel(ax: Any, runs: list[dict[str, Any]], engine: str) -> None:
    sizes = [r["stores"]["provml"]["quads"] for r in runs]
    for i, name in enumerate(f"q{k}" for k in range(1, 8)):
        color = f"C{i}"
        for rep, style in (("provml", "-o"), ("generic", "--x")):
            ys = []
            for r in runs:
                e = r["queries"].get(name, {}).get(rep)
                ok = (e is not None and not isinstance(e.get("rows"), str)
                      and e.get("oxigraph_rows") in (None, e.get("rows")))  # wrong answers left out
                ys.append(e["median_s"] if ok and e is not None else None)
            if any(y is not None for y in ys):
                ax.plot(sizes, ys, style, color=color, label=f"{name} {rep}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("quads (provml store)")
    ax.set_ylabel(f"median latency, s (warm, {engine})")
    ax.set_title(f"{engine}: with PROV-ML (solid) and without (dashed)")
    ax.grid(True, which="both", alpha=0.3)


def plot(out: dict[str, Any]) -> None:
    """Latency against size per query, both representations, log scale: embedded Oxigraph and,
    when ``virtuoso.py`` has saved results, Virtuoso beside it (failed queries, and answers whose
    row count differs from Oxigraph's, left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    virtuoso = HERE / "results" / "virtuoso.json"
    engines = [("embedded Oxigraph", out["runs"])]
    if virtuoso.exists():
        engines.append(("Virtuoso 7", json.loads(virtuoso.read_text())["runs"]))
    fig, axes = plt.subplots(1, len(engines), figsize=(8 * len(engines), 5), sharey=True, squeeze=False)
    for ax, (engine, runs) in zip(axes[0], engines, strict=True):
        _panel(ax, runs, engine)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)


def _cell(e: dict[str, Any] | None) -> str:
    if e is None:
        return "—"
    if e["n"] == 1:
        return f"{e['median_s']:.3g} (1 run)"
    return f"{e['median_s']:.3f} ({e['min_s']:.3f}–{e['max_s']:.3f})"


def table(out: dict[str, Any]) -> str:
    """The saved results as the Markdown table of docs/benchmarks.md."""
    runs = out["runs"]
    sizes = {rep: [f"{r['stores'][rep]['quads'] / 1e6:.2g} M quads" for r in runs] for rep in ("provml", "generic")}
    head = ["query"] + [f"{rep}, {s}" for rep in ("provml", "generic") for s in sizes[rep]] + ["speed-up at the largest"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for name in runs[0]["queries"]:
        cells = [f"`{name}`"]
        for rep in ("provml", "generic"):
            cells += [_cell(r["queries"].get(name, {}).get(rep)) for r in runs]
        last = runs[-1]["queries"].get(name, {})
        ratio = (f"{last['generic']['median_s'] / last['provml']['median_s']:.2g}×"
                 if "generic" in last and "provml" in last else "")
        lines.append("| " + " | ".join(cells + [ratio]) + " |")
    return "\n".join(lines)


def cpu_table(out: dict[str, Any]) -> str:
    """The saved results' CPU seconds (median, min–max; runs saved before they were recorded: —)
    as a Markdown table: the query's own work, whatever the machine's load."""
    runs = out["runs"]

    def cell(e: dict[str, Any] | None) -> str:
        if e is None or "cpu_median_s" not in e:
            return "—"
        return f"{e['cpu_median_s']:.3f} ({e['cpu_min_s']:.3f}–{e['cpu_max_s']:.3f})"

    head = ["query"] + [f"{rep}, {r['stores'][rep]['quads'] / 1e6:.2g} M quads" for rep in ("provml", "generic")
                        for r in runs] + ["speed-up at the largest"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for name in runs[0]["queries"]:
        cells = [f"`{name}`"] + [cell(r["queries"].get(name, {}).get(rep)) for rep in ("provml", "generic")
                                  for r in runs]
        last = runs[-1]["queries"].get(name, {})
        ratio = (f"{last['generic']['cpu_median_s'] / last['provml']['cpu_median_s']:.2g}×"
                 if "cpu_median_s" in last.get("generic", {}) and "cpu_median_s" in last.get("provml", {}) else "")
        lines.append("| " + " | ".join(cells + [ratio]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--selections", type=int, nargs="+", default=[2, 17],
                    help="data selections per size (8 learning runs each): 2 ~ 10^5 quads, 17 ~ 10^6, 170 ~ 10^7")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--slow", type=float, default=30.0, help="a query slower than this (s) is measured once")
    ap.add_argument("--workdir", type=Path, default=None, help="where the stores are built (default: a temp dir)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="build the stores in this folder and keep them (reused when there: <rep>-<selections>)")
    ap.add_argument("--quick", action="store_true", help="one size of 1 selection, 2 repetitions")
    ap.add_argument("--skip-generic", nargs="*", default=[], help="generic queries not to run (too slow at this size)")
    ap.add_argument("--merge", action="store_true", help="add these sizes to the saved results instead of replacing them")
    ap.add_argument("--only", nargs="+", default=[], metavar="QUERY",
                    help="run only these named queries (with --out: results kept apart from the full run's)")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"write the results here instead of {RESULTS.name} (no plot)")
    ap.add_argument("--table", action="store_true", help="print the saved results as a Markdown table and stop")
    ap.add_argument("--plot", action="store_true", help="redraw the plot from the saved results and stop")
    args = ap.parse_args()
    if args.table:
        saved = json.loads(RESULTS.read_text())
        print(table(saved))
        print()
        print(cpu_table(saved))
        return
    if args.plot:
        plot(json.loads(RESULTS.read_text()))
        return
    if args.quick:
        args.selections, args.reps = [1], 2
    out: dict[str, Any] = {
        "machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "pyoxigraph": pyoxigraph.__version__, "reps": args.reps, "runs": [],
        "load_average_start": os.getloadavg(),
    }
    if args.merge and RESULTS.exists():
        out["runs"] = [r for r in json.loads(RESULTS.read_text())["runs"] if r["selections"] not in args.selections]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for n in args.selections:
            print(f"{n} selections ({n * 8} learning runs)", flush=True)
            out["runs"].append(run_size(n, args.reps, root, args.slow, tuple(args.skip_generic),
                                        tuple(args.only)))
            out["runs"].sort(key=lambda r: r["selections"])
            if not args.keep:
                shutil.rmtree(Path(tmp), ignore_errors=True)
                Path(tmp).mkdir(exist_ok=True)
            out["load_average_end"] = os.getloadavg()
            target = args.out or RESULTS
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(out, indent=2))
    if args.out is not None:
        print(f"saved {args.out}")
        return
    plot(out)
    print(f"saved {RESULTS} and {PLOT}")


if __name__ == "__main__":
    main()
