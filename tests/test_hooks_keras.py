"""The Keras 3 callback (torch backend) on a real tiny model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from hooks_support import count, events_and_store, offline_client  # noqa: E402

from provml.capture.hooks.keras import ProvenanceCallback  # noqa: E402


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_fit_evaluate_predict_are_captured(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    keras.utils.set_random_seed(0)
    x = keras.random.normal((32, 4))
    y = keras.ops.cast(keras.random.uniform((32,)) > 0.5, "int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    client = offline_client(tmp_path)
    with client.workflow("keras-wf", type="learning") as wf:
        callback = ProvenanceCallback(wf, model_path=tmp_path / "m.keras")
        model.fit(x, y, epochs=2, batch_size=8, validation_data=(x, y), callbacks=[callback],
                  verbose=0)
        model.evaluate(x, y, callbacks=[callback], verbose=0)
        model.predict(x, callbacks=[callback], verbose=0)
    events, kg = events_and_store(client)
    train = next(e for e in events if e["kind"] == "task_begin" and e["name"] == "train")
    used = {v["name"]: v["value"] for v in train["used"]}
    assert used["epochs"] == 2 and used["optimizer"] == "SGD"
    assert abs(used["learning_rate"] - 0.05) < 1e-6
    batches = [e for e in events if e["kind"] == "cycle_end" and e["name"] == "batch"]
    assert len(batches) == 8
    epochs = [e for e in events if e["kind"] == "cycle_end" and e["name"] == "epoch"]
    assert {v["name"] for v in epochs[0]["generated"]} >= {"loss", "accuracy", "val_loss"}
    kinds = [(e["name"], e["type"]) for e in events if e["kind"] == "task_begin"]
    assert kinds == [("train", "training"), ("evaluate", "evaluation"), ("predict", "inference")]
    assert count(kg, "?x a provml:TrainingExecution") == 1
    assert count(kg, "?x a provml:InferenceExecution") == 1
    assert count(kg, "?x a provml:Model") == 1


class _Failing(keras.utils.PyDataset):  # type: ignore[misc]
    """Two batches an epoch; a batch fails once the dataset has been through an epoch (a file gone)."""

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


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_fit_that_an_exception_ends_is_ended_errored_and_evaluate_still_recorded(tmp_path: Path) -> None:
    """Keras calls no callback on an exception: a failed ``fit`` left its stage and epoch
    running for ever, and a later ``evaluate`` with the callback was taken for validation inside
    that fit and not recorded (a probe, twenty-seventh session)."""
    torch.set_num_threads(1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    client = offline_client(tmp_path)
    with client.workflow("keras-fails", type="learning") as wf:
        callback = ProvenanceCallback(wf)
        with pytest.raises(OSError, match="the shard is gone"):
            model.fit(_Failing(), epochs=3, callbacks=[callback], verbose=0)
        model.evaluate(keras.random.normal((8, 4)), keras.ops.zeros((8,), "int32"), callbacks=[callback], verbose=0)
    events, kg = events_and_store(client)
    begun = {e.get("task") for e in events if e["kind"] in ("task_begin", "cycle_begin")}
    ended = {e.get("task"): e["status"] for e in events if e["kind"] in ("task_end", "cycle_end")}
    assert begun <= set(ended), begun - set(ended)
    epochs = [task for task in ended if task.startswith("train/epoch-")]
    assert ended["train"] == "errored" and epochs and ended[max(epochs)] == "errored"
    assert [e["name"] for e in events if e["kind"] == "task_begin"] == ["train", "evaluate"]
    assert ended["evaluate"] == "finished"
    assert count(kg, "?x a provml:EvaluationExecution") == 1


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_call_a_callback_makes_during_fit_leaves_the_fit_running(tmp_path: Path) -> None:
    """A ``predict`` another callback runs at each epoch's end, with the provenance callback,
    gave Keras new params mid-``fit``: the live training stage was ended "Interrupted" and the
    later epochs were lost (a review of the fix above, twenty-seventh session)."""
    torch.set_num_threads(1)
    keras.utils.set_random_seed(0)
    x, y = keras.random.normal((16, 4)), keras.ops.zeros((16,), "int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    client = offline_client(tmp_path)
    with client.workflow("keras-nested", type="learning") as wf:
        callback = ProvenanceCallback(wf, log_batches=False)

        class Peek(keras.callbacks.Callback):  # type: ignore[misc]
            def on_epoch_end(self, epoch: int, logs: object = None) -> None:
                self.model.predict(x, callbacks=[callback], verbose=0)

        model.fit(x, y, epochs=2, batch_size=8, callbacks=[callback, Peek()], verbose=0)
    events, _ = events_and_store(client)
    ended = {e.get("task"): e["status"] for e in events if e["kind"] in ("task_end", "cycle_end")}
    assert ended["train"] == "finished" and ended["train/epoch-0"] == ended["train/epoch-1"] == "finished", ended
