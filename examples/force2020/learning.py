"""Workflow 3, learning: a small hyperparameter grid over two model families, one captured
learning run per configuration (training, validation and evaluation stages).

- ``mlp``: a PyTorch multilayer perceptron trained in epochs and mini-batches (Adam, cross
  entropy); each epoch and each batch is a captured cycle, each batch with its loss.
- ``gbm``: scikit-learn's ``HistGradientBoostingClassifier``.

Measures: ``loss`` (cross entropy) and ``accuracy`` in training; ``accuracy``, ``macro_f1`` and
the competition's ``penalty_score`` (mean penalty of ``penalty_matrix.csv``, 0 is perfect, lower is
better) in validation and evaluation; in evaluation also ``f1_<lithology>`` per lithology of the
test well, each with a domain reference to the lithology's SKOS concept. Models are saved and
captured with their content hash; each run's numbers go to ``work/metrics/<config>.json``.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

import provml

from .common import (
    PERSONA,
    STUDY,
    Settings,
    Workspace,
    read_json,
    read_lithologies,
    read_penalty,
    say,
    spec,
    work_ref,
    write_json,
)
from .preparation import load_set

N_CLASSES = 12


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """accuracy, macro_f1 (over the classes present in truth or prediction), penalty_score and
    per-lithology F1 (``f1`` keyed by the concept's local name) for the classes in the truth."""
    from sklearn.metrics import f1_score

    penalty = np.asarray(read_penalty())
    liths = read_lithologies()
    present = sorted(set(y_true.tolist()))
    per_class = f1_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "penalty_score": float(np.mean(penalty[y_pred, y_true])),
        "f1": {liths[c].key: float(f) for c, f in zip(present, per_class, strict=True)},
    }


def configurations(settings: Settings) -> list[dict[str, Any]]:
    """The grid: ``[{name, family, hyperparameters}]`` (MLP configurations first)."""
    out = [{"name": f"mlp-{i + 1}", "family": "mlp", "hyperparameters": dict(h)} for i, h in enumerate(settings.mlp_grid)]
    out += [{"name": f"gbm-{i + 1}", "family": "gbm", "hyperparameters": dict(h)} for i, h in enumerate(settings.gbm_grid)]
    return out


def run(client: provml.Client, ws: Workspace, settings: Settings) -> list[dict[str, Any]]:
    """Train, validate and evaluate every configuration; returns (and writes) the metrics."""
    import torch

    torch.set_num_threads(1)
    prep = read_json(ws.work / "datasets" / "preparation.json")
    results = []
    configs = configurations(settings)
    for n, cfg in enumerate(configs, 1):
        say(f"  [learning {n}/{len(configs)}] {cfg['name']} {cfg['hyperparameters']}")
        started = time.perf_counter()
        result = _one(client, ws, settings, cfg, prep)
        result["seconds"] = round(time.perf_counter() - started, 3)
        write_json(ws.path("metrics", f"{cfg['name']}.json"), result)
        v = result["validation"]
        say(f"      validation accuracy {v['accuracy']:.3f}, macro-F1 {v['macro_f1']:.3f}, "
            f"penalty {v['penalty_score']:.3f} ({result['seconds']:.1f} s)")
        results.append(result)
    write_json(ws.path("metrics", "learning.json"), {"runs": [r["name"] for r in results]})
    return results


def _evaluations(measures: dict[str, Any], model: dict[str, Any], *, per_lithology: bool) -> list[dict[str, Any]]:
    about = model["data"]
    out = [provml.evaluation(k, measures[k], about=about) for k in ("accuracy", "macro_f1", "penalty_score")]
    if per_lithology:
        concepts = {lith.key: lith.concept for lith in read_lithologies()}
        for key, f1 in measures["f1"].items():
            value = provml.evaluation(f"f1_{key}", f1, about=about)
            value["domain"] = concepts[key]  # the lithology's SKOS concept (kg_reference)
            out.append(value)
    return out


def _one(client: provml.Client, ws: Workspace, settings: Settings, cfg: dict[str, Any], prep: dict[str, Any]) -> dict[str, Any]:
    sets = {name: ws.root / prep["sets"][name]["location"] for name in ("train", "validation", "test")}
    refs = {name: work_ref(provml.learning_dataset, f"{'training' if name == 'train' else name}_set", ws, path)
            for name, path in sets.items()}
    x_train, y_train = load_set(sets["train"])
    hyper = {**cfg["hyperparameters"], "seed": settings.seed}
    if cfg["family"] == "mlp":
        hyper.update(epochs=settings.epochs, batch_size=settings.batch_size, optimizer="adam")
        implementation = provml.implementation("torch-mlp", algorithm="MultilayerPerceptron",
                                               software="torch", version=_version("torch"))
    else:
        implementation = provml.implementation("sklearn-hist-gradient-boosting", algorithm="GradientBoosting",
                                               software="scikit-learn", version=_version("sklearn"))
    model_keys = {"hidden_units", "dropout", "max_leaf_nodes"}
    result: dict[str, Any] = {"name": cfg["name"], "family": cfg["family"], "hyperparameters": hyper}
    with client.workflow("force2020-learning", type="learning", study=STUDY, persona=PERSONA,
                         tags=["force2020", cfg["family"], cfg["name"]],
                         used=[provml.learning_task("task", "lithology classification")]) as wf:
        wf.spec(spec("learning"))
        learning = [provml.hyperparameter(k, v) for k, v in hyper.items() if k not in model_keys]
        with wf.stage("train", kind="training", used=[refs["train"], *learning],
                      implementation=implementation) as stage:
            if cfg["family"] == "mlp":
                predictor, path, train_measures, epochs = _train_mlp(stage, ws, cfg, hyper, x_train, y_train)
                result["epochs"] = epochs
            else:
                predictor, path, train_measures = _train_gbm(ws, cfg, hyper, x_train, y_train)
            model = work_ref(provml.model, "model", ws, path)
            mh = {k: v for k, v in hyper.items() if k in model_keys}
            mh.update(n_features=int(x_train.shape[1]), n_classes=N_CLASSES)
            stage.generated(model, *(provml.model_hyperparameter(k, v, about="model") for k, v in mh.items()),
                            *(provml.evaluation(k, v, about="model") for k, v in train_measures.items()))
        result.update(model=model["data"], model_hyperparameters=mh, train=train_measures)
        for stage_name, kind, set_name in (("validate", "validation", "validation"),
                                           ("evaluate", "evaluation", "test")):
            with wf.stage(stage_name, kind=kind, used=[{**model, "name": "model"}, refs[set_name]]) as stage:
                x, y = load_set(sets[set_name])
                measures = scores(y, predictor(x))
                stage.generated(*_evaluations(measures, model, per_lithology=kind == "evaluation"))
            result[set_name] = measures
    result["run"] = wf.run_id
    return result


