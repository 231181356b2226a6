"""The paper's use case (Souza et al. 2022, Fig. 8 values) as capture events.

Three workflows across the lifecycle: seismic data curation, learning-data preparation, and two
training runs (learning rates 0.01 and 0.001) with epochs, batches, models, evaluations and a
validation stage. Expected answers are derived here from the same numbers, independently of
any query.
"""

from __future__ import annotations

from typing import Any

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RAW_SHA = "1" * 64
CURATED_SHA = "2" * 64
TRAIN_SHA = "3" * 64
VALID_SHA = "4" * 64
TEST_SHA = "5" * 64
SEISMIC_RESOURCE = "http://ibm.com/netherlands.sgy"
RAW_SIZE = 1_342_177_280  # 1.25 GiB

#: run -> learning rate, epochs (iteration, [batch losses], epoch loss, mean_iou)
RUNS: dict[str, dict[str, Any]] = {
    "train-a": {"lr": 0.01, "epochs": [(187, [0.010, 0.008], 0.0031, 0.701), (188, [0.004, 0.002], 0.0022, 0.722)]},
    "train-b": {"lr": 0.001, "epochs": [(0, [0.090, 0.070], 0.0500, 0.410), (1, [0.060, 0.030], 0.0400, 0.480)]},
}
BATCH_SECONDS = (2.0, 4.0)  # duration of batch 0 and batch 1 of every epoch
VALIDATION_LOSS = {"train-a": 0.0030, "train-b": 0.0450}


def _e(kind: str, t: float, run: str, workflow: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "kind": kind, "t": t, "run": run, "workflow": workflow, **fields}


def data(name: str, role: str, location: str, sha: str, **extra: Any) -> dict[str, Any]:
    d = {"store": "hpc-fs", "location": location, "sha256": sha, "store_type": "FILE_SYSTEM"}
    d.update(extra.pop("data_extra", {}))
    return {"name": name, "role": role, "data": d, **extra}


def curation_events() -> list[dict[str, Any]]:
    wf, run, t = "seismic-curation", "curation-1", T0
    raw = data("raw_seismic", "data", "data/netherlands.sgy", RAW_SHA, domain=SEISMIC_RESOURCE,
               data_extra={"size": RAW_SIZE},
               characteristics={"inline_range": [100, 750], "crossline_range": [300, 1250], "slices": 651})
    return [
        _e("workflow_begin", t, run, wf, persona={"id": "geo", "name": "Geoscientist"}),
        _e("task_begin", t + 1, run, wf, task="curate", name="curate", type="generic", used=[raw]),
        _e("task_end", t + 9, run, wf, task="curate", name="curate", type="generic", status="finished",
           generated=[data("curated", "data", "curated/netherlands.h5", CURATED_SHA)]),
        _e("workflow_end", t + 10, run, wf, status="finished"),
    ]


PREP_PARAMS = {"noise_threshold": 0.30, "tile_size": 40, "inline_range": [100, 750], "crossline_range": [300, 1250]}


def preparation_events() -> list[dict[str, Any]]:
    wf, run, t = "seismic-preparation", "prep-1", T0 + 100
    used = [data("curated", "data", "curated/netherlands.h5", CURATED_SHA)]
    used += [{"name": k, "role": "parameter", "value": v} for k, v in PREP_PARAMS.items()]
    generated = [
        data("train", "learning_dataset", "input/train.hdf5", TRAIN_SHA, characteristics={"tiles": 800}),
        data("valid", "learning_dataset", "input/valid.hdf5", VALID_SHA),
        data("test", "learning_dataset", "input/test.hdf5", TEST_SHA),
    ]
    return [
        _e("workflow_begin", t, run, wf),
        _e("task_begin", t + 1, run, wf, task="prepare", name="prepare", used=used),
        _e("task_end", t + 5, run, wf, task="prepare", name="prepare", status="finished", generated=generated),
        _e("workflow_end", t + 6, run, wf, status="finished"),
    ]


def model_location(run: str, iteration: int) -> str:
    return f"models/{run}/model{iteration}.hdf5"


