"""The events a capture produces: kinds, order, fields (docs/events.md), errors, the decorator."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import provml
from provml.capture.spool import read_events
from provml.events import check


def events_of(client: provml.Client) -> list[dict[str, Any]]:
    client.close()
    assert client.spool_path is not None
    return list(read_events(client.spool_path))


@pytest.fixture
def client(tmp_path: Path) -> provml.Client:
    return provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)


def test_workflow_task_cycle_events_follow_the_wire_format(client: provml.Client, tmp_path: Path) -> None:
    model_file = tmp_path / "m.pt"
    model_file.write_bytes(b"weights")
    with client.workflow("wf", type="learning", study="s", persona=provml.persona("alice", name="Alice"),  # noqa: SIM117
                         used={"seed": 1}, tags=["t1"]) as wf:
        with wf.stage("train", used=[provml.hyperparameter("lr", 0.01)],
                      implementation=provml.implementation("MLP", software="torch", version="2")) as tr:
            with tr.cycle("epoch", 0) as ep:
                with ep.cycle("batch", 7) as bt:
                    bt.generated(provml.evaluation("loss", 0.5))
                ep.generated(provml.model("model", model_file, hash_file=True),
                             provml.evaluation("accuracy", 0.8, about="model"))
    events = events_of(client)
    check(events)  # the library's own schema check of the wire format
    kinds = [e["kind"] for e in events]
    assert kinds == ["workflow_begin", "task_begin", "cycle_begin", "cycle_begin", "cycle_end",
                     "cycle_end", "task_end", "workflow_end"]
    begin = events[0]
    assert begin["run"].startswith("wf-") and begin["type"] == "learning" and begin["study"] == "s"
    assert begin["persona"] == {"id": "alice", "name": "Alice"}
    assert begin["used"] == [{"name": "seed", "value": 1}]  # no role: a spec may give one
    assert begin["meta"]["pid"] > 0 and "python" in begin["meta"]
    assert {e["run"] for e in events} == {begin["run"]} and {e["workflow"] for e in events} == {"wf"}
    batch_begin, batch_end = events[3], events[4]
    assert batch_begin["task"] == "train/epoch-0/batch-7" and batch_begin["parent"] == "train/epoch-0"
    assert batch_begin["stage"] == "train" and batch_begin["stage_type"] == "training"
    for field in ("name", "iteration", "parent", "stage", "stage_type"):
        assert batch_end[field] == batch_begin[field]
    assert batch_end["status"] == "finished"
    assert batch_end["generated"] == [{"name": "loss", "role": "evaluation", "value": 0.5}]
    epoch_end = events[5]
    model = epoch_end["generated"][0]
    assert model["role"] == "model" and model["data"]["size"] == 7
    assert model["data"]["sha256"] == hashlib.sha256(b"weights").hexdigest()
    task_end = events[6]
    assert task_end["name"] == "train" and task_end["type"] == "training"
    assert events[1]["implementation"] == {"name": "MLP", "software": "torch", "version": "2"}
    assert all(e["v"] == 1 and isinstance(e["t"], float) for e in events)


def test_an_exception_ends_each_scope_errored_and_is_reraised(client: provml.Client) -> None:
    with pytest.raises(ZeroDivisionError), client.workflow("wf") as wf, wf.task("t") as t, \
            t.cycle("loop", 0):
        1 / 0  # noqa: B018
    events = events_of(client)
    ends = [e for e in events if e["kind"].endswith("_end")]
    assert [e["kind"] for e in ends] == ["cycle_end", "task_end", "workflow_end"]
    for end in ends:
        assert end["status"] == "errored"
        assert end["error"] == {"type": "ZeroDivisionError", "message": "division by zero"}


def test_task_ids_are_unique_in_a_run_and_nested_tasks_name_their_parent(client: provml.Client) -> None:
    with client.workflow("wf") as wf:
        for _ in range(2):
            with wf.task("prep"):
                pass
        with wf.task("outer") as outer, outer.task("inner"):
            pass
    begins = [e for e in events_of(client) if e["kind"] == "task_begin"]
    assert [e["task"] for e in begins] == ["prep", "prep-2", "outer", "inner"]
    assert "parent" not in begins[0] and begins[3]["parent"] == "outer"


def test_unknown_types_are_refused(client: provml.Client) -> None:
    with pytest.raises(ValueError, match="learning"):
        client.workflow("wf", type="ml")
    with client.workflow("wf") as wf, pytest.raises(ValueError, match="inference"):
        wf.task("t", type="train")


def test_track_records_arguments_and_result_inside_an_open_task(client: provml.Client) -> None:
    @client.track(used_names=["a", "b"])
    def add(a: int, b: int, scratch: object = None) -> int:
        return a + b

    with client.workflow("wf") as wf, wf.task("outer"):
        assert add(2, b=3, scratch=object()) == 5
    events = events_of(client)
    begin = next(e for e in events if e["kind"] == "task_begin" and e["name"] == "add")
    end = next(e for e in events if e["kind"] == "task_end" and e["name"] == "add")
    assert begin["parent"] == "outer"
    assert begin["used"] == [{"name": "a", "role": "value", "value": 2},
                             {"name": "b", "role": "value", "value": 3}]
    assert end["generated"] == [{"name": "result", "role": "value", "value": 5}]


def test_track_nests_in_the_innermost_open_cycle_and_leaves_it_when_it_ends(
        client: provml.Client) -> None:
    @client.track()
    def step(i: int) -> int:
        return i

    with client.workflow("wf") as wf, wf.stage("train") as tr:
        with tr.cycle("epoch", 0) as ep:
            with ep.cycle("batch", 1):
                step(1)
            step(2)
            with ep.cycle("batch", 2) as bt, bt.task("inner"):
                step(3)
        step(4)
    events = events_of(client)
    parents = [e.get("parent") for e in events if e["kind"] == "task_begin" and e["name"] == "step"]
    assert parents == ["train/epoch-0/batch-1", "train/epoch-0", "inner", "train"]


def test_track_outside_a_workflow_makes_a_workflow_of_its_own(client: provml.Client) -> None:
    @client.track("square", generated_name="y")
    def f(x: float) -> float:
        return x * x

    assert f(3.0) == 9.0
    events = events_of(client)
    assert [e["kind"] for e in events] == ["workflow_begin", "task_begin", "task_end", "workflow_end"]
    assert events[0]["workflow"] == "square"
    assert events[2]["generated"] == [{"name": "y", "role": "value", "value": 9.0}]


def test_values_helpers_match_the_documented_roles(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a,b\n")
    ds = provml.learning_dataset("train", f, hash_file=True, characteristics={"samples": 1},
                                 domain="https://w3id.org/provml/id/oil-gas/well/1")
    assert ds["role"] == "learning_dataset" and ds["data"]["size"] == 4
    assert ds["characteristics"] == {"samples": 1} and ds["domain"].endswith("well/1")
    assert provml.prediction("p", "out.csv", store="s3", store_type="OBJECT_STORE")["data"] == {
        "store": "s3", "location": "out.csv", "store_type": "OBJECT_STORE"}
    assert provml.model_hyperparameter("layers", 2, about="m")["about"] == "m"
    assert provml.feature_set("features", ["a", "b"])["value"] == ["a", "b"]
    assert provml.domain_ref("well", "https://x/w")["domain"] == "https://x/w"
    assert provml.learning_task("task", "classification")["role"] == "learning_task"
    assert provml.dataset_characteristic("rows", 3)["role"] == "dataset_characteristic"
    assert provml.parameter("k", 3)["role"] == "parameter"


def test_a_stage_can_run_inside_an_epoch(client: provml.Client) -> None:
    with client.workflow("wf", type="learning") as wf, wf.stage("train") as tr, \
            tr.cycle("epoch", 0) as ep, ep.stage("validate", kind="validation") as val, \
            val.cycle("batch", 0):
        pass
    begins = [e for e in events_of(client) if e["kind"].endswith("_begin")]
    validate = begins[3]
    assert validate["kind"] == "task_begin" and validate["parent"] == "train/epoch-0"
    assert validate["type"] == "validation"
    assert begins[4]["task"] == "validate/batch-0" and begins[4]["stage_type"] == "validation"


def test_a_name_value_mapping_among_the_values_is_its_values(client: provml.Client) -> None:
    """``{name: value}`` among value helpers (in ``used=`` and in ``.generated(...)``, of a task
    at the call and of a cycle on the flusher thread) is that mapping's values, each named: it
    went out as one value without a name, which ingest refused with the whole task."""
    with client.workflow("wf") as wf, \
            wf.task("t", used=[provml.hyperparameter("lr", 0.1), {"lr2": 0.5}]) as task:
        task.generated({"note": "done", "api_token": "ghp_" + "x" * 36})
        with task.cycle("step", 0) as step:
            step.generated(provml.evaluation("loss", 0.5), {"acc": 0.9})
    events = events_of(client)
    check(events)  # the wire format: every value named
    by_kind = {e["kind"]: e for e in events}
    assert by_kind["task_begin"]["used"] == [{"name": "lr", "role": "hyperparameter", "value": 0.1},
                                             {"name": "lr2", "value": 0.5}]
    assert by_kind["task_end"]["generated"] == [{"name": "note", "value": "done"},
                                                {"name": "api_token", "value": "[redacted]"}]
    assert by_kind["cycle_end"]["generated"] == [{"name": "loss", "role": "evaluation", "value": 0.5},
                                                 {"name": "acc", "value": 0.9}]



def test_a_value_that_lacks_only_its_name_is_not_taken_for_a_mapping() -> None:
    """Only a mapping with none of a value's keys is ``{name: value}``: a value whose name is
    missing stays one value (the event check refuses it, naming the field), an empty mapping
    stays, and ingest's redaction of an unchecked event (a dead letter) keeps working."""
    from provml.capture.redact import redact_event
    from provml.capture.values import to_values

    lacking = {"value": 0.9, "role": "evaluation"}
    assert to_values([lacking, {}]) == [lacking, {}]
    assert to_values([{"lr": 0.1, "bs": 2}]) == [{"name": "lr", "value": 0.1}, {"name": "bs", "value": 2}]
    event = {"kind": "task_begin", "used": [{"name": "a", "value": 1}, {"lr": 0.1, "bs": 2}]}
    assert redact_event(event)["used"] == [{"name": "a", "value": 1}, {"name": "lr", "value": 0.1},
                                           {"name": "bs", "value": 2}]
