"""provml: workflow provenance for scientific machine learning, as a PROV-ML knowledge graph.

The front door. Importing it stays light: no Flask, pyshacl, owlready2 or ML framework. The
capture API (``Client``, scopes, value helpers) is imported at once; the heavier names below are
imported on first use (PEP 562), so ``provml.open_kg`` works without loading the ingest pipeline
into every training script.

>>> import provml
>>> kg = provml.open_kg()
>>> type(kg).__name__
'KnowledgeGraph'
>>> kg.close()
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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
    "KnowledgeGraph",
    "Store",
    "get_query",
    "list_queries",
    "open_kg",
    "open_store",
    "run_query",
    "validate_files",
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

#: name -> module, imported on first access (heavier than the capture API)
_LAZY = {
    "KnowledgeGraph": "provml.knowledge",
    "open_kg": "provml.knowledge",
    "Store": "provml.store",
    "open_store": "provml.store",
    "get_query": "provml.query.named",
    "list_queries": "provml.query.named",
    "run_query": "provml.query.named",
    "validate_files": "provml.ingest.validation",
}

if TYPE_CHECKING:
    from provml.ingest.validation import validate_files
    from provml.knowledge import KnowledgeGraph, open_kg
    from provml.query.named import get_query, list_queries, run_query
    from provml.store import Store, open_store


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'provml' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
