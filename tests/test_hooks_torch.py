"""The PyTorch training-loop helper on a real tiny model (CPU, one thread)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from hooks_support import count, events_and_store, offline_client  # noqa: E402

from provml.capture.hooks.torch import TorchTraining  # noqa: E402


def test_epochs_batches_losses_and_the_saved_model_are_captured(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    loader = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    client = offline_client(tmp_path)
    with client.workflow("torch-wf", type="learning") as wf, \
            TorchTraining(wf, model=net, optimizer=opt, hyperparameters={"epochs": 2}) as tr:
        for _epoch in tr.epochs(2):
            for xb, yb in tr.batches(loader):
                loss = torch.nn.functional.cross_entropy(net(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                tr.loss(loss)
            tr.metric("accuracy", (net(x).argmax(1) == y).float().mean())
        tr.save_model(tmp_path / "model.pt")
    events, kg = events_and_store(client)
    stage = next(e for e in events if e["kind"] == "task_begin")
    used = {v["name"]: v["value"] for v in stage["used"]}
    assert used["lr"] == 0.1 and used["momentum"] == 0.9 and used["optimizer"] == "SGD"
    assert stage["implementation"]["software"] == "torch"
    batch_ends = [e for e in events if e["kind"] == "cycle_end" and e["name"] == "batch"]
    assert len(batch_ends) == 8 and all(e["generated"][0]["name"] == "loss" for e in batch_ends)
    epoch_ends = [e for e in events if e["kind"] == "cycle_end" and e["name"] == "epoch"]
    assert [sorted(v["name"] for v in e["generated"]) for e in epoch_ends] == [
        ["accuracy", "loss"], ["accuracy", "loss"]]
    stage_end = next(e for e in events if e["kind"] == "task_end")
    generated = {v["name"]: v for v in stage_end["generated"]}
    assert generated["model"]["data"]["size"] > 0 and generated["parameters"]["value"] == 58
    assert count(kg, "?x a provml:TrainingExecution") == 1
    assert count(kg, "?x a provml:Model") == 1
    assert count(kg, "?x a provml:ModelEvaluation") >= 8 + 4


def test_an_error_in_the_loop_ends_the_open_cycles_errored(tmp_path: Path) -> None:
    client = offline_client(tmp_path)
    with pytest.raises(RuntimeError), client.workflow("wf") as wf, TorchTraining(wf) as tr:
        for _epoch in tr.epochs(3):
            for _batch in tr.batches(range(5)):
                raise RuntimeError("nan loss")
    events, _ = events_and_store(client)
    ends = [e for e in events if e["kind"].endswith("_end")]
    assert [e.get("name", e["workflow"]) for e in ends] == ["batch", "epoch", "train", "wf"]
    assert {e["status"] for e in ends} == {"errored"}


def test_an_error_message_is_redacted_before_it_is_cut(tmp_path: Path) -> None:
    """The loop's open cycles end with the exception's message cut to 2,000 characters: cut
    before it was redacted, a DSN's password lost its ``@`` and stayed (an audit, twenty-first
    session: ``postgresql://admin:ZT02super``)."""
    client = offline_client(tmp_path)
    with pytest.raises(RuntimeError), client.workflow("wf") as wf, TorchTraining(wf) as tr:
        for _epoch in tr.epochs(1):
            for _batch in tr.batches(range(2)):
                raise RuntimeError("x" * 1960 + " upload to postgresql://admin:hunter2hunter2@db/x failed")
    events, _ = events_and_store(client)
    messages = [e["error"]["message"] for e in events if "error" in e]
    assert len(messages) == 4 and all("hunt" not in m for m in messages)
    assert all("postgresql://admin:" in m for m in messages)


def test_a_validation_loop_and_repeated_metrics_in_an_epoch_load(tmp_path: Path) -> None:
    """A second ``batches()`` loop in an epoch (validation after training) gave its batches the
    first loop's ids, a metric recorded twice in an epoch one node two values, a second
    ``epochs()`` loop its epochs the first loop's ids: each made ``provml load`` reject the whole
    run (a probe, twenty-seventh session). Now the second loop numbers on (or takes its own
    name), a metric keeps its last value, a repeated epoch is recorded under the next free
    number (the loop keeps its own), and the run loads whole."""
    client = offline_client(tmp_path)
    with client.workflow("wf", type="learning") as wf, TorchTraining(wf) as tr:
        for _epoch in tr.epochs(2):
            for _item in tr.batches(range(3)):
                tr.loss(1.0)
            for _item in tr.batches(range(2)):  # the validation loop
                tr.metric("val_loss", 0.5)
                tr.metric("val_loss", 0.4)
            for _item in tr.batches(range(2), name="test_batch"):
                pass
        tr.metric("acc", 0.7)
        tr.metric("acc", 0.8)
        again = []
        for epoch in tr.epochs(2):  # a second loop (fine-tuning): recorded as epochs 2 and 3
            again.append(epoch)
            for _item in tr.batches(range(1)):
                break  # (an early stop: its epoch is ended by what comes next)
        assert again == [0, 1]
    events, kg = events_and_store(client)  # (loads every event: a rejected batch fails here)
    begun = [e["task"] for e in events if e["kind"] == "cycle_begin"]
    assert len(begun) == len(set(begun)) == 2 + 2 * (3 + 2 + 2) + 2 * 2
    assert "train/epoch-0/batch-4" in begun and "train/epoch-1/test_batch-1" in begun
    assert {"train/epoch-2", "train/epoch-3"} <= set(begun)
    ended = {e["task"] for e in events if e["kind"] == "cycle_end"}
    assert set(begun) <= ended
    epoch_ends = [e for e in events if e["kind"] == "cycle_end" and e["name"] == "epoch"]
    assert [{v["name"]: v["value"] for v in e.get("generated", [])} for e in epoch_ends] == [
        {"loss": 1.0, "val_loss": 0.4}, {"loss": 1.0, "val_loss": 0.4}, {}, {}]
    stage_end = next(e for e in events if e["kind"] == "task_end")
    assert [v["value"] for v in stage_end["generated"] if v["name"] == "acc"] == [0.8]
    assert count(kg, "?x a provml:TrainingSectionExecution") == 2 + 2 * (3 + 2 + 2) + 2 * 2


def test_a_loss_of_several_elements_is_said_once_not_dropped_silently(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    client = offline_client(tmp_path)
    with client.workflow("wf") as wf, TorchTraining(wf) as tr:
        for _epoch in tr.epochs(1):
            for _item in tr.batches(range(3)):
                assert tr.loss(torch.tensor([1.0, 2.0])) is None
    client.close()
    said = [r.getMessage() for r in caplog.records if "no single number" in r.getMessage()]
    assert len(said) == 1 and "loss.mean()" in said[0]
