"""The UI tests' store: the paper's use case (``paper_fixture``) plus a tiny inference workflow
that uses the last model of ``train-a`` and generates a prediction, so that the lineage runs from
a prediction back to the raw seismic file ``netherlands.sgy``.
"""

from __future__ import annotations

from typing import Any

from paper_fixture import DOMAIN_TTL, RAW_SHA, T0, all_events, data, model_location
from pyoxigraph import RdfFormat

from provml.knowledge import KnowledgeGraph
from provml.store import open_store

BASE = "https://w3id.org/provml/id/"
PREDICTION_SHA = "6" * 64
PREDICTION = f"{BASE}data/sha256-{PREDICTION_SHA}"
RAW = f"{BASE}data/sha256-{RAW_SHA}"
RUN_A, RUN_B = f"{BASE}run/train-a", f"{BASE}run/train-b"


def model_sha(run: str, iteration: int) -> str:
    """The fixture's fake hash of a model file (as ``paper_fixture.training_events`` makes it)."""
    return f"{run}{iteration}".encode().hex().ljust(64, "0")[:64]


def inference_events() -> list[dict[str, Any]]:
    """``seismic-inference`` run ``infer-1``: task ``predict`` (type inference) uses train-a's
    model of epoch 188 and generates ``predictions/f3-facies.npy``."""
    wf, run, t = "seismic-inference", "infer-1", T0 + 9000
    model = data("model", "model", model_location("train-a", 188), model_sha("train-a", 188))
    prediction = data("facies", "prediction", "predictions/f3-facies.npy", PREDICTION_SHA)

    def event(kind: str, dt: float, **fields: Any) -> dict[str, Any]:
        return {"v": 1, "kind": kind, "t": t + dt, "run": run, "workflow": wf, **fields}

    return [
        event("workflow_begin", 0, study="seismic-stratigraphy"),
        event("task_begin", 1, task="predict", name="predict", type="inference", used=[model]),
        event("task_end", 3, task="predict", name="predict", type="inference", status="finished",
              generated=[prediction]),
        event("workflow_end", 4, status="finished"),
    ]


def build_kg() -> KnowledgeGraph:
    """An in-memory knowledge graph holding the paper's case, the inference run and the domain
    triples."""
    kg = KnowledgeGraph(open_store())
    kg.ingest_events(all_events() + inference_events())
    kg.ingest_rdf(DOMAIN_TTL.encode(), format=RdfFormat.TURTLE)
    return kg
