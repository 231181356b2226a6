"""Capture a plain PyTorch training loop: a training stage, its epochs and batches, the loss.

>>> # doctest: +SKIP
>>> with TorchTraining(wf, model=net, optimizer=opt, hyperparameters={"epochs": 3}) as tr:
...     for epoch in tr.epochs(3):
...         for x, y in tr.batches(loader):
...             loss = loss_fn(net(x), y); loss.backward(); opt.step(); opt.zero_grad()
...             tr.loss(loss)
...         tr.metric("accuracy", evaluate(net))
...     tr.save_model("model.pt")

Each epoch is a cycle ``train/epoch-N`` with the mean of the batch losses it recorded (and any
``metric``, the last value of a name) as evaluations, each batch a cycle ``train/epoch-N/batch-M``
with its loss. A second ``batches()`` loop in an epoch (a validation loop after the training one)
numbers on from the first, or takes a name of its own (``batches(val_loader, name="val_batch")``);
its batches had the first loop's ids, and ``provml load`` rejected the run. An epoch recorded
already, when ``epochs()`` comes to it again, is recorded as the next free number, with a warning
(``start=`` numbers a further loop on). ``loss()`` calls
``.item()`` on the caller's thread (a device sync on GPU; record every k-th batch with
``batch_loss_every``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from provml.capture.hooks import number, plain_params, require
from provml.capture.redact import redact_cut
from provml.capture.scopes import Cycle, Task, Workflow
from provml.capture.values import (
    Value,
    evaluation,
    hyperparameter,
    implementation,
    model,
    model_hyperparameter,
)

torch = require("torch", feature="provml.capture.hooks.torch", package="torch", extra="torch")

__all__ = ["TorchTraining", "optimizer_hyperparameters"]

log = logging.getLogger("provml.capture.hooks.torch")


def optimizer_hyperparameters(optimizer: Any) -> dict[str, Any]:
    """The scalar settings of an optimizer's first parameter group (lr, momentum, …) and its
    class name."""
    group = dict(optimizer.param_groups[0]) if optimizer.param_groups else {}
    group.pop("params", None)
    out = {"optimizer": type(optimizer).__name__}
    out.update(plain_params(group))
    return out


class TorchTraining:
    """A training stage around a PyTorch loop.

    :param scope: the workflow (or task) the stage runs in.
    :param name: the stage's name.
    :param model: the ``torch.nn.Module`` (its class and parameter count are recorded).
    :param optimizer: its scalar settings are recorded as hyperparameters.
    :param hyperparameters: more hyperparameters (``{name: value}``).
    :param used: more used values (datasets …).
    :param batch_loss_every: record the loss of every k-th batch (1: all).
    """

    def __init__(
        self,
        scope: Workflow | Task,
        *,
        name: str = "train",
        model: Any = None,
        optimizer: Any = None,
        hyperparameters: Mapping[str, Any] | None = None,
        used: Iterable[Value] = (),
        batch_loss_every: int = 1,
    ) -> None:
        values: list[Value] = []
        if optimizer is not None:
            values += [hyperparameter(k, v) for k, v in optimizer_hyperparameters(optimizer).items()]
        values += [hyperparameter(k, v) for k, v in plain_params(hyperparameters or {}).items()]
        values += list(used)
        impl = None
        if model is not None:
            impl = implementation(type(model).__name__, software="torch", version=torch.__version__)
        self.model = model
        self.stage = scope.stage(name, kind="training", used=values, implementation=impl)
        self._every = max(1, batch_loss_every)
        self._epoch: Cycle | None = None
        self._batch: Cycle | None = None
        self._losses: list[float] = []
        self._metrics: dict[str, Value] = {}  # the current epoch's, by name: the last value of each
        self._stage_metrics: dict[str, Value] = {}  # outside an epoch: generated when the stage ends
        self._epochs: set[int] = set()  # the epochs begun
        self._next: dict[tuple[bool, str], int] = {}  # (in an epoch?, batch name) -> the next number
        self._warned = False  # about a loss that is no number (once)

    def __enter__(self) -> TorchTraining:
        self.stage.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # loops left by an exception or a break leave their cycles open: close them here
        if exc_type is not None:
            # redacted, then cut (cut first, a DSN's password could end inside it, unrecognised)
            error = {"type": exc_type.__name__, "message": redact_cut(str(exc), 2000)}
            for cycle in (self._batch, self._epoch):
                if cycle is not None:
                    cycle.end(status="errored", error=error)
        else:
            self._close_batch()
            if self._epoch is not None:
                self._end_epoch(self._epoch)
        self._batch = self._epoch = None
        if self._stage_metrics:
            self.stage.generated(*self._stage_metrics.values())
        if self.model is not None:
            count = sum(p.numel() for p in self.model.parameters())
            self.stage.generated(model_hyperparameter("parameters", int(count)))
        self.stage.__exit__(exc_type, exc, tb)

    def epochs(self, n: int, *, start: int = 0) -> Iterator[int]:
        """Iterate over epoch numbers, each inside an ``epoch`` cycle. An epoch of this stage
        recorded already (``epochs(3)`` twice: two executions under one id, which ``provml
        load`` rejected whole) is recorded as the next number not yet used, with a warning; the
        loop still gets its own numbers. An epoch left open by a ``break`` is ended first."""
        self._close_batch()
        if self._epoch is not None:  # (a break out of the loop before: ended here, not left open)
            self._end_epoch(self._epoch)
        said = False
        for epoch in range(start, n):
            recorded = epoch
            if epoch in self._epochs:
                recorded = max(self._epochs) + 1
                if not said:  # (once a loop)
                    said = True
                    log.warning("provml: epoch %d of stage %s is recorded already: recorded as epoch %d, "
                                "and the loop's later epochs after it (pass start= to number a further "
                                "loop on, or give it a stage of its own)", epoch, self.stage.name, recorded)
            self._epochs.add(recorded)
            cycle = self._epoch = self.stage.cycle("epoch", recorded)
            cycle.begin()
            self._losses = []
            self._metrics = {}
            self._next = {key: number for key, number in self._next.items() if not key[0]}
            yield epoch  # an exception or break leaves it open: __exit__ / the next epoch ends it
            self._close_batch()
            self._end_epoch(cycle)
        self._epoch = None

    def _close_batch(self) -> None:
        if self._batch is not None:
            self._batch.end()
            self._batch = None

    def _end_epoch(self, cycle: Cycle) -> None:
        self._epoch = None
        if self._losses:
            cycle.generated(evaluation("loss", sum(self._losses) / len(self._losses)))
        cycle.generated(*self._metrics.values())
        cycle.end()

    def batches(self, iterable: Iterable[Any], *, name: str = "batch") -> Iterator[Any]:
        """Iterate over a data loader, each item inside a ``name`` cycle of the current epoch (or
        of the stage), numbered on from the last loop of that name in the epoch."""
        parent: Task | Cycle = self._epoch if self._epoch is not None else self.stage
        self._close_batch()
        key = (self._epoch is not None, name)
        for index, item in enumerate(iterable, self._next.get(key, 0)):
            self._next[key] = index + 1
            cycle = self._batch = parent.cycle(name, index)
            cycle.begin()
            yield item
            cycle.end()
            self._batch = None

    def loss(self, value: Any) -> float | None:
        """Record the current batch's loss (a tensor or a number); returns it as a float, or
        ``None`` for a batch ``batch_loss_every`` skips (no ``.item()``: no device sync) and for
        a value that is no single number."""
        batch = self._batch
        if batch is not None and batch.iteration % self._every:
            return None
        loss = number(value.detach() if hasattr(value, "detach") else value)
        if loss is None:
            if not self._warned:  # (dropped without a word: a probe, twenty-seventh session)
                self._warned = True
                log.warning("provml: a loss that is no single number (%s) is not recorded; pass one "
                            "number, e.g. loss.mean()", type(value).__name__)
            return None
        self._losses.append(loss)
        if batch is not None:
            batch.generated(evaluation("loss", loss))
        return loss

    def metric(self, name: str, value: Any) -> None:
        """Record an evaluation measure on the current epoch (or, outside one, on the stage, when
        it ends); a name given again in the epoch (or the stage) keeps its last value: two values
        of one name were one node with two, and ``provml load`` rejected the run."""
        num = number(value)
        if num is None:
            raise TypeError(f"metric {name!r} is not a number: {value!r}")
        target = self._metrics if self._epoch is not None else self._stage_metrics
        target.pop(name, None)  # (the last value, in the order of the last calls)
        target[name] = evaluation(name, num, about="model")

    def save_model(self, path: str | os.PathLike[str], *, name: str = "model") -> Value:
        """``torch.save`` the model's ``state_dict`` and record it (with its content hash) as
        generated by the stage (and by the current epoch)."""
        if self.model is None:
            raise ValueError("TorchTraining(model=...) was not given")
        torch.save(self.model.state_dict(), path)
        saved = model(name, path, hash_file=True)
        self.stage.generated(saved)
        if self._epoch is not None:
            self._metrics[name] = saved
        return saved
