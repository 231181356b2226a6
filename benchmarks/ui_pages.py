"""Page load times of the web UI in headless Debian chromium, on a store directory (e.g. the
FORCE 2020 demo's ``.provml/demo/store``): serves it read-only on a loopback port, opens each page
``--repeat`` times in a fresh page and prints the navigation timing (median of the repeats).

    python benchmarks/ui_pages.py --store .provml/demo/store [--repeat 5] [--screenshots DIR]

The lineage page is the first prediction's (else model's) resource page, with its graph drawn;
compare is the four latest learning runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from urllib.parse import quote

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--screenshots", type=Path, help="save a full-page screenshot of each page here")
    args = p.parse_args()

    from playwright.sync_api import sync_playwright

    from provml.endpoint.server import close_server, make_server
    from provml.endpoint.ui.overview import list_runs, overview
    from provml.knowledge import open_kg

    kg = open_kg(args.store)
    base = kg.base
    o = overview(kg.store, sample=1)
    counts = {c.key: c.count for c in o.categories}
    node = next((c.items[0].iri for c in o.categories if c.key in ("predictions", "models") and c.items), None)
    runs = [r.iri for r in list_runs(kg.store, learning_only=True, limit=4)]
    server, app = make_server({"READ_ONLY": True, "TIMEOUT_S": 30}, port=0, threads=4, kg=kg)
    server.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    pages = {"home": "/", "query editor": "/query", "named queries": "/queries",
             "named query lineage (run)": "/queries/lineage?_run=1" + (f"&node={quote(node)}" if node else "")}
    if runs:
        pages[f"compare ({len(runs)} runs)"] = "/compare?" + "&".join(f"run={quote(r)}" for r in runs)
    if node and node.startswith(base):
        pages["resource + lineage graph"] = "/id/" + node[len(base):]
    print(f"store {args.store}: {len(kg.store)} quads; {counts}")
    print(f"{'page':32} {'TTFB ms':>8} {'DOM ms':>8} {'load ms':>8} {'graph ms':>9}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        for name, path in pages.items():
            samples = []
            for _ in range(args.repeat):
                page = browser.new_page()
                started = time.perf_counter()
                page.goto(url + path, wait_until="load")
                graph = float("nan")
                if "lineage graph" in name:
                    page.wait_for_selector("#lineage-graph[data-ready=true]", timeout=30_000)
                    graph = (time.perf_counter() - started) * 1000
                t = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
                    return [n.responseStart - n.startTime, n.domContentLoadedEventEnd - n.startTime,
                            n.loadEventEnd - n.startTime]; }""")
                samples.append((*t, graph))
                if args.screenshots and len(samples) == 1:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.screenshots / (name.split(" (")[0].replace(" ", "-") + ".png")),
                                    full_page=True)
                page.close()
            med = [statistics.median(s[i] for s in samples) for i in range(4)]
            print(f"{name:32} {med[0]:8.0f} {med[1]:8.0f} {med[2]:8.0f} {med[3]:9.0f}")
        browser.close()
    close_server(server, app)


if __name__ == "__main__":
    main()
