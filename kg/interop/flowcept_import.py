"""``provml import flowcept``: Flowcept's JSON-lines buffer (its offline dump of messages) into
PROV-ML, as capture events that go through the normal ingest pipeline.

Flowcept messages are task records (``"type": "task"``: ``task_id``, ``workflow_id``,
``campaign_id``, ``activity_id``, ``used`` / ``generated`` dictionaries, ``started_at`` /
``ended_at`` Unix times, ``status``, ``parent_task_id``, ``hostname``, ``login_name`` ...) and
workflow records (``"type": "workflow"``: ``workflow_id``, ``name``, ``campaign_id``, ``user``,
``used``, ``generated``). Each workflow becomes one run (``flowcept-<workflow id>``), one batch:

- the workflow is a ``provml:Workflow`` named by its ``name`` (else the tasks' ``workflow_name``),
  the campaign its study, the user its persona, the first task's host its hostname; its
  ``started_at`` / ``ended_at`` / ``status`` (Flowcept writes the record twice: running, then
  finished; the two are merged) time and end the run, else its tasks do;
- each task is a task execution named by its ``activity_id``, nested under its
  ``parent_task_id``; ``used`` and ``generated`` entries become attribute values (scalars typed,
  lists and objects as ``rdf:JSON``); ``FINISHED`` ends it finished, ``ERROR`` errored (with
  ``stderr`` as the message), other statuses leave it running.

Lost: telemetry, ``custom_metadata``, IP addresses, ``dependencies`` (Flowcept's explicit task
graph; the data links remain through shared values only when they are files), messages of other
types.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from provml.capture.redact import NAME_MAX, redact_cut
from provml.interop.prov_import import ImportReport

__all__ = ["flowcept_events", "import_flowcept", "read_buffer"]

_STATUS = {"FINISHED": "finished", "ERROR": "errored"}


def _ident(text: Any) -> str:
    """A wire-format id (``[A-Za-z0-9._~-]``) for a Flowcept id."""
    return re.sub(r"[^A-Za-z0-9._~-]", "-", str(text))[:200] or "x"


def read_buffer(path: str | Path) -> list[dict[str, Any]]:
    """The messages of a Flowcept buffer file (JSON lines; a JSON array is accepted too).

    :raises ValueError: a line that is not a JSON object, naming the file and line.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            messages = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise ValueError(f"{path}: not a JSON array of Flowcept messages ({type(error).__name__}: {error})") from None
        if not isinstance(messages, list):
            raise ValueError(f"{path}: not a list of Flowcept messages")
        for number, message in enumerate(messages, 1):  # (they were dropped, and nothing stored with exit 0)
            if not isinstance(message, dict):
                raise ValueError(f"{path}: item {number} of the array is not a JSON object (a Flowcept message)")
        return messages
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except (ValueError, RecursionError) as error:
            raise ValueError(f"{path}:{number}: not a JSON object ({error})") from error
        if not isinstance(message, dict):
            raise ValueError(f"{path}:{number}: not a JSON object")
        out.append(message)
    return out


def _values(record: dict[str, Any], key: str, report: ImportReport) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = []
    found = record.get(key) or {}
    if not isinstance(found, dict):  # (a list or a number here was a traceback: a probe, 26th session)
        report.lost[f"{key} that is not an object of name: value"] += 1
        return values
    for name, value in sorted(found.items()):
        if value is None:
            report.lost[f"{key} entries without a value"] += 1
            continue
        values.append({"name": redact_cut(str(name), NAME_MAX), "value": value})
    report.mapped["AttributeValue"] += len(values)
    return values


#: the keys of a record that hold times
_TIMES = ("started_at", "submitted_at", "utc_timestamp", "ended_at")


def _time(value: Any) -> float | None:
    """A Flowcept time as Unix seconds: a number (or a string that spells one) as it is, a string
    in ISO 8601 (without a zone: UTC) as the time it names; ``None`` for anything else (a
    boolean, a number past a float's range, a time no calendar holds).

    >>> _time(1700000000), _time("2023-11-14T22:13:20Z"), _time("2023-11-14 22:13:20"), _time("1700000000.5")
    (1700000000.0, 1700000000.0, 1700000000.0, 1700000000.5)
    >>> _time("20231114") == _time("2023-11-14T00:00:00Z")
    True
    >>> _time("yesterday"), _time(True), _time(float("nan")), _time(10**400), _time(1e300)
    (None, None, None, None, None)
    """
    import math
    from datetime import UTC, datetime

    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:  # ISO 8601 first: "20231114" is a date, not 20 million seconds (a review)
                moment = datetime.fromisoformat(value.strip())
                number = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
            except ValueError:
                number = float(value)
        else:
            return None
        if not math.isfinite(number):
            return None
        datetime.fromtimestamp(number, tz=UTC)  # (a time past year 9999 cannot be written)
    except (ValueError, OverflowError, OSError):
        return None
    return number


def _start(task: dict[str, Any]) -> float | None:
    for key in ("started_at", "submitted_at", "utc_timestamp"):
        if (found := _time(task.get(key))) is not None:
            return found
    return None


def _unread_times(record: dict[str, Any], report: ImportReport) -> None:
    """Count the times of ``record`` that are neither numbers nor ISO 8601 (a string was
    silently passed over, and a workflow with no other time began in 1970: a probe, 26th
    session)."""
    for key in _TIMES:
        if record.get(key) is not None and _time(record[key]) is None:
            report.lost[f"{key} that is neither a Unix time nor an ISO 8601 time"] += 1


