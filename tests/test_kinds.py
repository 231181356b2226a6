"""The one list of workflow types, task types and roles (provml.kinds) agrees with the wire schema,
the capture client and the ontology."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from provml.kinds import (
    ROLES,
    TASK_TYPES,
    WORKFLOW_TYPES,
    role_classes,
    task_classes,
    workflow_classes,
)
from provml.vocab import PROVML


def _schema() -> dict[str, object]:
    return json.loads(files("provml.events").joinpath("schemas/events-v1.json").read_text())  # type: ignore[no-any-return]


def test_schema_lists_the_same_types() -> None:
    props = _schema()["properties"]
    assert isinstance(props, dict)
    assert props["stage_type"]["enum"] == list(TASK_TYPES)
    assert set(props["type"]["enum"]) == set(TASK_TYPES) | set(WORKFLOW_TYPES)


def test_every_class_named_is_a_provml_term() -> None:
    names = {n for v in (*TASK_TYPES.values(), *ROLES.values(), *WORKFLOW_TYPES.values()) for n in v}
    assert names - set(PROVML.TERMS) == set()
    assert task_classes("training")[1] == PROVML.TrainingExecution
    assert role_classes("model") == (PROVML.ModelProspection, PROVML.Model)
    assert workflow_classes("learning") == (PROVML.LearningExperiment, PROVML.LearningProcessExecution)


def test_capture_refuses_a_type_not_in_the_list(tmp_path: object) -> None:
    import provml

    with provml.Client(spool_dir=str(tmp_path)) as client:
        with pytest.raises(ValueError, match="not one of generic, learning"):
            client.workflow("w", type="nope")
        with client.workflow("w") as wf, pytest.raises(ValueError, match="feature_extraction"):
            wf.task("t", type="nope")
