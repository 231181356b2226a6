"""``POST /api/events`` of a second run under a stored run id (``provml.ingest.reruns``): 422
with the shapes' report, the store left as it was; the first run posted again as it was: 202.
Before, the second run was stored into the first (two start times on each execution). The real
endpoint over a loopback socket, an on-disk store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from endpoint_servers import AUTH, LiveServer

T0 = 1_767_225_600.0


def learning(run: str, later_s: float = 0.0) -> list[dict[str, Any]]:
    c = {"v": 1, "run": run, "workflow": "wf"}
    task = {**c, "task": "t", "name": "t"}
    t = T0 + later_s
    return [{**c, "kind": "workflow_begin", "t": t}, {**task, "kind": "task_begin", "t": t + 1},
            {**task, "kind": "task_end", "t": t + 2, "status": "finished"},
            {**c, "kind": "workflow_end", "t": t + 3, "status": "finished"}]


def test_the_endpoint_answers_422_to_the_second_run(make_live_server: Any, tmp_path: Path) -> None:
    live: LiveServer = make_live_server({"TIMEOUT_S": 20}, path=tmp_path / "kg")
    assert live("POST", "/api/events", json={"events": learning("http-twice")}, headers=AUTH).status_code == 202
    before = set(live.store.quads())
    refused = live("POST", "/api/events", json={"events": learning("http-twice", later_s=60)}, headers=AUTH)
    assert refused.status_code == 422, refused.text[:500]
    body = refused.json()
    assert body["ok"] is False
    assert any("more than one start time" in r["message"] for r in body["report"]["results"]), body
    assert set(live.store.quads()) == before
    again = live("POST", "/api/events", json={"events": learning("http-twice")}, headers=AUTH)
    assert again.status_code == 202 and set(live.store.quads()) == before
