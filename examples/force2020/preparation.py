"""Workflow 2, learning-data preparation: curated tables -> training, validation and test sets.

Leave-wells-out: the wells of each set are chosen up front (``train_wells`` is the analogue of
the paper's seismic slice range), one well is held out for inference. Features are the curated
curves (``RDEP`` as log10), standardised with a scaler fitted on the training wells only; missing
values become 0 after scaling (the training mean). Rows are subsampled (seeded) to keep the demo
short. Captured: the selection and scaling parameters, the curated tables used, and each learning
dataset with its characteristics (samples, classes, class counts).
"""

from __future__ import annotations

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
    read_wells,
    say,
    slugify,
    spec,
    work_ref,
    write_json,
)
from .curation import COLUMNS, CURVES

TRAIN_WELLS = ("16/2-6", "16/1-6 A", "25/11-24")
VALIDATION_WELLS = ("25/11-15",)
TEST_WELLS = ("32/2-1",)
INFERENCE_WELL = "16/5-3"
FEATURES = tuple(("log10_RDEP" if c == "RDEP" else c) for c in CURVES)


def load_curated(ws: Workspace, well_id: str) -> np.ndarray:
    """A curated table as an array (rows x curation.COLUMNS)."""
    table = np.loadtxt(ws.work / "curated" / f"{slugify(well_id)}.csv", delimiter=",", skiprows=1, ndmin=2)
    return table


