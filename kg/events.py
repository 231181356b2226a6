"""The capture-event wire format: its JSON Schema and the check every batch goes through.

>>> check([{"v": 1, "kind": "workflow_begin", "t": 1.0, "run": "r1", "workflow": "wf"}])
>>> check([{"v": 1, "kind": "task_begin", "t": 1.0, "run": "r1", "workflow": "wf"}])
Traceback (most recent call last):
...
provml.errors.EventError: event 0 (task_begin): field '(event)': must contain ['name', 'task'] properties
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from provml.errors import EventError

__all__ = ["SCHEMA_VERSION", "schema", "check", "read_jsonl"]

SCHEMA_VERSION = 1


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of version 1 events (``provml/schemas/events-v1.json``)."""
    text = files("provml").joinpath("schemas/events-v1.json").read_text(encoding="utf-8")
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


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Events of a JSON-lines spool as ``(line number, event)`` pairs; blank lines skipped.

    :raises EventError: for a line that is not a JSON object (naming the file and line).
    """
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EventError(
                    f"{path}:{lineno}: not JSON ({exc.msg} at column {exc.colno}); "
                    "a spool holds one JSON event per line",
                    index=lineno,
                    kind="?",
                    field="(line)",
                    rule=exc.msg,
                ) from None
            yield lineno, event
