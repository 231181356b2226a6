"""The PyTorch Lightning callback on a real tiny model (CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
lightning = pytest.importorskip("lightning")
from hooks_support import count, events_and_store, offline_client  # noqa: E402

from provml.capture.hooks.lightning import ProvenanceCallback  # noqa: E402


class Tiny(lightning.LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float = 0.05, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden, 2))

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("test_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Lightning's advice on workers and logging
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_fit_and_test_are_captured_with_hyperparameters_metrics_and_checkpoint(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,)))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    client = offline_client(tmp_path)
    with client.workflow("lightning-wf", type="learning") as wf:
        callback = ProvenanceCallback(wf)
        trainer = lightning.Trainer(
            max_epochs=2, callbacks=[callback], default_root_dir=tmp_path, logger=False,
            enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
            num_sanity_val_steps=0,
        )
        model = Tiny()
        trainer.fit(model, loader, loader)
        trainer.test(model, loader, verbose=False)
    events, kg = events_and_store(client)
    train = next(e for e in events if e["kind"] == "task_begin" and e["name"] == "train")
    used = {v["name"]: v["value"] for v in train["used"]}
    assert used["lr"] == 0.05 and used["hidden"] == 8 and used["max_epochs"] == 2
    assert used["optimizer"] == "Adam" and train["implementation"]["name"] == "Tiny"
    batches = [e for e in events if e["kind"] == "cycle_end" and e["name"] == "batch"]
    assert len(batches) == 8 and all(e["generated"][0]["name"] == "loss" for e in batches)
    epochs = [e for e in events if e["kind"] == "cycle_end" and e["name"] == "epoch"]
    assert [e["iteration"] for e in epochs] == [0, 1]
    assert {v["name"] for v in epochs[1]["generated"]} >= {"train_loss", "val_acc"}
    train_end = next(e for e in events if e["kind"] == "task_end" and e["name"] == "train")
    assert any(v.get("role") == "model" for v in train_end["generated"])  # the checkpoint
    test_end = next(e for e in events if e["kind"] == "task_end" and e["name"] == "test")
    assert test_end["type"] == "evaluation" and test_end["generated"][0]["name"] == "test_acc"
    assert count(kg, "?x a provml:TrainingExecution") == 1
    assert count(kg, "?x a provml:EvaluationExecution") == 1
    assert count(kg, "?x a provml:Model") == 1


class Failing(Tiny):
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        raise RuntimeError("y" * 1960 + " upload to postgresql://admin:hunter2hunter2@db/x failed")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_an_error_message_is_redacted_before_it_is_cut(tmp_path: Path) -> None:
    """``on_exception`` cut the message to 2,000 characters before the scopes redacted it:
    a DSN's password lost its ``@`` and stayed (an audit, twenty-first session: ZH08)."""
    torch.set_num_threads(1)
    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    client = offline_client(tmp_path)
    with client.workflow("lightning-wf", type="learning") as wf:
        trainer = lightning.Trainer(
            max_epochs=1, callbacks=[ProvenanceCallback(wf)], default_root_dir=tmp_path, logger=False,
            enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", enable_checkpointing=False)
        with pytest.raises(RuntimeError):
            trainer.fit(Failing(), torch.utils.data.DataLoader(data, batch_size=4))
    events, _ = events_and_store(client)
    messages = [e["error"]["message"] for e in events if "error" in e]
    assert messages and all("hunt" not in m and "postgresql://admin:" in m for m in messages)