def training_events(run: str) -> list[dict[str, Any]]:
    wf = "seismic-training"
    spec = RUNS[run]
    t = T0 + (1000 if run == "train-a" else 5000)
    ev = [
        _e("workflow_begin", t, run, wf, type="learning", study="seismic-stratigraphy",
           persona={"id": "trainer"}, meta={"hostname": "node01", "pid": 4242, "job": {"scheduler": "SLURM", "id": "123"}}),
        _e("task_begin", t + 1, run, wf, task="train", name="train", type="training", used=[
            {"name": "batch_size", "role": "hyperparameter", "value": 60},
            {"name": "max_epochs", "role": "hyperparameter", "value": 300},
            {"name": "learning_rate", "role": "hyperparameter", "value": spec["lr"]},
            data("train", "learning_dataset", "input/train.hdf5", TRAIN_SHA),
        ], implementation={"name": "UNet", "algorithm": "convolutional neural network", "software": "torch", "version": "1.1"}),
    ]
    clock = t + 10
    cyc = {"stage": "train", "stage_type": "training"}
    for iteration, losses, loss, iou in spec["epochs"]:
        eid = f"train/epoch-{iteration}"
        ev.append(_e("cycle_begin", clock, run, wf, task=eid, name="epoch", iteration=iteration, parent="train", **cyc))
        for b, (bl, secs) in enumerate(zip(losses, BATCH_SECONDS, strict=True)):
            bid = f"{eid}/batch-{b}"
            ev.append(_e("cycle_begin", clock, run, wf, task=bid, name="batch", iteration=b, parent=eid, **cyc))
            clock += secs
            ev.append(_e("cycle_end", clock, run, wf, task=bid, name="batch", iteration=b, parent=eid, status="finished",
                         generated=[{"name": "loss", "role": "evaluation", "value": bl}], **cyc))
        clock += 1
        model = data("model", "model", model_location(run, iteration), f"{run}{iteration}".encode().hex().ljust(64, "0")[:64])
        ev.append(_e("cycle_end", clock, run, wf, task=eid, name="epoch", iteration=iteration, parent="train", status="finished",
                     generated=[model,
                                {"name": "learning_rate", "role": "model_hyperparameter", "value": spec["lr"], "about": "model"},
                                {"name": "epoch", "role": "model_hyperparameter", "value": iteration, "about": "model"},
                                {"name": "loss", "role": "evaluation", "value": loss, "about": "model"},
                                {"name": "mean_iou", "role": "evaluation", "value": iou, "about": "model"}], **cyc))
    ev.append(_e("task_end", clock + 1, run, wf, task="train", name="train", type="training", status="finished"))
    last = spec["epochs"][-1][0]
    model = data("model", "model", model_location(run, last), f"{run}{last}".encode().hex().ljust(64, "0")[:64])
    ev.append(_e("task_begin", clock + 2, run, wf, task="validate", name="validate", type="validation",
                 used=[model, data("valid", "learning_dataset", "input/valid.hdf5", VALID_SHA)]))
    ev.append(_e("task_end", clock + 3, run, wf, task="validate", name="validate", type="validation", status="finished",
                 generated=[{"name": "loss", "role": "evaluation", "value": VALIDATION_LOSS[run], "about": model["data"]}]))
    ev.append(_e("workflow_end", clock + 4, run, wf, type="learning", status="finished"))
    return ev


def all_events() -> list[dict[str, Any]]:
    return curation_events() + preparation_events() + training_events("train-a") + training_events("train-b")


DOMAIN_TTL = f"""
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ex: <http://ibm.com/kg#> .
<{SEISMIC_RESOURCE}> a ex:SeismicSurvey ; rdfs:label "Netherlands F3 seismic cube" ;
    ex:field <http://ibm.com/field/F3> ; ex:basin <http://ibm.com/basin/NorthSea> .
<http://ibm.com/field/F3> a ex:Field ; rdfs:label "F3 block" .
<http://ibm.com/basin/NorthSea> a ex:Basin ; rdfs:label "North Sea basin" .
"""
