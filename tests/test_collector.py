"""The collector paused during ingest batches (``provml.ingest.collector``): resumed by the last
batch to end, never turned on for a caller that had it off, and cyclic garbage still freed when
batches keep overlapping."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from provml.ingest import collector


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_resumed_by_the_last_batch_to_end() -> None:
    assert gc.isenabled()
    with collector.paused():
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer batch is still in flight
    assert gc.isenabled()


def test_left_off_for_a_caller_that_turned_it_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_batches_still_free_cyclic_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "MAX_PAUSE_S", 0.0)
    gc.collect()
    with collector.paused():  # a batch that stays in flight (another thread's)
        garbage = _Node()
        gone = weakref.ref(garbage)
        del garbage
        assert gone() is not None  # paused: nothing collects it
        done = threading.Event()

        def batch() -> None:
            with collector.paused():
                pass
            done.set()

        thread = threading.Thread(target=batch)
        thread.start()
        thread.join()
        assert done.is_set() and not gc.isenabled()
        assert gone() is None  # the batch that ended collected by hand
    assert gc.isenabled()
