"""Spools: append, read back, replay into a real store idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest

from provml.capture.spool import SpoolWriter, read_events, replay, spool_files
from provml.knowledge import open_kg

EVENTS = [
    '{"v":1,"kind":"workflow_begin","t":1.0,"run":"r1","workflow":"wf"}',
    '{"v":1,"kind":"workflow_end","t":2.0,"run":"r1","workflow":"wf","status":"finished"}',
]


def test_append_read_and_files(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path / "a" / "s.jsonl", fsync_interval_s=0) as writer:
        writer.append(EVENTS[:1])
        writer.append(EVENTS[1:])
    (tmp_path / "a" / "rejected-x.jsonl").write_text("{}\n")
    assert spool_files(tmp_path) == [tmp_path / "a" / "s.jsonl"]
    assert [e["kind"] for e in read_events(tmp_path / "a" / "s.jsonl")] == ["workflow_begin", "workflow_end"]


def test_a_bad_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(EVENTS[0] + "\nnot json\n" + EVENTS[1] + "\n")
    with pytest.raises(ValueError, match=r"s.jsonl:2"):
        list(read_events(path))


def test_replaying_twice_stores_nothing_twice(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path / "s.jsonl") as writer:
        writer.append(EVENTS)
    kg = open_kg(tmp_path / "store")
    try:
        assert replay(tmp_path / "s.jsonl", kg.ingest_events) == 2
        size = len(kg.store)
        assert replay(tmp_path, kg.ingest_events, bag_size=1) == 2
        assert len(kg.store) == size
    finally:
        kg.close()


def test_a_compact_bag_line_reads_back_as_events(tmp_path: Path) -> None:
    """What the capture client writes: one line per bag, event objects and compact cycle
    records ``[is_begin, t, fields, values]`` (provml.capture.encoding)."""
    fields = '["r1","wf","t/epoch-0","epoch",0,"t","t","training"]'
    loss = '[{"name":"loss","role":"evaluation","value":0.5}]'
    path = tmp_path / "s.jsonl"
    path.write_text(f"[{EVENTS[0]},[true,1.5,{fields},[]],[false,1.7,{fields},{loss}]]\n{EVENTS[1]}\n")
    events = list(read_events(path))
    assert [e["kind"] for e in events] == ["workflow_begin", "cycle_begin", "cycle_end", "workflow_end"]
    assert events[1] == {"v": 1, "kind": "cycle_begin", "t": 1.5, "run": "r1", "workflow": "wf",
                         "task": "t/epoch-0", "name": "epoch", "iteration": 0, "parent": "t",
                         "stage": "t", "stage_type": "training"}
    assert events[2]["status"] == "finished"
    assert events[2]["generated"] == [{"name": "loss", "role": "evaluation", "value": 0.5}]


def test_a_malformed_bag_line_is_an_error_or_handed_to_on_error(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(f"[{EVENTS[0]},[true,1.5]]\n{EVENTS[1]}\n")
    with pytest.raises(ValueError, match=r"s.jsonl:1: not a bag of events: element 1"):
        list(read_events(path))
    seen: list[int] = []
    events = list(read_events(path, on_error=lambda number, line, problem: seen.append(number)))
    assert seen == [1]
    assert [e["kind"] for e in events] == ["workflow_end"]


def test_a_failed_fsync_leaves_the_lines_to_be_written_once(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """fsync raising after a good write (a disk that fails to flush) kept the lines in the file
    and the caller wrote them again: 202 duplicates (a review, twenty-first session). The lines
    are cut off with the failure; the retry writes them once. (fsync's failure is simulated:
    this machine's disks do not fail on demand.)"""
    import os

    import provml.capture.spool as spool

    path = tmp_path / "s.jsonl"
    writer = SpoolWriter(path, fsync_interval_s=0)
    writer.append(['{"v": 1, "n": 0}'])
    failing = {"left": 1}
    real = os.fsync

    def fsync(fd: int) -> None:
        if failing["left"]:
            failing["left"] -= 1
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(spool.os, "fsync", fsync)
    with pytest.raises(OSError):
        writer.append(['{"v": 1, "n": 1}'])
    writer.append(['{"v": 1, "n": 1}'])  # the caller's retry
    writer.close()
    assert [e["n"] for e in read_events(path)] == [0, 1]
