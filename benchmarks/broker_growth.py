"""The broker's ingest side as the store grows: a drain of 10^6 events, read by tenths.

    .venv/bin/python benchmarks/broker_growth.py [--events 125000] [--workers 2]
                                                 [--writer-batch 64] [--max-backlog 64] [--out FILE]

The 8 capture processes of ``broker.py`` emit ``--events`` events each (125,000: ≈ 10^6 in all,
≈ 11.4 million quads) into a fresh ``redis-server``; then the writer and ``--workers`` worker
processes start on a fresh on-disk store and drain the stream (the ingest side alone, as
``broker.py --modes drain``). Every 2 s the events written and the CPU of the writer (and of its
RocksDB compaction threads, ``rocksdb:low``), the workers and Redis are read (Linux ``/proc``);
the run prints, for each tenth of the events, the rate written and the CPU µs an event of each
part, the whole run's, the writer's and workers' peak memory (``VmHWM``) and the store's size on
disk. ``--writer-batch``: the writer's first group (``Writer(batch=...)``; its groups grow from
there as the tree's writer grows them); ``--max-backlog``: the workers'. With ``PYTHONPATH``
pointing at an older tree's package, the older code runs (A/B: alternate the two).

Saves the samples and the summary as JSON (``--out``, default
``benchmarks/results/broker_growth.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import broker  # (this script's folder is sys.path[0])

RESULTS = Path(__file__).parent / "results" / "broker_growth.json"


def peak_kb(pid: int) -> int:
    """The peak resident memory of a process, in kB (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def tenths(rows: list[dict[str, float]], total: int) -> list[dict[str, float]]:
    """Rate and CPU µs an event of each part over each tenth of the events written."""
    out = []
    last, mark = rows[0], total / 10
    for row in rows[1:]:
        if row["written"] >= mark or row is rows[-1]:
            n = row["written"] - last["written"]
            if n:
                out.append({"from": last["written"], "to": row["written"],
                            "events_per_s": n / (row["t"] - last["t"]),
                            **{k: 1e6 * (row[k] - last[k]) / n for k in ("writer", "compactions", "workers", "redis")}})
            last, mark = row, row["written"] + total / 10
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=125_000, help="events per capture process (8 of them)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--writer-batch", type=int, default=64)
    ap.add_argument("--max-backlog", type=int, default=64)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    from provml.ingest.streams import WRITTEN

    redis = broker.Redis()
    rows: list[dict[str, float]] = []
    out: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "load_before": os.getloadavg()}
    try:
        with tempfile.TemporaryDirectory(prefix="provml-broker-growth-") as tmp:
            total, _emit = broker.emit_all(redis.url, args.events, 0.0)
            procs = broker.start_pipeline(redis.url, Path(tmp) / "store", args.workers, None,
                                          writer_batch=args.writer_batch, max_backlog=args.max_backlog)
            try:
                broker.wait_ready(redis.client, args.workers)
                start = time.perf_counter()
                while True:
                    written = int(redis.client.get(WRITTEN) or 0)
                    rows.append({"t": time.perf_counter() - start, "written": written,
                                 "writer": broker.cpu_s(procs[0].pid),
                                 "compactions": broker.compactions_s([procs[0].pid]).get("rocksdb:low", 0.0),
                                 "workers": sum(broker.cpu_s(p.pid) for p in procs[1:]),
                                 "redis": broker.cpu_s(redis.proc.pid)})
                    if written >= total:
                        break
                    time.sleep(2.0)
                out["peak_kb"] = {"writer": peak_kb(procs[0].pid), "workers": [peak_kb(p.pid) for p in procs[1:]]}
                out["store_bytes"] = sum(f.stat().st_size for f in (Path(tmp) / "store").rglob("*") if f.is_file())
            finally:
                broker.stop(procs)
    finally:
        redis.close()
    first, last = rows[0], rows[-1]
    n = last["written"] - first["written"]
    out.update({"events": total, "rows": rows, "tenths": tenths(rows, total), "load_after": os.getloadavg(),
                "whole": {"seconds": last["t"] - first["t"], "events_per_s": n / (last["t"] - first["t"]),
                          **{k: 1e6 * (last[k] - first[k]) / n for k in ("writer", "compactions", "workers", "redis")}}})
    for tenth in out["tenths"]:
        print(f"{tenth['from']:>9,.0f}-{tenth['to']:>9,.0f}: {tenth['events_per_s']:6,.0f} events/s; CPU µs an event: "
              f"writer {tenth['writer']:.0f} (compactions {tenth['compactions']:.0f}), workers {tenth['workers']:.0f}, "
              f"redis {tenth['redis']:.0f}")
    whole = out["whole"]
    print(f"whole run: {total:,} events in {whole['seconds']:.1f} s = {whole['events_per_s']:,.0f} events/s; writer "
          f"{whole['writer']:.0f} (compactions {whole['compactions']:.0f}), workers {whole['workers']:.0f} µs an event; "
          f"peak writer {out['peak_kb']['writer'] / 1024:,.0f} MB; store {out['store_bytes'] / 2**30:.2f} GiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
