"""``POST /api/events`` refuses a batch holding a text past ``provml.events.MAX_WRITTEN`` as it
refuses any event the format refuses: 422 naming the event, the field, the size and the bound,
nothing of the batch stored (the capture client then splits the bag, and the other events are
stored). Before, the 17 MiB value was stored (202), and no export of the store read back."""

from __future__ import annotations

from typing import Any

from endpoint_servers import AUTH
from flask.testing import FlaskClient

from provml.knowledge import KnowledgeGraph

LONG = 17 << 20


def events(value: Any) -> list[dict[str, Any]]:
    c = {"v": 1, "run": "long-1", "workflow": "wf"}
    task = {**c, "task": "t", "name": "t"}
    return [{**c, "kind": "workflow_begin", "t": 1.0},
            {**task, "kind": "task_begin", "t": 2.0},
            {**task, "kind": "task_end", "t": 3.0, "status": "finished",
             "generated": [{"name": "report", "value": value}]},
            {**c, "kind": "workflow_end", "t": 4.0, "status": "finished"}]


def test_a_value_past_the_bound_is_422_naming_it_and_nothing_is_stored(client: FlaskClient,
                                                                        kg: KnowledgeGraph) -> None:
    before = set(kg.store.quads())
    response = client.post("/api/events", json={"events": events("x" * LONG)}, headers=AUTH)
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["ok"] is False and body["event"] == 2 and body["kind"] == "task_end"
    assert body["field"] == "generated/0/value"
    assert f"{LONG:,}" in body["rule"] and "7,340,032" in body["rule"] and "data reference" in body["rule"]
    assert (body["size"], body["limit"]) == (LONG, 7 << 20)  # (the docs say the 422 gives them: a review)
    assert set(kg.store.quads()) == before
    # the same batch with a value within the bound is stored
    assert client.post("/api/events", json={"events": events("x" * 1000)}, headers=AUTH).status_code == 202
