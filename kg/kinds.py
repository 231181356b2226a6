"""The kinds provml knows — workflow types, task types, value roles — and the PROV-ML class each becomes.

The one list of each: the capture client checks a task's ``type`` against :data:`TASK_TYPES`, the
spec parser checks types and roles, and the translation writes the classes named here. The events
schema (``events/schemas/events-v1.json``) lists the same names, and ``tests/test_kinds.py`` checks
the two agree and that every class named here is declared in ``ontology/provml.ttl``.

Standard library only (the capture client imports it inside training scripts): classes are the
local names of terms of the PROV-ML namespace; :func:`task_classes` and :func:`role_classes` give
them as ``NamedNode`` terms for the ingest side.

>>> "training" in TASK_TYPES, "hyperparameter" in ROLES
(True, True)
>>> [c.value for c in role_classes("hyperparameter")]
['https://w3id.org/provml#LearningHyperparameter', 'https://w3id.org/provml#LearningHyperparameterValue']
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyoxigraph import NamedNode

__all__ = [
    "DATA_ROLES",
    "LEARNING_STAGES",
    "ROLES",
    "TASK_TYPES",
    "WORKFLOW_TYPES",
    "role_classes",
    "task_classes",
    "workflow_classes",
]

#: workflow type -> (plan class, execution class)
WORKFLOW_TYPES: dict[str, tuple[str, str]] = {
    "generic": ("Workflow", "WorkflowExecution"),
    "learning": ("LearningExperiment", "LearningProcessExecution"),
}

#: task type (a stage's ``kind``) -> (plan class, execution class, section execution class)
TASK_TYPES: dict[str, tuple[str, str, str]] = {
    "generic": ("DataTransformation", "DataTransformationExecution", "DataTransformationExecution"),
    "training": ("Training", "TrainingExecution", "TrainingSectionExecution"),
    "validation": ("Validation", "ValidationExecution", "ValidationSectionExecution"),
    "evaluation": ("Evaluation", "EvaluationExecution", "EvaluationSectionExecution"),
    "feature_extraction": (
        "FeatureExtraction", "FeatureExtractionExecution", "FeatureExtractionExecution"
    ),
    "inference": ("Inference", "InferenceExecution", "InferenceExecution"),
    "deployment": ("Deployment", "DeploymentExecution", "DeploymentExecution"),
}

#: the task types whose cycles are sections of a learning stage (``LearningStageSection`` plans)
LEARNING_STAGES = frozenset({"training", "validation", "evaluation"})

#: value role -> (prospective class, retrospective class)
ROLES: dict[str, tuple[str, str]] = {
    "value": ("Attribute", "AttributeValue"),
    "parameter": ("Attribute", "AttributeValue"),
    "data": ("Attribute", "DataReference"),
    "hyperparameter": ("LearningHyperparameter", "LearningHyperparameterValue"),
    "model_hyperparameter": ("ModelHyperparameter", "ModelHyperparameterValue"),
    "evaluation": ("EvaluationMeasure", "ModelEvaluation"),
    "learning_task": ("LearningTask", "LearningTaskValue"),
    "learning_dataset": ("LearningDataSetReference", "LearningDataset"),
    "dataset_characteristic": ("DatasetCharacteristic", "DatasetCharacteristicValue"),
    "feature_set": ("FeatureSet", "FeatureSetData"),
    "model": ("ModelProspection", "Model"),
    "prediction": ("Attribute", "Prediction"),
}

#: roles whose values are data (also typed ``DataReference`` when given without a data record)
DATA_ROLES = frozenset({"data", "learning_dataset", "model", "prediction"})


@cache
def workflow_classes(type: str) -> tuple[NamedNode, NamedNode]:
    """(plan, execution) classes of a workflow ``type``; ``KeyError`` for an unknown type."""
    from provml.vocab import PROVML

    plan, execution = WORKFLOW_TYPES[type]
    return PROVML.term(plan), PROVML.term(execution)


@cache
def task_classes(type: str) -> tuple[NamedNode, NamedNode, NamedNode]:
    """(plan, execution, section execution) classes of a task ``type``; ``KeyError`` if unknown."""
    from provml.vocab import PROVML

    plan, execution, section = TASK_TYPES[type]
    return PROVML.term(plan), PROVML.term(execution), PROVML.term(section)


@cache
def role_classes(role: str) -> tuple[NamedNode, NamedNode]:
    """(prospective, retrospective) classes of a value ``role``; ``KeyError`` if unknown."""
    from provml.vocab import PROVML

    prospective, retrospective = ROLES[role]
    return PROVML.term(prospective), PROVML.term(retrospective)