def flowcept_events(workflow_id: str, workflow: dict[str, Any] | None,
                    tasks: list[dict[str, Any]], report: ImportReport) -> list[dict[str, Any]]:
    """The capture events of one Flowcept workflow."""
    name = (workflow or {}).get("name") or next(
        (t["workflow_name"] for t in tasks if t.get("workflow_name")), None) or "flowcept-workflow"
    run = _ident(f"flowcept-{workflow_id}")
    for record in (workflow or {}, *tasks):
        _unread_times(record, report)
    starts = [s for s in (_start(t) for t in tasks) if s is not None]
    wf_times = [t for t in (_time((workflow or {}).get(key)) for key in ("started_at", "utc_timestamp"))
                if t is not None]
    if not starts and not wf_times:
        report.notes["workflows with no start time: begun at 1970-01-01T00:00:00Z"] += 1
    t0 = min([*starts, *wf_times], default=0.0)

    def event(kind: str, t: float, **fields: Any) -> dict[str, Any]:
        return {"v": 1, "kind": kind, "t": t, "run": run, "workflow": redact_cut(str(name), NAME_MAX), **fields}

    begin: dict[str, Any] = {}
    campaign = (workflow or {}).get("campaign_id") or next(
        (t["campaign_id"] for t in tasks if t.get("campaign_id")), None)
    if campaign:
        begin["study"] = redact_cut(str(campaign), NAME_MAX)
    user = (workflow or {}).get("user") or next(
        (t.get("login_name") or t.get("user") for t in tasks if t.get("login_name") or t.get("user")), None)
    if user:
        begin["persona"] = {"id": _ident(user)}
    host = next((t["hostname"] for t in tasks if t.get("hostname")), None)
    if host:
        begin["meta"] = {"hostname": str(host)}
    used = _values(workflow or {}, "used", report)
    if used:
        begin["used"] = used
    events = [event("workflow_begin", t0, **begin)]
    known = {str(t["task_id"]) for t in tasks}
    ids = {str(t["task_id"]): _ident(t["task_id"]) for t in tasks}
    ends: list[float] = []
    statuses: list[str | None] = []
    ordered = sorted(tasks, key=lambda t: (_start(t) or t0, str(t["task_id"])))
    for task in ordered:
        ident = ids[str(task["task_id"])]
        fields: dict[str, Any] = {"task": ident, "name": redact_cut(str(task.get("activity_id") or "task"), NAME_MAX),
                                  "type": "generic"}
        parent = task.get("parent_task_id")
        if parent is not None and str(parent) in known and str(parent) != str(task["task_id"]):
            fields["parent"] = ids[str(parent)]
        start = _start(task) or t0
        task_used = _values(task, "used", report)
        events.append(event("task_begin", start, **fields, **({"used": task_used} if task_used else {})))
        status = _STATUS.get(str(task.get("status") or "").upper())
        statuses.append(status)
        report.mapped["DataTransformationExecution"] += 1
        for dropped in ("telemetry_at_start", "telemetry_at_end", "custom_metadata", "dependencies",
                        "public_ip", "private_ip"):
            if task.get(dropped):
                report.lost[dropped] += 1
        if status is None:
            report.notes[f"tasks {task.get('status') or 'without status'} (no end recorded)"] += 1
            continue
        end = _time(task.get("ended_at"))
        end = start if end is None else end
        end = max(end, start)
        ends.append(end)
        generated = _values(task, "generated", report)
        # redacted, then cut (ingest redacts again, but text cut first can end inside a secret)
        message = redact_cut(str(task.get("stderr") or "the task failed"), 2000)
        error = {"error": {"type": "ERROR", "message": message}} \
            if status == "errored" else {}
        events.append(event("task_end", end, **fields, status=status, **error,
                            **({"generated": generated} if generated else {})))
    wf_status = _STATUS.get(str((workflow or {}).get("status") or "").upper())
    if wf_status is not None or (statuses and all(s is not None for s in statuses)):
        status = wf_status or ("errored" if "errored" in statuses else "finished")
        generated = _values(workflow or {}, "generated", report)
        wf_end = _time((workflow or {}).get("ended_at"))
        end = max([*ends, t0, *([wf_end] if wf_end is not None else [])])
        events.append(event("workflow_end", end, status=status,
                            **({"generated": generated} if generated else {})))
    return events


def import_flowcept(kg: Any, path: str | Path) -> ImportReport:
    """Import the workflows of a Flowcept buffer file into ``kg``, one validated batch each
    (a rejected workflow is reported in ``report.lost``; the others are stored).

    :raises ValueError: the file is not JSON lines of objects, or none of its messages is a
        workflow or a task (another format: it was "imported" with exit 0, storing nothing).
    """

    report = ImportReport()
    workflows: dict[str, dict[str, Any]] = {}
    tasks: dict[str, list[dict[str, Any]]] = {}
    messages = read_buffer(path)
    if messages and not any(m.get("type") in ("workflow", "task") for m in messages):
        raise ValueError(f"{path}: not a Flowcept buffer: not one of its {len(messages)} message(s) has "
                         "\"type\": \"workflow\" or \"task\" (provml's own events: `provml load`; "
                         "PROV-JSON: `provml import prov-json`)")
    for message in messages:
        kind = message.get("type")
        report.records[str(kind)] += 1
        if kind == "workflow" and message.get("workflow_id"):
            # Flowcept writes a workflow twice (RUNNING, then FINISHED with ended_at): merged
            workflows.setdefault(str(message["workflow_id"]), {}).update(message)
        elif kind == "task" and message.get("task_id") is not None:
            tasks.setdefault(str(message.get("workflow_id") or "no-workflow"), []).append(message)
        else:
            report.lost[f"messages of type {kind}"] += 1
    for workflow_id in sorted(set(workflows) | set(tasks)):
        events = flowcept_events(workflow_id, workflows.get(workflow_id), tasks.get(workflow_id, []),
                                 report)
        report.ingest(kg, events, f"workflow {workflow_id}")
    return report
