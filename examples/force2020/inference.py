"""Workflow 4, inference (provml's extension to the paper): the best model predicts the
held-out well.

The best configuration is the one with the highest validation macro-F1 (ties: lower validation
penalty), read from the learning workflow's own metrics files. Captured: an inference stage that
used the model and the input data and generated the predictions (a CSV with their content hash,
linked to the well they describe).
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np

import provml

from .common import (
    PERSONA,
    STUDY,
    Workspace,
    read_json,
    read_lithologies,
    read_wells,
    say,
    spec,
    work_ref,
    write_json,
)
from .learning import load_predictor, scores
from .preparation import INFERENCE_WELL

SELECTION = "highest validation macro_f1 (ties: lowest validation penalty_score)"


def best_configuration(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The result with the highest validation macro-F1, ties broken by the lower penalty."""
    return max(results, key=lambda r: (r["validation"]["macro_f1"], -r["validation"]["penalty_score"]))


def run(client: provml.Client, ws: Workspace) -> dict[str, Any]:
    runs = read_json(ws.work / "metrics" / "learning.json")["runs"]
    results = [read_json(ws.work / "metrics" / f"{name}.json") for name in runs]
    best = best_configuration(results)
    prep = read_json(ws.work / "datasets" / "preparation.json")
    well = {w.well_id: w for w in read_wells()}[INFERENCE_WELL]
    model_path = ws.root / best["model"]["location"]
    input_path = ws.root / prep["sets"]["inference_input"]["location"]
    model = work_ref(provml.model, "model", ws, model_path)
    inputs = work_ref(provml.data, "inference_input", ws, input_path, domain=well.iri)
    say(f"  [inference] best model {best['name']} (validation macro-F1 {best['validation']['macro_f1']:.3f}) "
        f"predicts well {INFERENCE_WELL}")
    used = [model, inputs, provml.parameter("model_selection", SELECTION),
            provml.domain_ref("well", well.iri, val=well.well_id)]
    wf = client.workflow("force2020-inference", study=STUDY, persona=PERSONA, tags=["force2020", "inference"])
    with wf, wf.stage("predict", kind="inference", used=used) as stage:
        wf.spec(spec("inference"))
        with np.load(input_path) as f:
            x, y, depth = f["x"], f["y"], f["depth"]
        predicted = load_predictor(model_path, best)(x)
        liths = read_lithologies()
        out = ws.path("predictions", f"{well.slug}.csv")
        with open(out, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["DEPTH_MD", "predicted_code", "predicted_lithology"])
            for d, p in zip(depth, predicted, strict=True):
                writer.writerow([f"{d:.3f}", liths[p].code, liths[p].name])
        prediction = work_ref(provml.prediction, "predictions", ws, out, domain=well.iri,
                              media_type="text/csv", characteristics={"samples": int(len(predicted))})
        stage.generated(prediction)
    measures = scores(y, predicted)
    summary = {"run": wf.run_id, "model_config": best["name"], "model": best["model"], "well": well.well_id,
               "input": inputs["data"], "prediction": prediction["data"], "samples": int(len(predicted)),
               "held_out_scores": measures}
    write_json(ws.path("predictions", "inference.json"), summary)
    say(f"      {len(predicted)} predictions written to {ws.location(out)} "
        f"(held-out accuracy {measures['accuracy']:.3f}, penalty {measures['penalty_score']:.3f})")
    return summary
