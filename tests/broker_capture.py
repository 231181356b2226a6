"""One capture process of the broker tests and benchmark: a learning run sent through Redis.

    python tests/broker_capture.py REDIS_URL SPOOL_DIR RUN_ID EPOCHS BATCHES [PAUSE_S]

Diskful (the spool keeps every event emitted, the reference the tests compare the store with).
"""

from __future__ import annotations

import sys
import time

from provml import evaluation
from provml.capture.client import Client


def main() -> None:
    url, spool, run, epochs, batches = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    pause = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    client = Client(broker=url, spool_dir=spool, bag_size=50, flush_interval_s=0.2, install_signal_handler=False)
    workflow = client.workflow("chaos", type="learning", run_id=run, meta=False)
    with client, workflow as wf, wf.stage("train", kind="training") as stage:
        for e in range(epochs):
            with stage.cycle("epoch", iteration=e) as epoch:
                for b in range(batches):
                    with epoch.cycle("batch", iteration=b) as batch:
                        batch.generated(evaluation("loss", 1.0 / (b + 1)))
                    if pause:
                        time.sleep(pause)
    stats = client.stats()
    print(f"{run} processed={stats.processed} pending={stats.pending} rejected={stats.rejected}", flush=True)


if __name__ == "__main__":
    main()