def _version(module: str) -> str:
    import importlib

    return str(importlib.import_module(module).__version__)


def _train_mlp(stage: provml.Task, ws: Workspace, cfg: dict[str, Any], hyper: dict[str, Any],
               x: np.ndarray, y: np.ndarray) -> tuple[Any, Path, dict[str, float], list[dict[str, Any]]]:
    import torch
    from torch import nn

    torch.manual_seed(hyper["seed"])
    net = nn.Sequential(nn.Linear(x.shape[1], hyper["hidden_units"]), nn.ReLU(), nn.Dropout(hyper["dropout"]),
                        nn.Linear(hyper["hidden_units"], hyper["hidden_units"]), nn.ReLU(),
                        nn.Linear(hyper["hidden_units"], N_CLASSES))
    opt = torch.optim.Adam(net.parameters(), lr=hyper["learning_rate"])
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(hyper["seed"])
    epochs: list[dict[str, Any]] = []
    for e in range(hyper["epochs"]):
        net.train()
        order = torch.randperm(len(yt), generator=gen)
        batch_losses, correct = [], 0
        with stage.cycle("epoch", e) as epoch:
            for b, start in enumerate(range(0, len(order), hyper["batch_size"])):
                idx = order[start:start + hyper["batch_size"]]
                with epoch.cycle("batch", b) as batch:
                    out = net(xt[idx])
                    loss = loss_fn(out, yt[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    value = float(loss.item())
                    batch.generated(provml.evaluation("loss", value))
                batch_losses.append(value)
                correct += int((out.argmax(1) == yt[idx]).sum())
            mean_loss, acc = float(np.mean(batch_losses)), correct / len(yt)
            epoch.generated(provml.evaluation("loss", mean_loss), provml.evaluation("accuracy", acc))
        epochs.append({"epoch": e, "loss": mean_loss, "accuracy": acc, "batch_losses": batch_losses})
    path = ws.path("models", f"{cfg['name']}.pt")
    torch.save(net.state_dict(), path)
    net.eval()

    def predict(features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(net(torch.from_numpy(features)).argmax(1).numpy(), dtype=np.int64)

    with torch.no_grad():
        logits = net(xt)
        final = {"loss": float(loss_fn(logits, yt)), "accuracy": float((logits.argmax(1) == yt).float().mean())}
    return predict, path, final, epochs


def _train_gbm(ws: Workspace, cfg: dict[str, Any], hyper: dict[str, Any], x: np.ndarray,
               y: np.ndarray) -> tuple[Any, Path, dict[str, float]]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        clf = HistGradientBoostingClassifier(learning_rate=hyper["learning_rate"], max_iter=hyper["max_iter"],
                                             max_leaf_nodes=hyper["max_leaf_nodes"], early_stopping=False,
                                             random_state=hyper["seed"])
        clf.fit(x, y)
        proba = clf.predict_proba(x)
    path = ws.path("models", f"{cfg['name']}.pkl")
    path.write_bytes(pickle.dumps(clf, protocol=5))

    def predict(features: np.ndarray) -> np.ndarray:
        with threadpool_limits(1):
            return np.asarray(clf.predict(features), dtype=np.int64)

    final = {"loss": float(log_loss(y, proba, labels=clf.classes_)),
             "accuracy": float(np.mean(clf.classes_[proba.argmax(1)] == y))}
    return predict, path, final


def load_predictor(path: Path, result: dict[str, Any]) -> Any:
    """A saved model as a function features -> class indices (for inference)."""
    if result["family"] == "gbm":
        clf = pickle.loads(path.read_bytes())
        return lambda features: np.asarray(clf.predict(features), dtype=np.int64)
    import torch
    from torch import nn

    h, mh = result["hyperparameters"], result["model_hyperparameters"]
    net = nn.Sequential(nn.Linear(mh["n_features"], h["hidden_units"]), nn.ReLU(), nn.Dropout(h["dropout"]),
                        nn.Linear(h["hidden_units"], h["hidden_units"]), nn.ReLU(),
                        nn.Linear(h["hidden_units"], N_CLASSES))
    net.load_state_dict(torch.load(path, weights_only=True))
    net.eval()

    def predict(features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(net(torch.from_numpy(features)).argmax(1).numpy(), dtype=np.int64)

    return predict
