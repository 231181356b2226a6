"""The event check's per-kind validators (provml.events._by_kind) accept exactly what the whole
schema accepts, and a refused event gets the whole schema's error."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest

from provml.errors import EventError
from provml.events import _by_kind, _validator, check

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import workload  # noqa: E402


def _variants() -> list[dict[str, Any]]:
    """Valid events of every kind, and each with one field dropped, retyped or renamed, or
    its kind changed."""
    base = workload.learning_run("k1", epochs=1, batches=2)
    base += [{"v": 1, "kind": "task_end", "t": 2.0, "run": "k1", "workflow": "w", "task": "a",
              "name": "a", "status": "finished"},
             {"v": 1, "kind": "spec", "t": 0, "run": "spec", "workflow": "w", "spec": {}}]
    out = list(base)
    kinds = ["workflow_begin", "workflow_end", "task_begin", "task_end", "cycle_begin",
             "cycle_end", "spec", "nope", 3]
    for event in base:
        for key in event:
            dropped = {k: v for k, v in event.items() if k != key}
            retyped = {**event, key: [1]}
            out += [dropped, retyped]
        out.append({**event, "extra": 1})
        out += [{**event, "kind": kind} for kind in kinds]
        if event.get("generated"):
            bad = copy.deepcopy(event)
            bad["generated"][0]["value"] = "not a number"  # an evaluation must be a number
            out.append(bad)
            for double in ("NaN", "INF", "-INF", "nan", 1.0):  # JSON's missing numbers
                spelled = copy.deepcopy(event)
                spelled["generated"][0].pop("value", None)
                spelled["generated"][0]["double"] = double
                both = copy.deepcopy(event)
                both["generated"][0]["double"] = double
                out += [spelled, both]
    return out


def _accepts(validator: Any, event: Any) -> bool:
    try:
        validator(event)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def test_the_per_kind_validators_agree_with_the_whole_schema() -> None:
    by_kind = _by_kind()
    assert set(by_kind) == {"workflow_begin", "workflow_end", "task_begin", "task_end",
                            "cycle_begin", "cycle_end", "spec"}
    whole = _validator()
    variants = _variants()
    accepted = 0
    for event in variants:
        fast = by_kind.get(event.get("kind")) if isinstance(event.get("kind"), str) else None
        if fast is None:
            continue
        assert _accepts(fast, event) == _accepts(whole, event), event
        accepted += _accepts(whole, event)
    assert 0 < accepted < len(variants) / 2


@pytest.mark.parametrize("drop", ["status", "iteration", "task"])
def test_a_refused_event_gets_the_whole_schemas_error(drop: str) -> None:
    event = next(e for e in workload.learning_run("k2", epochs=1, batches=1) if e["kind"] == "cycle_end")
    broken = {k: v for k, v in event.items() if k != drop}
    with pytest.raises(EventError) as caught:
        check([event, broken])
    try:
        _validator()(broken)
    except fastjsonschema.JsonSchemaValueException as exc:
        expected = exc.message.removeprefix("data").lstrip(". ")
    assert caught.value.fields["index"] == 1
    assert caught.value.fields["rule"] == expected


@pytest.mark.parametrize(("value", "rule"), [
    ({"double": "NaN"}, None),
    ({"double": "-INF", "tag": "diverged"}, None),
    ({"double": "nan"}, "generated[0].double must be one of ['NaN', 'INF', '-INF']"),
    ({"double": "NaN", "value": 0.5}, "holds both 'value' and 'double'; send one: 'double' is for NaN, "
                                      "INF and -INF only"),
    ({}, "needs 'value' (or 'double' for NaN, INF, -INF), 'data' or 'domain'; an evaluation needs "
         "'value' or 'double'"),
])
def test_a_number_json_cannot_write_is_sent_as_double(value: dict[str, Any], rule: str | None) -> None:
    """A NaN or infinite evaluation (a diverged loss) had no spelling in the event format, so
    its event was rejected; ``"double"`` carries it, in XSD's spelling. What is wrong with it
    is said in words, not as fastjsonschema's "must NOT match a disallowed definition"."""
    event = next(e for e in workload.learning_run("k3", epochs=1, batches=1)
                 if e["kind"] == "cycle_end" and e.get("generated"))
    event["generated"] = [{"name": "loss", "role": "evaluation", **value}]
    if rule is None:
        check([event])
        return
    with pytest.raises(EventError) as caught:
        check([event])
    assert caught.value.fields["field"] in ("generated/0", "generated/0/double")
    assert caught.value.fields["rule"] == rule


@pytest.mark.parametrize(("field", "value"), [("run", ".."), ("run", "."), ("task", "x/../../plan/wf"),
                                              ("task", "./train"), ("parent", "train/..")])
