"""The scikit-learn wrapper on a real tiny model."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
from hooks_support import count, events_and_store, offline_client  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from provml.capture.hooks.sklearn import TrackedEstimator  # noqa: E402


def test_fit_score_predict_become_stages_with_params_metrics_and_model(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    client = offline_client(tmp_path)
    with client.workflow("iris", type="learning") as wf:
        clf = TrackedEstimator(LogisticRegression(C=0.5, max_iter=300), wf,
                               scoring=["accuracy", "f1_macro"], model_path=tmp_path / "m.pkl")
        clf.fit(X, y)
        acc = clf.score(X, y)
        predictions = clf.predict(X[:10])
    assert 0.8 < acc <= 1.0 and len(predictions) == 10
    assert clf.classes_.tolist() == [0, 1, 2]  # passed through to the estimator
    with open(tmp_path / "m.pkl", "rb") as handle:
        assert pickle.load(handle).C == 0.5
    events, kg = events_and_store(client)
    begins = {e["name"]: e for e in events if e["kind"] == "task_begin"}
    assert [begins[n]["type"] for n in begins] == ["training", "evaluation", "inference"]
    fit_used = {v["name"]: v["value"] for v in begins["LogisticRegression.fit"]["used"]}
    assert fit_used["C"] == 0.5 and fit_used["max_iter"] == 300 and fit_used["train_samples"] == 150
    score_end = next(e for e in events if e["kind"] == "task_end" and e["type"] == "evaluation")
    assert {v["name"] for v in score_end["generated"]} == {"accuracy", "f1_macro"}
    assert count(kg, "?x a provml:TrainingExecution") == 1
    assert count(kg, "?x a provml:InferenceExecution") == 1
    assert count(kg, "?x provml:evaluatedModel ?m") == 2


def test_an_iterable_input_a_clone_and_a_pickle(tmp_path: Path) -> None:
    """``fit`` on documents without a length raised ``TypeError`` before fitting; inside
    ``GridSearchCV`` the clones' fits were left out without a word; a ``pickle.dump`` of the
    wrapper raised "cannot pickle '_contextvars.ContextVar'" (a probe, twenty-seventh session)."""
    import pickle
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    client = offline_client(tmp_path)
    with client.workflow("sk", type="learning") as wf:
        vectorizer = TrackedEstimator(TfidfVectorizer(), wf)
        vectorizer.fit(doc for doc in ["a cat", "a dog", "the cat"])
        assert vectorizer.transform(["a cat"]).shape[0] == 1
        tracked = TrackedEstimator(LogisticRegression(), wf)
        x, y = [[0.0], [1.0], [0.1], [0.9], [0.2], [0.8]], [0, 1, 0, 1, 0, 1]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cross_val_score(tracked, x, y, cv=2)
        assert any("the clones' fits are not captured" in str(w.message) for w in caught)
        tracked.fit(x, y)
        restored = pickle.loads(pickle.dumps(tracked))
        assert type(restored).__name__ == "LogisticRegression" and restored.predict([[1.0]])[0] == 1
        import copy

        shallow = copy.copy(tracked)  # (was the wrapped estimator itself, shared with the original)
        assert isinstance(shallow, TrackedEstimator) and shallow.estimator is not tracked.estimator
    events, _ = events_and_store(client)
    assert [e["name"] for e in events if e["kind"] == "task_begin"] == ["TfidfVectorizer.fit", "LogisticRegression.fit"]
