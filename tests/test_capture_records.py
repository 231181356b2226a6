"""A batch entered with ``with`` is queued as one record holding its begin and end (issue 14,
fourth session): readers see both events, in order, with their own times; a parent's begin
precedes its children; ``flush()`` and ``close()`` inside a batch write its begin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import provml
from provml.capture.encoding import expand, split_items
from provml.capture.spool import read_events
from provml.events import check
from provml.knowledge import open_kg
from provml.vocab import PROV

FIELDS = ["r1", "wf", "epoch", 0, "t", "t", "training"]  # the id, t/epoch-0, is made by readers


def spool_client(tmp_path: Path, **options: Any) -> provml.Client:
    return provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False,
                         **options)


def spooled(client: provml.Client) -> list[dict[str, Any]]:
    assert client.spool_path is not None
    return list(read_events(client.spool_path))


def test_a_batch_is_one_record_and_reads_back_as_its_two_events_in_order(tmp_path: Path) -> None:
    client = spool_client(tmp_path)
    with client.workflow("wf", meta=False) as wf, wf.stage("train") as tr:
        for e in range(2):
            with tr.cycle("epoch", e) as ep:
                for b in range(3):
                    with ep.cycle("batch", b) as bt:
                        bt.generated(provml.evaluation("loss", 0.5 + b))
                ep.generated(provml.evaluation("loss", 0.1))
    client.close()
    assert client.spool_path is not None
    records = [item for line in client.spool_path.read_text().splitlines()
               for item in json.loads(line) if isinstance(item, list)]
    batches = [r for r in records if r[2][2] == "batch"]
    assert len(batches) == 6 and all(len(r) == 5 for r in batches)  # one record a batch
    assert all(len(r) == 4 for r in records if r[2][2] == "epoch")  # an epoch: begin, end
    assert all(len(r[2]) == 7 for r in records)  # no id: readers make it
    events = spooled(client)
    check(events)  # the wire format's schema
    kinds = [(e["kind"], e.get("task")) for e in events]
    assert kinds[:5] == [("workflow_begin", None), ("task_begin", "train"),
                         ("cycle_begin", "train/epoch-0"), ("cycle_begin", "train/epoch-0/batch-0"),
                         ("cycle_end", "train/epoch-0/batch-0")]
    assert kinds.index(("cycle_end", "train/epoch-0")) > kinds.index(
        ("cycle_end", "train/epoch-0/batch-2"))
    times = [e["t"] for e in events]
    assert times == sorted(times)  # each event keeps its own time
    end = next(e for e in events if e.get("task") == "train/epoch-1/batch-2" and e["kind"] == "cycle_end")
    assert end["generated"] == [{"name": "loss", "role": "evaluation", "value": 2.5}]
    assert len(events) == 2 * (2 + 2 * (1 + 3))
    stats = client.stats()
    assert stats.processed == stats.spooled == len(events)  # events, not records


def test_flush_and_close_inside_a_batch_write_its_begin(tmp_path: Path) -> None:
    client = spool_client(tmp_path)
    with client.workflow("wf", meta=False) as wf, wf.stage("train") as tr, \
            tr.cycle("epoch", 0) as ep:
        with ep.cycle("batch", 0) as bt:
            assert client.flush(timeout_s=10)
            assert [e["kind"] for e in spooled(client)][-2:] == ["cycle_begin", "cycle_begin"]
            bt.generated(provml.evaluation("loss", 0.5))
        batch = [e["kind"] for e in spooled(client) if e.get("task") == bt.id]
        assert batch == ["cycle_begin"]  # the end waits in the queue; the begin is not repeated
    client.close()
    batch = [e["kind"] for e in spooled(client) if e.get("task") == "train/epoch-0/batch-0"]
    assert batch == ["cycle_begin", "cycle_end"]
    late = spool_client(tmp_path / "late")
    wf = late.workflow("wf", meta=False).begin()
    tr = wf.stage("train").begin()
    tr.cycle("epoch", 0).__enter__()  # left open, as at interpreter exit
    late.close()
    assert [e["kind"] for e in spooled(late)][-1] == "cycle_begin"


def test_a_task_in_a_batch_follows_the_batchs_begin(tmp_path: Path) -> None:
    client = spool_client(tmp_path)

    @client.track()
    def augment(x: int) -> int:
        return x + 1

    with client.workflow("wf", meta=False) as wf, wf.stage("train") as tr, \
            tr.cycle("batch", 0):
        augment(1)
    client.close()
    kinds = [(e["kind"], e.get("task")) for e in spooled(client)]
    assert kinds[2:6] == [("cycle_begin", "train/batch-0"), ("task_begin", "augment"),
                          ("task_end", "augment"), ("cycle_end", "train/batch-0")]


def test_a_store_sink_gets_both_events_of_a_batch(tmp_path: Path) -> None:
    """A sink that takes events one by one (not the compact form) gets the record split."""
    client = provml.Client(store=tmp_path / "store", install_signal_handler=False, bag_size=4)
    with client.workflow("wf", meta=False) as wf, wf.stage("train") as tr:
        for b in range(5):
            with tr.cycle("batch", b) as bt:
                bt.generated(provml.evaluation("loss", 0.5))
    client.close()
    assert client.stats().sent == 2 * (2 + 5)
    kg = open_kg(tmp_path / "store")
    try:
        rows = kg.query(f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e {PROV.startedAtTime} ?s ; "
                        f"{PROV.endedAtTime} ?t }}")
        assert int(next(iter(rows))["n"].value) == 1 + 1 + 5
    finally:
        kg.close()


def test_expand_reads_one_record_cycles_and_refuses_malformed_ones() -> None:
    begin, end = expand([[1.5, 1.75, FIELDS, [], [{"name": "loss", "value": 0.5}]]])
    assert (begin["kind"], begin["t"], end["kind"], end["t"]) == ("cycle_begin", 1.5, "cycle_end", 1.75)
    assert begin["task"] == end["task"] == "t/epoch-0"
    assert end["generated"] == [{"name": "loss", "value": 0.5}] and "used" not in begin
    # records written with the id among their fields (before) read the same
    legacy = [*FIELDS[:2], "t/epoch-0", *FIELDS[2:]]
    assert expand([[True, 1.5, legacy, []]]) == expand([[True, 1.5, FIELDS, []]])
    (odd,) = expand([[True, 1.5, ["r1", "wf", "val epoch/é", 2, "t", "t", "training"], []]])
    assert (odd["task"], odd["name"]) == ("t/val-epoch--2", "val epoch/é")  # id_part: "val-epoch-"
    for bad in ([True, 1.5, FIELDS, [], []], [1.5, False, FIELDS, [], []],
                [1.5, 1.7, FIELDS[:3], [], []], [1.5, 1.7, FIELDS, [], 3],
                [True, 1.5, ["r1", "wf", 7, 0, "t", "t", "training"], []]):
        with pytest.raises(ValueError, match="element 0 is neither"):
            expand([bad])


def test_split_items_gives_the_two_records_of_a_one_record_cycle() -> None:
    key = tuple(FIELDS)
    event = {"v": 1, "kind": "spec"}
    assert split_items([event, (1.5, 1.7, key, (), ("g",))]) == [
        event, (True, 1.5, key, ()), (False, 1.7, key, ("g",))]
