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
