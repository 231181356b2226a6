"""A Keras 3 callback: ``fit`` as a training stage, epochs and batches as cycles.

>>> # doctest: +SKIP
>>> with client.workflow("digits", type="learning") as wf:
...     model.fit(x, y, epochs=2, callbacks=[ProvenanceCallback(wf)])
...     model.evaluate(x_test, y_test, callbacks=[ProvenanceCallback(wf)])

Keras 3 runs on the torch backend here: when ``KERAS_BACKEND`` is unset and TensorFlow is not
installed, importing this module sets ``KERAS_BACKEND=torch`` before importing Keras.
A call that an exception ends (Keras calls no callback for it) leaves its stage and epoch open
until the callback's next call begins, which ends them ``errored``, or until their workflow
ends, if that comes first (:meth:`provml.capture.scopes.Workflow.end` ends them ``errored``
too). ``fit`` → a ``training`` stage (``epochs``, ``batch_size``/``steps``, the optimizer's
learning rate as hyperparameters); each epoch → an ``epoch`` cycle with the epoch's logs
(``loss``, ``val_*`` …) as evaluations; each batch → a ``batch`` cycle with its loss
(``log_batches=False`` leaves them out); ``evaluate`` → an ``evaluation`` stage; ``predict`` →
an ``inference`` stage using the model saved at ``model_path`` (a ``generic`` task without one).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from provml.capture.hooks import number, plain_params, require
from provml.capture.scopes import Cycle, Task, Workflow
from provml.capture.values import Value, evaluation, hyperparameter, implementation, model

if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
    os.environ["KERAS_BACKEND"] = "torch"

keras = require("keras", feature="provml.capture.hooks.keras", package="keras", extra="keras")

__all__ = ["ProvenanceCallback"]


def _inside_fit() -> bool:
    """Whether a Keras ``fit`` is running on this thread (a frame of it on the stack): a call made
    during it (a callback's ``predict``) is nested, and the scopes of the ``fit`` are live."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit" and f"{os.sep}keras{os.sep}" in frame.f_code.co_filename:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _logs(logs: Any) -> list[Value]:
    out = []
    for key, val in dict(logs or {}).items():
        num = number(val)
        if num is not None:
            out.append(evaluation(str(key), num, about="model"))
    return out


class ProvenanceCallback(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
    """Capture Keras ``fit`` / ``evaluate`` / ``predict`` into ``scope``.

    :param scope: the workflow (or task) the stages run in.
    :param log_batches: one cycle per training batch with its loss.
    :param name: prefix of the stage names (``train``, ``evaluate``, ``predict``).
    :param model_path: save the trained model here (``model.save``, a ``.keras`` file) and
        record it with its content hash; ``evaluate`` and ``predict`` then use it. Without a
        saved model ``predict`` is recorded as a ``generic`` task (an inference execution must
        name the model it applied).
    """

    def __init__(
        self,
        scope: Workflow | Task,
        *,
        log_batches: bool = True,
        name: str = "",
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        self.model_path = model_path
        self.model_ref: Value | None = None
        self.scope = scope
        self.log_batches = log_batches
        self.prefix = name
        self._stage: Task | None = None
        self._epoch: Cycle | None = None
        self._batch: Cycle | None = None
        self._other: Task | None = None

    def set_params(self, params: Any) -> None:
        """Keras gives each ``fit``, ``evaluate`` and ``predict`` call its callbacks' params once,
        at its start (``fit``'s own validation reuses them): scopes still open then were left by
        an exception — Keras calls no callback for one — and are ended ``errored`` here (they
        stayed running for ever, and an ``evaluate`` after a failed ``fit`` was taken for its
        validation and not recorded: a probe, twenty-seventh session)."""
        if not _inside_fit():  # (a predict a callback runs during fit ended the live fit: a review)
            self._end_left_open()
        super().set_params(params)

    def _end_left_open(self) -> None:
        error = {"type": "Interrupted", "message": "the Keras call ended without its end callback "
                                                   "(an exception or an interrupt)"}
        for scope in (self._batch, self._epoch, self._stage, self._other):
            if scope is not None:
                scope.end(status="errored", error=error)
        self._batch = self._epoch = self._stage = self._other = None

    def _impl(self) -> dict[str, str]:
        return implementation(type(self.model).__name__, software="keras",
                              version=keras.__version__)

    def on_train_begin(self, logs: Any = None) -> None:
        params = plain_params(dict(self.params or {}))
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            params["optimizer"] = type(optimizer).__name__
            rate = getattr(optimizer, "learning_rate", None)
            lr = number(rate)
            if lr is None and rate is not None:
                try:
                    lr = float(keras.ops.convert_to_numpy(rate))
                except (TypeError, ValueError):
                    lr = None
            if lr is not None:
                params["learning_rate"] = lr
        self._stage = self.scope.stage(self.prefix + "train", kind="training",
                                       used=[hyperparameter(k, v) for k, v in params.items()],
                                       implementation=self._impl())
        self._stage.begin()

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        if self._stage is not None:
            self._epoch = self._stage.cycle("epoch", epoch)
            self._epoch.begin()

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if self.log_batches and self._epoch is not None:
            self._batch = self._epoch.cycle("batch", batch)
            self._batch.begin()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if self._batch is not None:
            loss = number((logs or {}).get("loss"))
            if loss is not None:
                self._batch.generated(evaluation("loss", loss))
            self._batch.end()
            self._batch = None

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self._epoch is not None:
            self._epoch.end(generated=_logs(logs))
            self._epoch = None

    def on_train_end(self, logs: Any = None) -> None:
        if self._stage is not None:
            if self.model_path is not None:
                self.model.save(self.model_path)
                self.model_ref = model("model", self.model_path, hash_file=True)
                self._stage.generated(self.model_ref)
            self._stage.end(generated=_logs(logs))
            self._stage = None

    def _used(self) -> list[Value]:
        return [self.model_ref] if self.model_ref is not None else []

    def on_test_begin(self, logs: Any = None) -> None:
        if self._stage is None:  # evaluate() on its own, not validation inside fit()
            self._other = self.scope.stage(self.prefix + "evaluate", kind="evaluation",
                                           used=self._used(), implementation=self._impl())
            self._other.begin()

    def on_test_end(self, logs: Any = None) -> None:
        if self._other is not None:
            self._other.end(generated=_logs(logs))
            self._other = None

    def on_predict_begin(self, logs: Any = None) -> None:
        kind = "inference" if self.model_ref is not None else "generic"
        self._other = self.scope.stage(self.prefix + "predict", kind=kind, used=self._used(),
                                       implementation=self._impl())
        self._other.begin()

    def on_predict_end(self, logs: Any = None) -> None:
        if self._other is not None:
            self._other.end()
            self._other = None
