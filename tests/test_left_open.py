"""A workflow's end ends the tasks and cycles of it begun with ``begin()`` and still open,
errored, innermost first: a framework hook's stage and epoch that an exception left without
their end call stayed running for ever when the workflow ended before the hook's next call (a
gap the twenty-seventh session left in the Keras callback). What a ``with`` block entered, its
block ends, after the workflow's end too (a task running in another thread); an end that comes
after the workflow's end ended its scope is logged, not written again; the hook's end and the
workflow's at once write one end; a left-open end that raises does not stop the workflow's."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hooks_support import count, events_and_store, offline_client

import provml
from provml.capture import scopes
from provml.capture.spool import read_events
from provml.events import check


def ends(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["task"]: e for e in events if e["kind"] in ("task_end", "cycle_end")}


def begun(events: list[dict[str, Any]]) -> set[str]:
    return {e["task"] for e in events if e["kind"] in ("task_begin", "cycle_begin")}


def test_a_workflow_ends_what_was_left_open_in_it_errored_innermost_first(tmp_path: Path) -> None:
    client = offline_client(tmp_path)
    other = client.workflow("other", meta=False).begin()
    kept = other.task("kept").begin()  # another run's task: not this workflow's to end
    with client.workflow("wf", meta=False) as wf:
        train = wf.stage("train").begin()
        epoch = train.cycle("epoch", 0).begin()
        done = epoch.cycle("batch", 0).begin()
        done.end()
        epoch.cycle("batch", 1).begin()  # left open, as by an exception in a hook's framework
        wf.task("load").begin()
        held = train.cycle("epoch", 1).__enter__()  # a ``with`` block not left yet (another thread's)
    held.__exit__(None, None, None)  # its block ends it, after the workflow's end
    kept.end()
    other.end()
    events, kg = events_and_store(client)
    check(events)
    assert begun(events) <= set(ends(events)), begun(events) - set(ends(events))
    assert "train/epoch-1" in begun(events)
    run = [e for e in events if e["workflow"] == "wf"]
    order = [(e["kind"], e.get("task")) for e in run if e["kind"].endswith("_end")]
    assert order == [("cycle_end", "train/epoch-0/batch-0"), ("task_end", "load"),
                     ("cycle_end", "train/epoch-0/batch-1"), ("cycle_end", "train/epoch-0"),
                     ("task_end", "train"), ("workflow_end", None), ("cycle_end", "train/epoch-1")]
    closed = ends(run)
    for task in ("train/epoch-0/batch-0", "train/epoch-1"):  # ended by their own call, once
        assert closed[task]["status"] == "finished", task
    for task in ("train/epoch-0/batch-1", "load", "train/epoch-0", "train"):
        assert closed[task]["status"] == "errored" and closed[task]["error"]["type"] == "NotEnded", task
    assert [e["status"] for e in run if e["kind"] == "workflow_end"] == ["finished"]
    assert ends(events)["kept"]["status"] == "finished"
    assert count(kg, "?x prov:endedAtTime ?t") == 2 + 7  # both runs, every execution ended


def _forced_warning(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "provml.capture.scopes" and "ended errored (NotEnded)" in r.getMessage()]


def _late_warning(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "provml.capture.scopes" and "this end is not recorded" in r.getMessage()]


def test_a_with_block_still_running_when_its_workflow_ends_ends_its_own_scope(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A task in another thread's ``with`` block, the workflow's block left first: its real end
    (finished, with what it generated; or errored, with its exception) was replaced by an
    errored NotEnded one, and the real one dropped without a word."""
    caplog.set_level(logging.WARNING, logger="provml.capture.scopes")
    client = offline_client(tmp_path)
    started, go = threading.Barrier(3), threading.Event()

    def upload(wf: provml.Workflow) -> None:
        with wf.task("upload") as t:
            started.wait()
            assert go.wait(30)  # (a bound on the wait: the test's order is the events')
            t.generated(provml.value("uploaded_bytes", 12345))

    def fail(wf: provml.Workflow) -> None:
        with pytest.raises(OSError, match="disk gone"), wf.task("write"):
            started.wait()
            assert go.wait(30)
            raise OSError("disk gone")

    with client.workflow("wf", meta=False) as wf:
        threads = [threading.Thread(target=work, args=(wf,)) for work in (upload, fail)]
        for thread in threads:
            thread.start()
        started.wait()
    go.set()  # the workflow's block is left while both tasks are running
    for thread in threads:
        thread.join()
    events, kg = events_and_store(client)
    closed = ends(events)
    assert closed["upload"]["status"] == "finished"
    assert [g["name"] for g in closed["upload"]["generated"]] == ["uploaded_bytes"]
    assert closed["write"]["status"] == "errored" and closed["write"]["error"]["type"] == "OSError"
    assert [e["kind"] for e in events].count("task_end") == 2
    assert not _forced_warning(caplog) and not _late_warning(caplog)
    assert count(kg, "?x prov:endedAtTime ?t") == 3


