"""A workflow's end ends the tasks and cycles of it still open, errored, innermost first: a
framework hook's stage and epoch that an exception left without their end call stayed running
for ever when the workflow ended before the hook's next call (a gap the twenty-seventh session
left in the Keras callback)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hooks_support import count, events_and_store, offline_client

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
        train.cycle("epoch", 1).__enter__()  # a ``with`` block not left (another thread's)
    kept.end()
    other.end()
    events, kg = events_and_store(client)
    check(events)
    assert begun(events) <= set(ends(events)), begun(events) - set(ends(events))
    assert "train/epoch-1" in begun(events)  # the begin its ``with`` held, written before its end
    run = [e for e in events if e["workflow"] == "wf"]
    order = [(e["kind"], e.get("task")) for e in run if e["kind"].endswith("_end")]
    assert order == [("cycle_end", "train/epoch-0/batch-0"), ("task_end", "load"),
                     ("cycle_end", "train/epoch-0/batch-1"), ("cycle_end", "train/epoch-0"),
                     ("cycle_end", "train/epoch-1"), ("task_end", "train"), ("workflow_end", None)]
    closed = ends(run)
    assert closed["train/epoch-0/batch-0"]["status"] == "finished"  # ended by its own call, once
    for task in ("train/epoch-0/batch-1", "load", "train/epoch-1", "train/epoch-0", "train"):
        assert closed[task]["status"] == "errored" and closed[task]["error"]["type"] == "NotEnded", task
    assert [e["status"] for e in run if e["kind"] == "workflow_end"] == ["finished"]
    assert ends(events)["kept"]["status"] == "finished"
    assert count(kg, "?x prov:endedAtTime ?t") == 2 + 7  # both runs, every execution ended


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_keras_fit_an_exception_ends_is_ended_errored_when_its_workflow_ends(tmp_path: Path) -> None:
    """The callback's next call ended them; with none before the workflow's end (the exception
    caught in the block, or leaving it), the stage and epoch stayed running for ever."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    from provml.capture.hooks.keras import ProvenanceCallback

    class Failing(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
        """Two batches an epoch; a batch fails once the dataset has been through an epoch."""

        def __init__(self) -> None:
            super().__init__()
            self.x, self.y = keras.random.normal((16, 4)), keras.ops.zeros((16,), "int32")
            self.epoch = 0

        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> tuple[object, object]:
            if self.epoch >= 1:
                raise OSError("the shard is gone")
            return self.x[index * 8:(index + 1) * 8], self.y[index * 8:(index + 1) * 8]

        def on_epoch_end(self) -> None:
            self.epoch += 1

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