def test_dot_segments_are_no_ids(field: str, value: str) -> None:
    """A run id ``..`` or a task ``x/../../plan/wf`` was accepted: its IRI
    ``…/run/../x/../../plan/wf`` resolves, in a browser, to the workflow's page (a probe, 22nd
    session). Ids hold no ``.`` or ``..`` segment; ``...`` and ``a.b`` still are ids."""
    event = {"v": 1, "kind": "task_begin", "t": 1.0, "run": "r1", "workflow": "w", "task": "t",
             "name": "t", "type": "training", "parent": "train", field: value}
    with pytest.raises(EventError) as caught:
        check([event])
    assert caught.value.fields["field"] == field and "not . or .." in caught.value.fields["rule"] \
        or "none of them . or .." in caught.value.fields["rule"]
    check([{**event, field: "..." if field == "run" else "a.b/...c"}])


def test_the_capture_client_makes_no_dot_segment_ids() -> None:
    """A task or cycle named ``..`` had the id ``..``; it is now ``--`` (its name is kept), and an
    explicit id ``..`` is refused."""
    from provml.capture.scopes import check_id, id_part

    assert (id_part(".."), id_part("."), id_part("..."), id_part("a.b")) == ("--", "-", "...", "a.b")
    with pytest.raises(ValueError, match=r"not \. or \.\."):
        check_id("..", "run id")


@pytest.mark.parametrize("event", [{"v": 1, "t": 1.0, "run": "r1", "workflow": "wf"}, {"events": []}])
def test_an_event_without_a_kind_is_told_so(event: dict[str, object]) -> None:
    """An event with no ``kind`` was told it "must contain ['name', 'task'] properties", the
    schema's first clause that failed (a probe, twenty-sixth session)."""
    with pytest.raises(EventError) as caught:
        check([event])
    assert caught.value.fields["field"] == "kind" and "names its kind" in str(caught.value)


@pytest.mark.parametrize("domain", ["oilgas:Well_16_2", "provml:Model", "id:thing", "RDFS:Class", "prov:Entity", "skos:Concept"])
def test_a_prefixed_name_is_no_domain_iri(domain: str) -> None:
    """``domain="oilgas:Well_16_2"`` was stored as an IRI of scheme ``oilgas``, linked to
    nothing; the JSON-LD export then failed on it and the PROV-JSON round trip rewrote it (a
    probe, twenty-seventh session): a scheme that is one of provml's prefixes is refused,
    saying to write the whole IRI. IRIs of real schemes stay accepted."""
    event = {"v": 1, "kind": "task_begin", "t": 1.0, "run": "r1", "workflow": "w", "task": "t",
             "name": "t", "type": "generic", "used": [{"name": "well", "domain": domain}]}
    with pytest.raises(EventError) as caught:
        check([event])
    assert caught.value.fields["field"] == "used/0/domain"
    assert "write the whole IRI" in caught.value.fields["rule"]
    for fine in ("https://w3id.org/provml/oil-gas#Well_16_2", "urn:isbn:0451450523", "geo:48.2,16.3",
                 "provmlx:a", "identity:b"):
        check([{**event, "used": [{"name": "well", "domain": fine}]}])


def test_every_prefix_of_the_json_ld_context_is_refused_as_a_scheme() -> None:
    """The schema's list of refused schemes keeps up with the context compacted JSON-LD writes
    with (an IRI of such a scheme is what it cannot write)."""
    from provml.query.serialization import jsonld_context

    event = {"v": 1, "kind": "task_begin", "t": 1.0, "run": "r1", "workflow": "w", "task": "t",
             "name": "t", "type": "generic"}
    for prefix in jsonld_context():
        with pytest.raises(EventError):
            check([{**event, "used": [{"name": "x", "domain": f"{prefix}:Thing"}]}])


def test_the_schemas_patterns_are_ecma_262_regular_expressions() -> None:
    """JSON Schema patterns are ECMA-262 regular expressions: a validator in JavaScript (ajv)
    compiles them all before it checks anything. ``(?i:…)`` — Python's, not ECMA's — made the
    whole published schema fail to load there (a review, twenty-seventh session)."""
    import json
    from importlib.resources import files

    schema = json.loads(files("provml.events").joinpath("schemas/events-v1.json").read_text())
    patterns: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                patterns.append(value) if key == "pattern" and isinstance(value, str) else walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert len(patterns) >= 5
    python_only = re.compile(r"\(\?[aiLmsux-]|\(\?P|\(\?>|[*+?}]\+|\\[AZz]")  # flags, named groups, atomic, possessive
    assert [p for p in patterns if python_only.search(p)] == []