def test_a_hooks_end_after_its_workflow_ended_it_is_logged_not_written(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The workflow's end names each scope it ends; an end called after it (the hook's thread
    went on) is a warning, not a second end event (ingest refuses a run with two ends of one
    execution) and not silence."""
    caplog.set_level(logging.WARNING, logger="provml.capture.scopes")
    client = offline_client(tmp_path)
    wf = client.workflow("wf", meta=False).begin()
    train = wf.stage("train").begin()
    epoch = train.cycle("epoch", 0).begin()
    batch = epoch.cycle("batch", 0).begin()
    wf.end()
    forced = _forced_warning(caplog)
    assert len(forced) == 1 and forced[0].endswith(
        "cycle train/epoch-0/batch-0, cycle train/epoch-0, task train"), forced
    batch.end()
    epoch.end(status="errored", error={"type": "OSError", "message": "gone"})
    train.end(generated={"accuracy": 0.9})
    train.end()  # (a second late call is logged too: each is an end not written)
    late = _late_warning(caplog)
    assert len(late) == 4, late
    assert "cycle 'train/epoch-0/batch-0'" in late[0] and "(finished)" in late[0]
    assert "cycle 'train/epoch-0'" in late[1] and "(errored)" in late[1]
    assert "task 'train'" in late[2]
    events, kg = events_and_store(client)
    closed = ends(events)
    assert len([e for e in events if e["kind"] in ("task_end", "cycle_end")]) == 3
    assert all(closed[task]["error"]["type"] == "NotEnded" for task in closed)
    assert count(kg, "?x prov:endedAtTime ?t") == 4


def _pause_before_marking_ended() -> tuple[Callable[..., Any], threading.Event, threading.Event]:
    """A tracer that holds its thread at the first line of provml's scopes that marks a scope
    ended (``self._ended = True``): the thread has decided to write the end, and not yet said
    so. Found by the line's text, so it holds on the code before the fix (after its ``_ended``
    test) and after it (after the claim) alike."""
    path = scopes.__file__
    with open(path, encoding="utf-8") as source:
        lines = {n for n, line in enumerate(source, 1) if line.strip().startswith("self._ended = True")}
    assert lines
    reached, go = threading.Event(), threading.Event()

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and frame.f_lineno in lines and not reached.is_set():
            reached.set()
            assert go.wait(30)
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == path else None

    return tracer, reached, go


def _held(tracer: Callable[..., Any], work: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        sys.settrace(tracer)
        try:
            work()
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


HOOK_ENDS: dict[str, Callable[[Any], None]] = {  # a hook's end of its stage, or of its epoch
    "task": lambda scope: scope.end(generated={"accuracy": 0.9}),
    "cycle": lambda scope: scope.end(),  # (the compact form)
    "errored cycle": lambda scope: scope.end(status="errored",
                                             error={"type": "OSError", "message": "gone"}),
}


@pytest.mark.parametrize("which", list(HOOK_ENDS))
@pytest.mark.parametrize("first", ["hook", "workflow"])
def test_a_hooks_end_and_its_workflows_end_at_once_write_one_end(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, which: str, first: str) -> None:
    """A hook's end() on one thread, the workflow's end on another: each passed the test of
    ``_ended`` before the other marked it, and both wrote an end — two ``task_end`` (or
    ``cycle_end``) of one execution, and ingest refused the batch (ValidationFailed). The thread
    named ``first`` is held just before it marks the scope ended (sys.settrace, no sleeps), the
    other runs its end meanwhile: the first one's end is the one written, the other logged."""
    caplog.set_level(logging.WARNING, logger="provml.capture.scopes")
    client = offline_client(tmp_path)
    wf = client.workflow("wf", meta=False).begin()
    train = wf.stage("train").begin()
    scope: scopes.Task | scopes.Cycle = train if which == "task" else train.cycle("epoch", 0).begin()
    target = scope.id

    def hook_end() -> None:
        HOOK_ENDS[which](scope)

    tracer, reached, go = _pause_before_marking_ended()
    held = _held(tracer, hook_end if first == "hook" else wf.end)
    try:
        assert reached.wait(30), "the held thread never reached the line"
        (wf.end if first == "hook" else hook_end)()
    finally:
        go.set()
        held.join()
    client.close()
    assert client.spool_path is not None
    written = [e for e in read_events(client.spool_path)
               if e.get("task") == target and e["kind"] in ("task_end", "cycle_end")]
    assert len(written) == 1, written
    events, kg = events_and_store(client)  # (two ends of one execution: ValidationFailed)
    if first == "hook":
        assert written[0]["status"] == ("errored" if which == "errored cycle" else "finished")
        assert written[0].get("error", {}).get("type") != "NotEnded"
        assert not _late_warning(caplog)
    else:
        assert written[0]["error"]["type"] == "NotEnded"
        assert len(_late_warning(caplog)) == 1
    assert count(kg, "?x prov:endedAtTime ?t") == (2 if which == "task" else 3)  # and the workflow