def features_and_labels(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw feature matrix (RDEP as log10), class indices and depths of a curated table."""
    x = table[:, [COLUMNS.index(c) for c in CURVES]].copy()
    r = CURVES.index("RDEP")
    with np.errstate(invalid="ignore", divide="ignore"):
        x[:, r] = np.log10(np.where(x[:, r] > 0, x[:, r], np.nan))
    index = {lith.code: lith.index for lith in read_lithologies()}
    y = np.array([index[int(c)] for c in table[:, COLUMNS.index("LITHOLOGY")]], dtype=np.int64)
    return x, y, table[:, COLUMNS.index("DEPTH_MD")]


def _stack(ws: Workspace, wells: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ds, ws_ = [], [], [], []
    for w in wells:
        x, y, d = features_and_labels(load_curated(ws, w))
        xs.append(x)
        ys.append(y)
        ds.append(d)
        ws_.append(np.full(len(y), w))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ds), np.concatenate(ws_)


def _subsample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=limit, replace=False)) if n > limit else np.arange(n)


def _characteristics(y: np.ndarray, wells: tuple[str, ...]) -> dict[str, Any]:
    liths = read_lithologies()
    counts = {liths[i].name: int((y == i).sum()) for i in sorted(set(y.tolist()))}
    return {"samples": int(len(y)), "classes": len(counts), "features": len(FEATURES),
            "wells": len(wells), "class_counts": counts}


def run(client: provml.Client, ws: Workspace, settings: Settings) -> dict[str, Any]:
    """Write the learning datasets in one captured workflow; returns (and writes) ``preparation.json``."""
    rng = np.random.default_rng(settings.seed)
    curation = read_json(ws.work / "curated" / "curation.json")
    by_id = {w.well_id: w for w in read_wells()}

    def curated(well_id: str) -> dict[str, Any]:
        path = ws.work / "curated" / f"{slugify(well_id)}.csv"
        out = work_ref(provml.data, "curated_table", ws, path, media_type="text/csv")
        assert out["data"]["sha256"] == curation["wells"][slugify(well_id)]["curated"]["sha256"]
        return out

    summary: dict[str, Any] = {"train_wells": list(TRAIN_WELLS), "validation_wells": list(VALIDATION_WELLS),
                               "test_wells": list(TEST_WELLS), "inference_well": INFERENCE_WELL,
                               "features": list(FEATURES), "sets": {}}
    used = [provml.feature_set("features", list(FEATURES)), provml.parameter("scaling", "standard, fit on the training wells"),
            provml.parameter("missing_values", "0 after scaling (the training mean)"),
            provml.parameter("seed", settings.seed), provml.parameter("split", "leave wells out")]
    with client.workflow("force2020-preparation", study=STUDY, persona=PERSONA, used=used,
                         tags=["force2020", "preparation"]) as wf:
        wf.spec(spec("preparation"))
        # training set and scaler
        with wf.task("prepare_training_set", type="feature_extraction", used=[
            *(curated(w) for w in TRAIN_WELLS), provml.parameter("train_wells", list(TRAIN_WELLS)),
            provml.parameter("max_samples", settings.max_train_samples),
        ]) as task:
            x, y, depth, wells = _stack(ws, TRAIN_WELLS)
            keep = _subsample(len(y), settings.max_train_samples, rng)
            x, y, depth, wells = x[keep], y[keep], depth[keep], wells[keep]
            mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
            std[std == 0] = 1.0
            scaler = ws.path("datasets", "scaler.json")
            write_json(scaler, {"features": list(FEATURES), "mean": mean.tolist(), "std": std.tolist()})
            out = _save(ws, "train", x, y, depth, wells, mean, std)
            train_ref = work_ref(provml.learning_dataset, "training_set", ws, out,
                                 characteristics=_characteristics(y, TRAIN_WELLS))
            scaler_ref = work_ref(provml.data, "scaler", ws, scaler, media_type="application/json")
            task.generated(train_ref, scaler_ref)
            summary["sets"]["train"] = {**train_ref["data"], **train_ref["characteristics"]}
        say(f"  [preparation] training set: {len(y)} samples from {', '.join(TRAIN_WELLS)}")
        for set_name, wells_of, param in (("validation", VALIDATION_WELLS, "validation_wells"),
                                          ("test", TEST_WELLS, "test_wells")):
            with wf.task(f"prepare_{set_name}_set", type="feature_extraction", used=[
                *(curated(w) for w in wells_of), {**scaler_ref, "name": "scaler"},
                provml.parameter(param, list(wells_of)),
                provml.parameter("max_samples", settings.max_eval_samples),
            ]) as task:
                x, y, depth, wells = _stack(ws, wells_of)
                keep = _subsample(len(y), settings.max_eval_samples, rng)
                out = _save(ws, set_name, x[keep], y[keep], depth[keep], wells[keep], mean, std)
                dref = work_ref(provml.learning_dataset, f"{set_name}_set", ws, out,
                                characteristics=_characteristics(y[keep], wells_of))
                task.generated(dref)
                summary["sets"][set_name] = {**dref["data"], **dref["characteristics"]}
            say(f"  [preparation] {set_name} set: {len(keep)} samples from {', '.join(wells_of)}")
        with wf.task("prepare_inference_input", type="feature_extraction", used=[
            curated(INFERENCE_WELL), {**scaler_ref, "name": "scaler"},
            provml.domain_ref("inference_well", by_id[INFERENCE_WELL].iri, val=INFERENCE_WELL),
        ]) as task:
            x, y, depth, wells = _stack(ws, (INFERENCE_WELL,))
            out = _save(ws, "inference_input", x, y, depth, wells, mean, std)
            dref = work_ref(provml.data, "inference_input", ws, out, domain=by_id[INFERENCE_WELL].iri,
                            characteristics={"samples": int(len(y)), "features": len(FEATURES)})
            task.generated(dref)
            summary["sets"]["inference_input"] = {**dref["data"], "samples": int(len(y))}
        say(f"  [preparation] inference input: {len(y)} samples of held-out well {INFERENCE_WELL}")
    write_json(ws.path("datasets", "preparation.json"), summary)
    return summary


def _save(ws: Workspace, name: str, x: np.ndarray, y: np.ndarray, depth: np.ndarray, wells: np.ndarray,
          mean: np.ndarray, std: np.ndarray) -> Path:
    scaled = np.nan_to_num((x - mean) / std, nan=0.0).astype(np.float32)
    path = ws.path("datasets", f"{name}.npz")
    with open(path, "wb") as fh:  # np.savez on a handle: no timestamps, reproducible bytes
        np.savez(fh, x=scaled, y=y, depth=depth, well=wells.astype(str))
    return path


def load_set(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as f:
        return f["x"], f["y"]
