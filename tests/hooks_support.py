"""Shared by the framework-hook tests: capture offline, then load the spool into a real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import provml
from provml.capture.spool import read_events, replay
from provml.knowledge import open_kg
from provml.vocab import PROV, PROVML


def offline_client(tmp_path: Path) -> provml.Client:
    return provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)


def events_and_store(client: provml.Client) -> tuple[list[dict[str, Any]], Any]:
    """Close the client, return its events and an in-memory knowledge graph holding them
    (loading validates them against the shapes)."""
    client.close()
    assert client.spool_path is not None
    events = list(read_events(client.spool_path))
    kg = open_kg()
    replay(client.spool_path, kg.ingest_events)
    return events, kg


def count(kg: Any, where: str) -> int:
    rows = list(kg.query(f"PREFIX prov: <{PROV.NS}> PREFIX provml: <{PROVML.NS}> "
                         f"SELECT (COUNT(DISTINCT ?x) AS ?n) WHERE {{ {where} }}"))
    return int(rows[0]["n"].value)
