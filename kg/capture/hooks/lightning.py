"""A PyTorch Lightning callback: the fit as a training stage, epochs and batches as cycles.

>>> # doctest: +SKIP
>>> with client.workflow("mnist", type="learning") as wf:
...     trainer = lightning.Trainer(max_epochs=2, callbacks=[ProvenanceCallback(wf)])
...     trainer.fit(model, train_loader, val_loader)
...     trainer.test(model, test_loader)

``fit`` → a ``training`` stage (hyperparameters from ``save_hyperparameters()``, the trainer's
``max_epochs`` and the optimizer's settings); each training epoch → an ``epoch`` cycle with the
logged metrics (``trainer.callback_metrics``, validation metrics included) as evaluations;
each batch → a ``batch`` cycle with its loss (``log_batches=False`` leaves batches out);
``test`` → an ``evaluation`` stage; ``predict`` → an ``inference`` stage. The best checkpoint
(if a ``ModelCheckpoint`` wrote one) is the stage's generated model, with its content hash, and
``test`` / ``predict`` use it (without a checkpoint ``predict`` is recorded as a ``generic``
task: an inference execution must name the model it applied).
"""

from __future__ import annotations

import os
from typing import Any

from provml.capture.hooks import number, plain_params, require
from provml.capture.redact import redact_cut
from provml.capture.scopes import Cycle, Task, Workflow
from provml.capture.values import Value, evaluation, hyperparameter, implementation, model

_pl = require("lightning.pytorch", feature="provml.capture.hooks.lightning", package="lightning",
              extra="lightning")

__all__ = ["ProvenanceCallback"]


def _metrics(metrics: Any, *, prefix: str = "") -> list[Value]:
    out = []
    for key, val in dict(metrics).items():
        num = number(val)
        if num is not None and key.startswith(prefix):
            out.append(evaluation(str(key), num, about="model"))
    return out


class ProvenanceCallback(_pl.Callback):  # type: ignore[misc,name-defined]
    """Capture Lightning's fit / test / predict into ``scope``.

    :param scope: the workflow (or task) the stages run in.
    :param log_batches: one cycle per training batch with its loss.
    :param name: prefix of the stage names (``train``, ``test``, ``predict``).
    """

    def __init__(self, scope: Workflow | Task, *, log_batches: bool = True, name: str = "") -> None:
        super().__init__()
        self.scope = scope
        self.log_batches = log_batches
        self.prefix = name
        self._stage: Task | None = None
        self._epoch: Cycle | None = None
        self._batch: Cycle | None = None
        self._other: Task | None = None
        self.model_ref: Value | None = None

    def _used(self) -> list[Value]:
        return [self.model_ref] if self.model_ref is not None else []

    def _impl(self, pl_module: Any) -> dict[str, str]:
        return implementation(type(pl_module).__name__, software="lightning",
                              version=str(_pl.__version__) if hasattr(_pl, "__version__") else "")

    # -- fit --------------------------------------------------------------------------------
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        params = plain_params(dict(getattr(pl_module, "hparams", {}) or {}))
        params["max_epochs"] = trainer.max_epochs
        for optimizer in trainer.optimizers[:1]:
            group = dict(optimizer.param_groups[0])
            group.pop("params", None)
            params["optimizer"] = type(optimizer).__name__
            params.update(plain_params(group))
        used = [hyperparameter(k, v) for k, v in params.items()]
        self._stage = self.scope.stage(self.prefix + "train", kind="training", used=used,
                                       implementation=self._impl(pl_module))
        self._stage.begin()

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self._stage is not None:
            self._epoch = self._stage.cycle("epoch", trainer.current_epoch)
            self._epoch.begin()

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self.log_batches and self._epoch is not None:
            self._batch = self._epoch.cycle("batch", batch_idx)
            self._batch.begin()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._batch is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        num = number(loss.detach() if loss is not None and hasattr(loss, "detach") else loss)
        if num is not None:
            self._batch.generated(evaluation("loss", num))
        self._batch.end()
        self._batch = None

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._epoch is not None:
            self._epoch.generated(*_metrics(trainer.callback_metrics))
            self._epoch.end()
            self._epoch = None

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._stage is None:
            return
        self._stage.generated(*_metrics(trainer.callback_metrics))
        checkpoint = getattr(trainer.checkpoint_callback, "best_model_path", "") or ""
        if checkpoint and os.path.exists(checkpoint):
            self.model_ref = model("model", checkpoint, hash_file=True)
            self._stage.generated(self.model_ref)
        self._stage.end()
        self._stage = None

    # -- test / predict ---------------------------------------------------------------------
    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._other = self.scope.stage(self.prefix + "test", kind="evaluation", used=self._used(),
                                       implementation=self._impl(pl_module))
        self._other.begin()

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        if self._other is not None:
            self._other.end(generated=_metrics(trainer.callback_metrics))
            self._other = None

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        kind = "inference" if self.model_ref is not None else "generic"
        self._other = self.scope.stage(self.prefix + "predict", kind=kind, used=self._used(),
                                       implementation=self._impl(pl_module))
        self._other.begin()

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        if self._other is not None:
            self._other.end()
            self._other = None

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        # redacted, then cut (cut first, a DSN's password could end inside it, unrecognised)
        error = {"type": type(exception).__name__, "message": redact_cut(str(exception), 2000)}
        for scope in (self._batch, self._epoch, self._stage, self._other):
            if scope is not None:
                scope.end(status="errored", error=error)
        self._batch = self._epoch = None
        self._stage = self._other = None
