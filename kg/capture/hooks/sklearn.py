"""A scikit-learn wrapper: ``fit`` / ``predict`` / ``score`` as learning stages.

>>> # doctest: +SKIP
>>> with client.workflow("iris", type="learning") as wf:
...     clf = TrackedEstimator(LogisticRegression(C=0.5), wf, scoring=["accuracy", "f1_macro"],
...                            model_path="model.pkl")
...     clf.fit(X_train, y_train)
...     clf.score(X_test, y_test)
...     clf.predict(X_new)

``fit`` → a ``training`` stage using the estimator's ``get_params()`` as hyperparameters and
the training data's shape as dataset characteristics; with ``model_path`` the fitted estimator
is pickled there and recorded (with its content hash) as the generated model. ``score`` → an
``evaluation`` stage with one evaluation per ``scoring`` name (scikit-learn scorers; default:
the estimator's own ``score``). ``predict`` → an ``inference`` stage. Anything else is passed to
the wrapped estimator (``partial_fit`` unrecorded). A clone (``GridSearchCV``, ``cross_val_score``)
is the wrapped estimator's, untracked, with a warning; a pickle or a deep copy is the wrapped
estimator.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from typing import Any

from provml.capture.hooks import number, plain_params, require
from provml.capture.scopes import Task, Workflow
from provml.capture.values import (
    Value,
    dataset_characteristic,
    evaluation,
    hyperparameter,
    implementation,
    model,
    value,
)

sklearn = require("sklearn", feature="provml.capture.hooks.sklearn", package="scikit-learn",
                  extra="sklearn")
from sklearn.metrics import get_scorer  # noqa: E402

__all__ = ["TrackedEstimator"]


def _shape(X: Any, prefix: str) -> list[Value]:
    shape = getattr(X, "shape", None)
    if shape is None:
        try:
            return [dataset_characteristic(f"{prefix}samples", len(X))]
        except TypeError:  # an iterable without a length (documents for a vectorizer): raised before the fit
            return []
    out = [dataset_characteristic(f"{prefix}samples", int(shape[0]))]
    if len(shape) > 1:
        out.append(dataset_characteristic(f"{prefix}features", int(shape[1])))
    return out


class TrackedEstimator:
    """Wrap an estimator so that its fit, predict and score are captured in ``scope``.

    :param estimator: any scikit-learn estimator.
    :param scope: the workflow (or task) the stages run in.
    :param name: stage name prefix (default: the estimator's class name).
    :param scoring: scorer names for ``score`` (e.g. ``["accuracy", "f1_macro"]``).
    :param model_path: pickle the fitted estimator here and record it as the model.
    """

    def __init__(
        self,
        estimator: Any,
        scope: Workflow | Task,
        *,
        name: str | None = None,
        scoring: Sequence[str] | None = None,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.estimator = estimator
        self.scope = scope
        self.name = name or type(estimator).__name__
        self.scoring = list(scoring) if scoring else None
        self.model_path = model_path
        self._model: Value | None = None

    def _impl(self) -> dict[str, str]:
        return implementation(type(self.estimator).__name__, software="scikit-learn",
                              version=sklearn.__version__)

    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> TrackedEstimator:
        """Fit the estimator inside a ``training`` stage; returns self."""
        params = plain_params(self.estimator.get_params(deep=False))
        used = [hyperparameter(k, v) for k, v in params.items()] + _shape(X, "train_")
        with self.scope.stage(f"{self.name}.fit", kind="training", used=used,
                              implementation=self._impl()) as stage:
            self.estimator.fit(X, y, **kwargs)
            if self.model_path is not None:
                with open(self.model_path, "wb") as handle:
                    pickle.dump(self.estimator, handle)
                self._model = model("model", self.model_path, hash_file=True)
                stage.generated(self._model)
            else:
                stage.generated(value("model", type(self.estimator).__name__))
        return self

    def predict(self, X: Any) -> Any:
        """Predict inside an ``inference`` stage."""
        used = ([self._model] if self._model else []) + _shape(X, "input_")
        with self.scope.stage(f"{self.name}.predict", kind="inference", used=used,
                              implementation=self._impl()) as stage:
            result = self.estimator.predict(X)
            stage.generated(value("predictions", len(result)))
            return result

    def score(self, X: Any, y: Any) -> float:
        """Score inside an ``evaluation`` stage: each ``scoring`` name, else ``estimator.score``.

        :returns: the first score.
        """
        used = ([self._model] if self._model else []) + _shape(X, "test_")
        with self.scope.stage(f"{self.name}.score", kind="evaluation", used=used,
                              implementation=self._impl()) as stage:
            if self.scoring:
                scores = {name: get_scorer(name)(self.estimator, X, y) for name in self.scoring}
            else:
                scores = {"score": self.estimator.score(X, y)}
            about = self._model["data"] if self._model else None
            stage.generated(*(evaluation(k, float(number(v) or 0.0), about=about)
                              for k, v in scores.items()))
            return float(next(iter(scores.values())))

    def __sklearn_clone__(self) -> Any:
        """What ``sklearn.base.clone`` makes of it (``GridSearchCV``, ``cross_val_score`` clone the
        estimator they are given): the wrapped estimator's clone, which is not tracked — said once
        in a warning (the fits inside were left out without a word: a probe, twenty-seventh
        session). Wrap the meta-estimator instead: ``TrackedEstimator(GridSearchCV(...), wf)``."""
        import warnings

        from sklearn.base import clone

        warnings.warn("a TrackedEstimator was cloned (by GridSearchCV, cross_val_score ...): the clones' "
                      "fits are not captured; wrap the meta-estimator instead", stacklevel=2)
        return clone(self.estimator)

    def __copy__(self) -> TrackedEstimator:
        """A copy (``copy.copy``) tracks a copy of the wrapped estimator into the same scope (it was
        the wrapped estimator itself, shared: a review, twenty-seventh session)."""
        import copy

        return TrackedEstimator(copy.copy(self.estimator), self.scope, name=self.name,
                                scoring=self.scoring, model_path=self.model_path)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled (or deep-copied) as the wrapped estimator: the scope it records into belongs to
        this process (``pickle.dump(tracked, f)`` raised "cannot pickle '_contextvars.ContextVar'")."""
        return _itself, (self.estimator,)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.estimator, name)


def _itself(estimator: Any) -> Any:
    return estimator
