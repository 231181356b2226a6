"""The main job: run the four FORCE 2020 workflows with provml capture, load everything into one
knowledge graph with the domain graph, and serve it.

Layout of the workspace (default ``.provml/demo/``, ``--workdir`` to change):

- ``spool/``  the capture events, JSON lines (the client runs *diskful, offline*: each workflow's
  events are appended here, then loaded in one go — ``provml load .provml/demo/spool`` does the same);
- ``store/``  the Oxigraph store (``provml serve --store .provml/demo/store``);
- ``work/``   what the workflows wrote: curated tables, learning datasets, models, metrics, predictions;
- ``demo.json`` written last: its presence means the store is complete and is reused next time.

``--fresh`` deletes the workspace first; ``--no-serve`` stops after loading (tests, CI).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .common import DOMAIN_GRAPH, Settings, Workspace, read_json, say, write_json

DEFAULT_WORKDIR = Path(".provml") / "demo"


def run_workflows(ws: Workspace, settings: Settings) -> dict[str, float]:
    """The four workflows, captured to ``ws.spool``; returns seconds per workflow."""
    import provml

    from . import curation, inference, learning, preparation

    timings: dict[str, float] = {}
    with provml.Client(spool_dir=ws.spool, online=False, install_signal_handler=False) as client:
        for name, step in (("curation", lambda: curation.run(client, ws)),
                           ("preparation", lambda: preparation.run(client, ws, settings)),
                           ("learning", lambda: learning.run(client, ws, settings)),
                           ("inference", lambda: inference.run(client, ws))):
            say(f"[{name}]")
            started = time.perf_counter()
            step()
            client.flush()
            timings[name] = round(time.perf_counter() - started, 2)
    return timings


def load_store(ws: Workspace) -> dict[str, Any]:
    """Load the spools and the domain graph into ``ws.store``; returns a summary."""
    from pyoxigraph import NamedNode

    from provml.capture.spool import spool_files
    from provml.ingest.loader import load_paths
    from provml.knowledge import open_kg

    from . import domain

    started = time.perf_counter()
    files = spool_files(ws.spool)
    with open_kg(ws.store) as kg:
        say(f"[load] {len(files)} spool file(s) into {ws.store}")
        done = [0]

        def progress(n: int) -> None:
            done[0] += n
            say(f"  {done[0]} events validated and stored")

        summary = load_paths(kg, files, batch_size=2000, progress=progress)
        if summary.rejected:
            raise RuntimeError(f"{len(summary.rejected)} batch(es) rejected: {summary.rejected[0].reason}")
        result = kg.ingest_quads(domain.build(), graph=NamedNode(DOMAIN_GRAPH))
        say(f"[domain] {result.triples} triples of the Oil & Gas domain graph into <{DOMAIN_GRAPH}>")
        triples = len(kg.store)
    return {"events": summary.events, "triples": triples, "domain_triples": result.triples,
            "seconds": round(time.perf_counter() - started, 2)}


def ready_made_queries(root: str, ws: Workspace) -> list[tuple[str, str]]:
    """A few ``/api/queries/<name>?...`` URLs on the demo's data, with what each answers."""
    from provml.vocab import DEFAULT_BASE

    from .common import read_wells

    inference = read_json(ws.work / "predictions" / "inference.json")
    wells = {w.well_id: w for w in read_wells()}
    pred = f"{DEFAULT_BASE}data/sha256-{inference['prediction']['sha256']}"
    out = [
        ("the best model by validation macro-F1 and its hyperparameters",
         f"/api/queries/best_model?{urlencode({'metric': 'macro_f1'})}"),
        ("Q7: models trained on a well selection, by minimum batch loss",
         f"/api/queries/q7?{urlencode({'selection': 'train_wells'})}"),
        ("models trained on data from the Johan Sverdrup field, scored on sandstone",
         f"/api/queries/og_models_by_field?{urlencode({'field': wells['16/2-6'].field_iri or '', 'lithology': _concept('sandstone')})}"),
        ("raw files and curation parameters behind the held-out well's predictions",
         f"/api/queries/og_prediction_sources?{urlencode({'prediction': pred})}"),
        ("what is affected if the interpretation of well 16/2-6 is revised",
         f"/api/queries/og_well_impact?{urlencode({'well': wells['16/2-6'].iri})}"),
    ]
    return [(what, root + path) for what, path in out]


def _concept(key: str) -> str:
    from provml.vocab import OILGAS

    return str(OILGAS.term(key).value)


def serve(ws: Workspace, *, host: str, port: int) -> None:
    """Serve the store with provml's endpoint until Ctrl-C."""
    from provml.endpoint.server import serve as serve_endpoint

    shown = f"[{host}]" if ":" in host else host
    root = f"http://{shown}:{port}"
    say("")
    say(f"provml endpoint for the FORCE 2020 demo (store {ws.store}):")
    say(f"  UI               {root}/")
    say(f"  SPARQL endpoint  {root}/sparql")
    say(f"  named queries    {root}/api/queries")
    for what, url in ready_made_queries(root, ws):
        say(f"  - {what}:\n      {url}")
    prediction = read_json(ws.work / "predictions" / "inference.json")["prediction"]["sha256"]
    say(f"  lineage graph of the held-out well's predictions:\n      {root}/id/data/sha256-{prediction}")
    say(f"  learning runs side by side: {root}/compare")
    say("Ctrl-C stops.")
    config = {"STORE": str(ws.store), "REMOTE": None, "BASE_URL": None, "TOKEN": None,
              "READ_TOKEN": None, "READ_ONLY": True, "CORS_ORIGINS": (), "TIMEOUT_S": 30.0,
              "MAX_ROWS": 100_000, "MAX_BODY_MB": 64.0}
    serve_endpoint(config, host=host, port=port)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m examples.force2020", description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="the demo's folder (default: %(default)s)")
    p.add_argument("--fresh", action="store_true", help="delete the workspace and run everything again")
    p.add_argument("--quick", action="store_true", help="a small configuration (seconds; what the tests run)")
    p.add_argument("--no-serve", action="store_true", help="stop after loading the store")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: %(default)s)")
    p.add_argument("--port", type=int, default=7878, help="port to serve on (default: %(default)s)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ws = Workspace(args.workdir)
    marker = ws.root / "demo.json"
    if args.fresh and ws.root.exists():
        say(f"--fresh: removing {ws.root}")
        shutil.rmtree(ws.root)
    if marker.exists():
        info = read_json(marker)
        say(f"reusing the store in {ws.store} ({info['load']['triples']} triples, made "
            f"{info['made']}); --fresh (make demo FRESH=1) starts afresh")
    else:
        if ws.root.exists():  # an interrupted run: start clean
            shutil.rmtree(ws.root)
        ws.root.mkdir(parents=True)
        settings = Settings.quick() if args.quick else Settings()
        say(f"FORCE 2020 demo: workspace {ws.root} ({'quick' if args.quick else 'full'} configuration)")
        timings = run_workflows(ws, settings)
        loaded = load_store(ws)
        write_json(marker, {"made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "quick": args.quick, "timings_s": timings, "load": loaded})
        say(f"done: workflows {timings} s; load {loaded['seconds']} s; {loaded['triples']} triples")
    if args.no_serve:
        return 0
    try:
        serve(ws, host=args.host, port=args.port)
    except OSError as exc:
        print(f"cannot serve on {args.host}:{args.port}: {exc} (try --port)", file=sys.stderr)
        return 2
    return 0
