"""The cyclic garbage collector paused while a batch goes through the ingest pipeline.

A batch of 500–5,000 events makes hundreds of thousands of short-lived objects (quads, terms,
the tuples and sets of the views); every 700 of them start a collection, and the older
generations' collections walk every live object of the process (the shapes graph, the class
closure, the remembered views, the batch itself) again and again. Nothing the pipeline builds
forms a reference cycle that must be freed before the batch ends, so the collector is paused
for the batch and resumed after it: what it would have found is collected then. Measured on
10^4 events of learning runs, batches handed together (``benchmarks/ingest.py``, 4 alternating
repetitions, load ≈ 7): process CPU 2.23 s (2.11–2.35) paused against 2.53 s (2.39–2.60).

Process-wide and thread-safe: the collector is resumed when the last batch in flight ends, and
only if it was running when the first began (a caller that disabled it keeps it disabled). A
server whose batches overlap without pause (the endpoint ingests on many threads) would never
resume it: a batch that ends after the collector has been paused for :data:`MAX_PAUSE_S`
collects once, by hand, so cyclic garbage is freed at least that often.

A process that does nothing but ingest — a broker worker's (``provml.ingest.worker``), the
writer process of ``provml ingest-worker`` — runs its whole loop paused, not only each batch:
between two batches the collector would walk, at its next collection, every object the batch
left alive (the remembered views and memos, the writer's kept reads), and in a worker that was
≈ 6 % of its CPU (1.1–1.2 s of ≈ 20 s: 820 young, 74 middle and 6–7 full collections over
120,000 events of ``benchmarks/broker.py --modes steady``). Such a process then collects in
full once every :data:`MAX_PAUSE_S` while batches end; one that waits for bags makes no
garbage. ``provml serve --broker`` does not: its writer thread shares the process with the
endpoint, whose requests must be collected as usual.

>>> import gc
>>> with paused():
...     gc.isenabled()
False
>>> gc.isenabled()
True
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["MAX_PAUSE_S", "paused"]

#: the longest the collector stays paused by overlapping batches before one collects by hand
MAX_PAUSE_S = 10.0

_lock = threading.Lock()
_depth = 0
_resume = False
_since = 0.0


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic garbage collector off for the ``with`` block (see the module's text)."""
    global _depth, _resume, _since
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            _since = time.monotonic()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        collect = False
        with _lock:
            _depth -= 1
            if _depth == 0:
                if _resume:
                    gc.enable()
            elif _resume and time.monotonic() - _since > MAX_PAUSE_S:
                _since = time.monotonic()
                collect = True
        if collect:  # other batches still in flight: collect once rather than never
            gc.collect()