def test_a_left_open_end_that_raises_is_logged_and_the_workflow_still_ends(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A left-open cycle's generated value that raises when read (a lazy remote handle whose
    session is gone) made the workflow's end raise, with no ``workflow_end`` written; now the
    error is logged, the cycle ended without its values, the others and the workflow after it."""
    caplog.set_level(logging.WARNING, logger="provml.capture.scopes")

    class Proxy:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("session closed")

        def __repr__(self) -> str:
            return "Proxy()"

    client = offline_client(tmp_path)
    wf = client.workflow("wf", meta=False).begin()
    train = wf.stage("train").begin()
    epoch = train.cycle("epoch", 0).begin()
    epoch.generated(provml.value("handle", Proxy()))  # kept as given: redacted at the end
    wf.end()
    failed = [r for r in caplog.records if "left open, failed" in r.getMessage()]
    assert len(failed) == 1 and "cycle train/epoch-0" in failed[0].getMessage()
    assert failed[0].exc_info is not None and "session closed" in str(failed[0].exc_info[1])
    events, kg = events_and_store(client)
    closed = ends(events)
    assert closed["train/epoch-0"]["error"]["type"] == "NotEnded" and "generated" not in closed["train/epoch-0"]
    assert closed["train"]["error"]["type"] == "NotEnded"
    assert [e["status"] for e in events if e["kind"] == "workflow_end"] == ["finished"]
    assert count(kg, "?x prov:endedAtTime ?t") == 3


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_keras_fit_an_exception_ends_is_ended_errored_when_its_workflow_ends(tmp_path: Path) -> None:
    """The callback's next call ended them; with none before the workflow's end (the exception
    caught in the block, or leaving it), the stage and epoch stayed running for ever."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    from test_hooks_keras import _Failing as Failing  # two batches an epoch, the second epoch fails

    from provml.capture.hooks.keras import ProvenanceCallback

    torch.set_num_threads(1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    client = offline_client(tmp_path)
    with client.workflow("caught", type="learning", meta=False) as wf, \
            pytest.raises(OSError, match="the shard is gone"):  # (caught inside the workflow)
        model.fit(Failing(), epochs=3, callbacks=[ProvenanceCallback(wf)], verbose=0)
    with pytest.raises(OSError, match="the shard is gone"), \
            client.workflow("escaped", type="learning", meta=False) as wf:
        model.fit(Failing(), epochs=3, callbacks=[ProvenanceCallback(wf)], verbose=0)
    events, kg = events_and_store(client)
    for workflow, status in (("caught", "finished"), ("escaped", "errored")):
        run = [e for e in events if e["workflow"] == workflow]
        closed = ends(run)
        assert begun(run) <= set(closed), (workflow, begun(run) - set(closed))
        assert closed["train"]["status"] == "errored" and closed["train"]["error"]["type"] == "NotEnded"
        epochs = [task for task in closed if task.startswith("train/epoch-")]
        assert epochs and closed[max(epochs)]["error"]["type"] == "NotEnded"
        assert run[-1]["kind"] == "workflow_end" and run[-1]["status"] == status
    assert count(kg, "?x a provml:TrainingExecution ; prov:endedAtTime ?t") == 2
