"""Synthetic capture events of the paper's whole case (PAPER.md §3, §6.4), for the query benchmark
and for the tests that check each named query against an independent computation.

The shape: a domain graph (one basin, fields, licence blocks, wells with coordinates); one
curation run (a task per well: raw file with ``kgReference`` → the well and a ``samples``
characteristic → curated file); per data selection one preparation run (a ``train_wells``
selection parameter, the curated files of the selected wells → a training and a validation set
with ``samples``); per selection ``runs_per_selection`` learning runs: a training stage of
``epochs`` × ``batches`` (a ``loss`` per batch, a model, its ``accuracy`` and ``loss`` and an
``epoch`` model hyperparameter per epoch) and a validation stage (a ``batch_size``
hyperparameter; ``accuracy``, ``loss`` and ``macro_f1`` of the last model); every fifth learning
run is a gradient-boosting run (one training call, no epochs).

All numbers come from a seeded ``random.Random``: the same arguments give the same events.
:class:`Truth` keeps what was generated, so a test can compute the answers without a query.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad

T0 = 1_767_225_600.0
OG = "https://w3id.org/provml/oil-gas#"
DOMAIN = "https://w3id.org/provml/id/bench/"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_LABEL = NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
XSD = "http://www.w3.org/2001/XMLSchema#"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Well:
    id: str
    iri: str
    field: str
    block: str
    easting: float
    northing: float
    samples: int


@dataclass
class Training:
    """One learning run as generated (the answers' source)."""

    run: str
    selection: str
    gb: bool
    hyper: dict[str, Any]
    batch_losses: list[list[float]] = field(default_factory=list)  # [epoch][batch]
    batch_seconds: list[list[float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # sha per epoch (one for gradient boosting)
    train_eval: list[dict[str, float]] = field(default_factory=list)  # per model
    validation: dict[str, float] = field(default_factory=dict)  # of the last model
    validation_hyper: dict[str, Any] = field(default_factory=dict)


@dataclass
class Truth:
    wells: dict[str, Well] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)  # field iri -> label
    basin: str = DOMAIN + "basin/north-sea"
    raw: dict[str, str] = field(default_factory=dict)  # well id -> raw sha
    curated: dict[str, str] = field(default_factory=dict)  # well id -> curated sha
    selections: dict[str, list[str]] = field(default_factory=dict)  # selection key -> well ids
    train_set: dict[str, str] = field(default_factory=dict)  # selection key -> training-set sha
    train_samples: dict[str, int] = field(default_factory=dict)
    trainings: list[Training] = field(default_factory=list)


def _dref(location: str, digest: str, **extra: Any) -> dict[str, Any]:
    return {"store": "fs", "location": location, "sha256": digest, **extra}


def domain_quads(truth: Truth, graph: NamedNode) -> list[Quad]:
    """The domain graph: basin, fields, blocks and wells (Oil & Gas ontology terms)."""
    og = lambda n: NamedNode(OG + n)  # noqa: E731
    out: list[Quad] = []

    def add(s: str, p: NamedNode, o: NamedNode | Literal) -> None:
        out.append(Quad(NamedNode(s), p, o, graph))

    add(truth.basin, RDF_TYPE, og("Basin"))
    add(truth.basin, RDFS_LABEL, Literal("North Sea"))
    for iri, label in truth.fields.items():
        add(iri, RDF_TYPE, og("Field"))
        add(iri, RDFS_LABEL, Literal(label))
        add(iri, og("fieldInBasin"), NamedNode(truth.basin))
    for block in sorted({w.block for w in truth.wells.values()}):
        add(block, RDF_TYPE, og("LicenceBlock"))
        add(block, RDFS_LABEL, Literal("block " + block.rsplit("/", 1)[-1]))
    for w in truth.wells.values():
        add(w.iri, RDF_TYPE, og("Well"))
        add(w.iri, RDFS_LABEL, Literal("well " + w.id))
        add(w.iri, og("officialName"), Literal(w.id))
        add(w.iri, og("wellInField"), NamedNode(w.field))
        add(w.iri, og("wellInBlock"), NamedNode(w.block))
        add(w.iri, og("easting"), Literal(repr(w.easting), datatype=NamedNode(XSD + "double")))
        add(w.iri, og("northing"), Literal(repr(w.northing), datatype=NamedNode(XSD + "double")))
    return out


def generate(
    selections: int, *, runs_per_selection: int = 8, epochs: int = 10, batches: int = 35,
    wells: int = 12, wells_per_selection: int = 3, seed: int = 2020,
) -> tuple[list[list[dict[str, Any]]], Truth]:
    """The events, one list per workflow run, and what was generated."""
    rng = random.Random(seed)
    truth = Truth()
    _wells(truth, rng, wells)
    return list(_runs(truth, rng, selections, runs_per_selection, epochs, batches, wells_per_selection)), truth


def generate_lazily(selections: int, **kwargs: Any) -> tuple[Iterator[list[dict[str, Any]]], Truth]:
    """As :func:`generate`, but the runs as an iterator (``Truth`` fills as it is consumed)."""
    rng = random.Random(kwargs.get("seed", 2020))
    truth = Truth()
    wells = kwargs.get("wells", 12)
    _wells(truth, rng, wells)
    return _runs(truth, rng, selections, kwargs.get("runs_per_selection", 8), kwargs.get("epochs", 10),
                 kwargs.get("batches", 35), kwargs.get("wells_per_selection", 3)), truth


def _wells(truth: Truth, rng: random.Random, wells: int) -> None:
    for f in range(max(1, wells // 3)):
        truth.fields[f"{DOMAIN}field/f{f}"] = f"Field {f}"
    field_iris = sorted(truth.fields)
    for i in range(wells):
        wid = f"W-{i}"
        truth.wells[wid] = Well(
            wid, f"{DOMAIN}well/W-{i}", field_iris[i % len(field_iris)], f"{DOMAIN}block/B{i % 4}",
            round(rng.uniform(4e5, 6e5), 1), round(rng.uniform(6.4e6, 6.8e6), 1), rng.randint(8000, 15000))


def _runs(truth: Truth, rng: random.Random, selections: int, runs_per_selection: int, epochs: int, batches: int,
          wells_per_selection: int) -> Iterator[list[dict[str, Any]]]:
    yield _curation(truth)
    for s in range(selections):
        chosen = sorted(rng.sample(sorted(truth.wells), wells_per_selection), key=lambda w: int(w[2:]))
        yield _preparation(truth, f"sel-{s}", chosen, rng)
        for r in range(runs_per_selection):
            yield _learning(truth, f"sel-{s}", f"learn-{s}-{r}", rng, epochs, batches, gb=r % 5 == 4)


def _curation(truth: Truth) -> list[dict[str, Any]]:
    base = {"v": 1, "run": "curation", "workflow": "bench-curation"}
    t = T0
    ev: list[dict[str, Any]] = [{**base, "kind": "workflow_begin", "t": t}]
    for w in truth.wells.values():
        raw, cur = sha("raw " + w.id), sha("curated " + w.id)
        truth.raw[w.id], truth.curated[w.id] = raw, cur
        task = {"task": f"curate/{w.id}", "name": "curate_well", "type": "generic"}
        ev.append({**base, **task, "kind": "task_begin", "t": t, "used": [
            {"name": "raw", "role": "data", "domain": w.iri,
             "data": _dref(f"las/{w.id}.las", raw, size=w.samples * 80),
             "characteristics": {"samples": w.samples}},
            {"name": "null_value", "role": "parameter", "value": -999.25}]})
        t += 1
        ev.append({**base, **task, "kind": "task_end", "t": t, "status": "finished", "generated": [
            {"name": "curated", "role": "data", "domain": w.iri, "data": _dref(f"curated/{w.id}.csv", cur),
             "characteristics": {"samples": w.samples - 100}}]})
    ev.append({**base, "kind": "workflow_end", "t": t, "status": "finished"})
    return ev


def _preparation(truth: Truth, key: str, chosen: list[str], rng: random.Random) -> list[dict[str, Any]]:
    base = {"v": 1, "run": f"prep-{key}", "workflow": "bench-preparation"}
    truth.selections[key] = chosen
    train, valid = sha("train " + key), sha("validation " + key)
    truth.train_set[key] = train
    samples = sum(truth.wells[w].samples - 100 for w in chosen)
    truth.train_samples[key] = samples
    t = T0 + 1000
    task = {"task": "split", "name": "split", "type": "generic"}
    return [
        {**base, "kind": "workflow_begin", "t": t},
        {**base, **task, "kind": "task_begin", "t": t, "used": [
            {"name": "train_wells", "role": "parameter", "value": chosen},
            {"name": "seed", "role": "parameter", "value": rng.randint(0, 9999)},
            *({"name": f"curated_{w}", "role": "data", "data": _dref(f"curated/{w}.csv", truth.curated[w])}
              for w in chosen)]},
        {**base, **task, "kind": "task_end", "t": t + 1, "status": "finished", "generated": [
            {"name": "train", "role": "learning_dataset", "data": _dref(f"sets/{key}/train.npz", train),
             "characteristics": {"samples": samples}},
            {"name": "validation", "role": "learning_dataset",
             "data": _dref(f"sets/{key}/validation.npz", valid), "characteristics": {"samples": samples // 4}}]},
        {**base, "kind": "workflow_end", "t": t + 2, "status": "finished"},
    ]


def _learning(truth: Truth, key: str, run: str, rng: random.Random, epochs: int, batches: int,
              *, gb: bool) -> list[dict[str, Any]]:
    wf = "bench-learning"
    base = {"v": 1, "run": run, "workflow": wf}
    cyc = {"stage": "train", "stage_type": "training"}
    hyper: dict[str, Any] = ({"learning_rate": round(rng.choice([0.1, 0.05, 0.01]), 3), "max_iter": 100} if gb else
                             {"learning_rate": rng.choice([0.01, 0.003, 0.001]), "batch_size": 512,
                              "epochs": epochs, "optimizer": "adam"})
    tr = Training(run, key, gb, hyper)
    truth.trainings.append(tr)
    train_ref = {"name": "train", "role": "learning_dataset",
                 "data": _dref(f"sets/{key}/train.npz", truth.train_set[key])}
    t = T0 + 2000 + len(truth.trainings) * 10_000
    ev: list[dict[str, Any]] = [
        {**base, "kind": "workflow_begin", "t": t, "type": "learning"},
        {**base, "kind": "task_begin", "t": t, "task": "train", "name": "train", "type": "training", "used": [
            *({"name": k, "role": "hyperparameter", "value": v} for k, v in hyper.items()), train_ref]},
    ]

    def model_values(e: int, digest: str, loss: float, acc: float) -> list[dict[str, Any]]:
        tr.models.append(digest)
        tr.train_eval.append({"loss": loss, "accuracy": acc})
        return [{"name": "model", "role": "model", "data": _dref(f"models/{run}/e{e}.pt", digest)},
                {"name": "loss", "role": "evaluation", "value": loss, "about": "model"},
                {"name": "accuracy", "role": "evaluation", "value": acc, "about": "model"},
                {"name": "epoch", "role": "model_hyperparameter", "value": e, "about": "model"}]

    if gb:
        t += 2.5
        ev.append({**base, "kind": "task_end", "t": t, "task": "train", "name": "train", "type": "training",
                   "status": "finished", "generated": model_values(0, sha(run + "/gb"),
                                                                  round(rng.uniform(0.01, 0.3), 6),
                                                                  round(rng.uniform(0.5, 1.0), 6))})
    else:
        for e in range(epochs):
            eid = f"train/epoch-{e}"
            start = t
            ev.append({**base, **cyc, "kind": "cycle_begin", "t": t, "task": eid, "name": "epoch", "iteration": e,
                       "parent": "train"})
            losses, secs = [], []
            for b in range(batches):
                bid = f"{eid}/batch-{b}"
                ev.append({**base, **cyc, "kind": "cycle_begin", "t": t, "task": bid, "name": "batch",
                           "iteration": b, "parent": eid})
                d = round(rng.uniform(0.001, 0.02), 6)
                t = round(t + d, 6)
                loss = round(rng.uniform(0.05, 2.0) / (1 + e), 6)
                losses.append(loss)
                secs.append(d)
                ev.append({**base, **cyc, "kind": "cycle_end", "t": t, "task": bid, "name": "batch", "iteration": b,
                           "parent": eid, "status": "finished",
                           "generated": [{"name": "loss", "role": "evaluation", "value": loss}]})
            t = round(t + 0.5, 6)
            tr.batch_losses.append(losses)
            tr.batch_seconds.append(secs)
            tr.epoch_seconds.append(t - start)
            ev.append({**base, **cyc, "kind": "cycle_end", "t": t, "task": eid, "name": "epoch", "iteration": e,
                       "parent": "train", "status": "finished",
                       "generated": model_values(e, sha(f"{run}/e{e}"), round(sum(losses) / len(losses), 6),
                                                 round(rng.uniform(0.5, 1.0), 6))})
        ev.append({**base, "kind": "task_end", "t": t, "task": "train", "name": "train", "type": "training",
                   "status": "finished"})
    last = {"store": "fs", "location": f"models/{run}/e{len(tr.models) - 1}.pt", "sha256": tr.models[-1]}
    tr.validation = {"accuracy": round(rng.uniform(0.4, 0.9), 6), "loss": round(rng.uniform(0.1, 1.5), 6),
                     "macro_f1": round(rng.uniform(0.2, 0.8), 6)}
    tr.validation_hyper = {"batch_size": 1024}
    ev.append({**base, "kind": "task_begin", "t": t, "task": "validate", "name": "validate", "type": "validation",
               "used": [{"name": "batch_size", "role": "hyperparameter", "value": 1024},
                        {"name": "model", "role": "model", "data": last},
                        {"name": "validation", "role": "learning_dataset",
                         "data": _dref(f"sets/{key}/validation.npz", sha("validation " + key))}]})
    ev.append({**base, "kind": "task_end", "t": t + 1, "task": "validate", "name": "validate", "type": "validation",
               "status": "finished", "generated": [
                   {"name": k, "role": "evaluation", "value": v, "about": last} for k, v in tr.validation.items()]})
    ev.append({**base, "kind": "workflow_end", "t": t + 1, "type": "learning", "status": "finished"})
    return ev


def selection_text(wells: list[str]) -> str:
    """A selection value as provml stores it (``rdf:JSON``, compact, sorted keys)."""
    return json.dumps(wells, separators=(",", ":"))
