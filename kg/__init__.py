"""provml: workflow provenance for scientific machine learning, as a PROV-ML knowledge graph.

The front door. Importing it stays light: no Flask, pyshacl, owlready2 or ML framework.
"""

from __future__ import annotations

from provml._version import __version__
from provml.capture.client import Client
from provml.capture.scopes import Cycle, Task, Workflow
from provml.capture.values import (
    data,
    dataset_characteristic,
    domain_ref,
    evaluation,
    feature_set,
    hyperparameter,
    implementation,
    learning_dataset,
    learning_task,
    model,
    model_hyperparameter,
    parameter,
    persona,
    prediction,
    value,
)

__all__ = [
    "__version__",
    "Client",
    "Cycle",
    "Task",
    "Workflow",
    "data",
    "dataset_characteristic",
    "domain_ref",
    "evaluation",
    "feature_set",
    "hyperparameter",
    "implementation",
    "learning_dataset",
    "learning_task",
    "model",
    "model_hyperparameter",
    "parameter",
    "persona",
    "prediction",
    "value",
]
