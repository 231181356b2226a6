"""The query experiment on a second engine: Virtuoso Open Source 7 through provml's remote store.

    OMP_NUM_THREADS=1 python benchmarks/virtuoso.py --keep DIR [--selections 2 17] [--reps 5]

For each size, the two stores of ``queries.py`` (``--keep DIR``: reused when there, else built) are
dumped as N-Quads and bulk-loaded into two Virtuoso 7 servers (Debian ``virtuoso-opensource``),
one per representation, each with its own database in a temporary folder, on 127.0.0.1, started
here and stopped after: ``ld_dir`` + ``rdf_loader_run()`` + ``checkpoint`` through ``isql-vt``
(Virtuoso's bulk loader; load time = that, the dump not included). Every named query runs on the
provml server, Q1-Q7 also on the generic one (``generic_queries/``), through
``provml.store.remote.RemoteStore.from_spec("virtuoso+http://…")`` — the way a provml user reaches
it — with the same parameters as ``queries.py``, alternating provml / generic: one warm-up, then
``reps`` runs; median, min, max seconds, and the rows, compared with Oxigraph's
(``results/queries.json``). Servers: 2 GB of buffers each, no result-size cap, queries stopped
after ``--query-timeout`` s (Virtuoso then may answer with partial results, so a row count that
differs from Oxigraph's is reported, never hidden; a query that does not answer within the limit
plus 10 s is recorded as such, once, and its server restarted). Results: ``benchmarks/results/virtuoso.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' Virtuoso server (virtuoso_server.py)

import pyoxigraph  # noqa: E402
import queries as bq  # noqa: E402
from virtuoso_server import VirtuosoServer  # noqa: E402

from provml.errors import RemoteError  # noqa: E402
from provml.query.named import bind, get_query, list_queries  # noqa: E402
from provml.store.remote import RemoteStore  # noqa: E402

RESULTS = HERE / "results" / "virtuoso.json"


class BenchVirtuoso(VirtuosoServer):
    """The tests' server with a benchmark's settings: 2 GB of buffers, no cap on result rows,
    a per-query time limit, the load folder readable by the bulk loader."""

    def __init__(self, directory: Path, load_dir: Path, query_timeout_s: int) -> None:
        super().__init__(directory)
        self.load_dir = load_dir
        self.query_timeout_s = query_timeout_s

    def _ini(self) -> Path:
        ini = super()._ini()
        text = ini.read_text()
        text = re.sub(r"(?m)^NumberOfBuffers(\s*)= .*$", r"NumberOfBuffers\1= 250000", text)
        text = re.sub(r"(?m)^MaxDirtyBuffers(\s*)= .*$", r"MaxDirtyBuffers\1= 180000", text)
        text = re.sub(r"(?m)^ResultSetMaxRows(\s*)= .*$", r"ResultSetMaxRows\1= 10000000", text)
        text = re.sub(r"(?m)^MaxQueryExecutionTime(\s*)= .*$",
                      rf"MaxQueryExecutionTime\1= {self.query_timeout_s}", text)
        text = re.sub(r"(?m)^(DirsAllowed\s*= .*)$", rf"\1, {self.load_dir}", text)
        ini.write_text(text)
        return ini

    def bulk_load(self, nquads: Path) -> float:
        t0 = time.perf_counter()
        self.isql(f"ld_dir('{nquads.parent}', '{nquads.name}', 'urn:provml:bench:default');")
        done = subprocess.run(["isql-vt", str(self.sql_port), "dba", "dba", "exec=rdf_loader_run();"],
                              capture_output=True, text=True, timeout=7200, check=True)
        self.isql("checkpoint;")
        seconds = time.perf_counter() - t0
        errors = self.isql("SELECT ll_file, ll_error FROM DB.DBA.load_list WHERE ll_error IS NOT NULL;")
        if "0 Rows" not in errors:
            raise RuntimeError(f"the bulk load reported errors: {errors}\n{done.stdout}")
        return seconds


def timed(store: RemoteStore, text: str, server: BenchVirtuoso) -> tuple[float, int | str]:
    """Seconds and rows (or the error); a query that does not answer in time keeps the server
    busy after the client gave up, so the server is restarted (its database stays)."""
    t0 = time.perf_counter()
    try:
        n: int | str = sum(1 for _ in store.query(text))  # type: ignore[union-attr]
    except RemoteError as error:
        n = f"error {error.status}: {str(error)[:200]}"
        if error.status == 0:
            seconds = time.perf_counter() - t0
            server.__exit__(None, None, None)
            server.__enter__()
            return seconds, "no answer within the time limit"
    return time.perf_counter() - t0, n


def oxigraph_rows(selections: int) -> dict[str, dict[str, int]]:
    if not bq.RESULTS.exists():
        return {}
    for run in json.loads(bq.RESULTS.read_text())["runs"]:
        if run["selections"] == selections:
            return {name: {rep: e["rows"] for rep, e in entry.items()} for name, entry in run["queries"].items()}
    return {}


def run_size(selections: int, keep: Path, work: Path, reps: int, timeout_s: int,
             skip_generic: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {"selections": selections, "stores": {}, "queries": {}}
    servers: dict[str, BenchVirtuoso] = {}
    params: dict[str, dict[str, str]] = {}
    try:
        for rep in ("provml", "generic"):
            built = bq.ensure_store(keep / f"{rep}-{selections}", selections, rep)
            params = built["params"]
            load_dir = work / f"{rep}-load"
            load_dir.mkdir(parents=True, exist_ok=True)
            nquads = load_dir / "data.nq"
            t0 = time.perf_counter()
            pyoxigraph.Store.read_only(str(keep / f"{rep}-{selections}")).dump(
                str(nquads), pyoxigraph.RdfFormat.N_QUADS)
            dump_s = time.perf_counter() - t0
            server = BenchVirtuoso(work / f"{rep}-db", load_dir, timeout_s).__enter__()
            servers[rep] = server
            load_s = server.bulk_load(nquads)
            nquads.unlink()
            store = RemoteStore.from_spec(f"virtuoso+{server.url}", timeout_s=timeout_s + 10)
            count = int(next(iter(store.query(  # type: ignore[call-overload]
                "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")))["n"].value)
            row["stores"][rep] = {"quads": count, "oxigraph_quads": built["info"]["quads"], "dump_s": dump_s,
                                  "load_s": load_s}
            print(f"  {rep:8s} {count:>10,} quads in Virtuoso, bulk load {load_s:.1f} s (dump {dump_s:.1f} s)",
                  flush=True)
        stores = {rep: RemoteStore.from_spec(f"virtuoso+{s.url}", timeout_s=timeout_s + 10)
                  for rep, s in servers.items()}
        expected = oxigraph_rows(selections)
        for name in [q.name for q in list_queries()]:
            texts = {"provml": bind(get_query(name), params.get(name, {}))}
            if (HERE / "generic_queries" / f"{name}.rq").exists() and name not in skip_generic:
                texts["generic"] = bind(bq.generic_query(name), params.get(name, {}))
            times: dict[str, list[float]] = {k: [] for k in texts}
            rows: dict[str, int | str] = {}
            for rep, text in texts.items():
                seconds, rows[rep] = timed(stores[rep], text, servers[rep])
                if seconds > timeout_s or isinstance(rows[rep], str):
                    times[rep].append(seconds)  # too slow or failed: once
            for _ in range(reps):
                for rep, text in texts.items():
                    if len(times[rep]) == 1 and (times[rep][0] > timeout_s or isinstance(rows[rep], str)):
                        continue
                    times[rep].append(timed(stores[rep], text, servers[rep])[0])
            entry = {rep: {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "n": len(ts),
                           "rows": rows[rep], "oxigraph_rows": expected.get(name, {}).get(rep)}
                     for rep, ts in times.items()}
            row["queries"][name] = entry
            print("  " + f"{name:22s} " + " | ".join(
                f"{rep} {e['median_s']:8.3f} s ({e['min_s']:.3f}-{e['max_s']:.3f}) {e['rows']} rows"
                + ("" if e["oxigraph_rows"] in (None, e["rows"]) else f" (Oxigraph: {e['oxigraph_rows']})")
                for rep, e in entry.items()), flush=True)
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)
    return row


def _cell(e: dict[str, Any] | None) -> str:
    if e is None:
        return "—"
    if isinstance(e["rows"], str):
        return "no answer" if "time limit" in e["rows"] else "error"
    cell = f"{e['median_s']:.3f} ({e['min_s']:.3f}–{e['max_s']:.3f})" if e["n"] > 1 else f"{e['median_s']:.3g} (1 run)"
    if e["oxigraph_rows"] is not None and e["oxigraph_rows"] != e["rows"]:
        cell += f" **{e['rows']} rows, Oxigraph {e['oxigraph_rows']}**"
    return cell


def table(out: dict[str, Any]) -> str:
    """The saved results as the Markdown table of docs/benchmarks.md."""
    runs = out["runs"]
    sizes = {rep: [f"{r['stores'][rep]['quads'] / 1e6:.2g} M quads" for r in runs] for rep in ("provml", "generic")}
    head = ["query"] + [f"{rep}, {s}" for rep in ("provml", "generic") for s in sizes[rep]]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for name in runs[0]["queries"]:
        cells = [f"`{name}`"]
        for rep in ("provml", "generic"):
            cells += [_cell(r["queries"].get(name, {}).get(rep)) for r in runs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--selections", type=int, nargs="+", default=[2, 17])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keep", type=Path, required=True, help="queries.py's stores (built when missing)")
    ap.add_argument("--workdir", type=Path, default=None, help="where the Virtuoso databases go (a temp dir)")
    ap.add_argument("--query-timeout", type=int, default=60, help="Virtuoso's per-query limit, seconds")
    ap.add_argument("--skip-generic", nargs="*", default=[], help="generic queries not to run")
    ap.add_argument("--merge", action="store_true", help="add these sizes to the saved results")
    ap.add_argument("--table", action="store_true", help="print the saved results as a Markdown table and stop")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(RESULTS.read_text())))
        return
    version = subprocess.run(["virtuoso-t", "-?"], capture_output=True, text=True).stderr.splitlines()
    out: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(),
                           "virtuoso": next((v for v in version if "Version" in v), "?").strip(),
                           "reps": args.reps, "runs": []}
    if args.merge and RESULTS.exists():
        out["runs"] = [r for r in json.loads(RESULTS.read_text())["runs"] if r["selections"] not in args.selections]
    for n in args.selections:
        print(f"{n} selections", flush=True)
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            out["runs"].append(run_size(n, args.keep, Path(tmp), args.reps, args.query_timeout,
                                        tuple(args.skip_generic)))
            shutil.rmtree(tmp, ignore_errors=True)
        out["runs"].sort(key=lambda r: r["selections"])
        RESULTS.write_text(json.dumps(out, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
