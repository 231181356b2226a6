"""What the JSON depth check costs (``provml.endpoint.limits.check_json_depth``: every body of
``POST /api/events`` and every JSON-LD body passes it; ``provml load`` and ``validate`` run the
same scan, ``provml.store.rdfio.json_depth_over``, on JSON-LD files), this tree's against an
earlier revision's, alternated.

    python benchmarks/json_depth.py [--base REV] [--passes 9] [--out FILE]

Inputs: the body of one ``POST /api/events`` of 500 events of ``workload.py`` (limit 64, as the
endpoint checks it), a JSON-LD document of 200,000 nodes, 26 MB (limit 512, as files are
checked), and 1 MB of brackets and a string that never ends, escaped quotes after it (hostile). ``--base`` (default ``HEAD``): the revision whose ``endpoint/limits.py`` is the other
side (``git show``). Reported: the median (min–max) of ``--passes`` alternated passes, µs an
event for the body, seconds for the document. Saves ``benchmarks/results/json_depth.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import workload  # noqa: E402
from redaction import ROOT, load  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "json_depth.json"


def inputs() -> dict[str, tuple[bytes, int, int]]:
    """name -> (data, depth limit, units it holds)."""
    events = workload.events(500)
    body = json.dumps({"events": events}).encode()
    nodes = [{"@id": f"http://ex.org/n{i}", "http://ex.org/p": [{"@value": f"v{i} [x] {{y}}"}],
              "http://ex.org/q": {"@id": "http://ex.org/o"}} for i in range(200_000)]
    # a string that never ends, escaped quotes after it: a scan that looks for strings from every
    # quote on takes time n² (one of this session's versions: 6.7 s for 80 KB)
    hostile = b"[]" * 40 + b'"' + b'\\"' * 500_000  # (80 brackets, depth 1: scanned whole)
    return {"events body (µs an event)": (body, 64, len(events)),
            "JSON-LD document (s)": (json.dumps(nodes).encode(), 512, 1),
            "1 MB, a string with no end (s)": (hostile, 64, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD")
    parser.add_argument("--passes", type=int, default=9)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    source = subprocess.run(["git", "show", f"{args.base}:endpoint/limits.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "limits_base.py").write_text(source)
        base = load(Path(tmp) / "limits_base.py", "limits_base")
    from provml.endpoint import limits as this

    sides = {"base": base.check_json_depth, "this": this.check_json_depth}
    times: dict[str, dict[str, list[float]]] = {}
    for name, (data, limit, units) in inputs().items():
        times[name] = {side: [] for side in sides}
        for _ in range(args.passes):
            for side, check in sides.items():  # alternated: A B A B ...
                started = time.perf_counter()
                try:  # noqa: SIM105 - no context manager inside the timed region
                    check(data, max_depth=limit)
                except ValueError:  # refused (the hostile input: as it should)
                    pass
                elapsed = time.perf_counter() - started
                times[name][side].append(elapsed / units * 1e6 if units > 1 else elapsed)
    result: dict[str, Any] = {"base": args.base, "passes": args.passes, "results": {}}
    for name, by_side in times.items():
        result["results"][name] = {side: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                                   for side, v in by_side.items()}
        row = "  ".join(f"{side} {statistics.median(v):.3f} ({min(v):.3f}–{max(v):.3f})" for side, v in by_side.items())
        print(f"{name}: {row}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
