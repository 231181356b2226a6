"""Prospective workflow specifications (the paper's S5: design workflows first).

A spec declares a workflow, its data transformations and, for each, the attributes it uses and
generates with their roles, datatypes, descriptions and the domain concept each maps to, plus the
data stores. It is written in YAML or JSON::

    workflow: force2020-training
    type: learning            # or generic
    study: force2020
    description: Train lithology classifiers
    stores:
      - {name: local-fs, type: FILE_SYSTEM}
    transformations:
      - name: train
        type: training
        used:
          - {name: lr, role: hyperparameter, dtype: float}
          - {name: train_set, role: learning_dataset, store: local-fs}
        generated:
          - {name: model, role: model}
          - {name: accuracy, role: evaluation}

Prospective nodes get the same IRIs as the ones derived at capture time, so they are stored once
and reused by every execution; roles declared here type the values captured without one.
A spec is redacted as it is read (:meth:`WorkflowSpec.from_dict`, with
:func:`provml.capture.redact.redact_spec`): a store's ``password`` or ``token``, a URL's password,
``password=…`` in a description are ``[redacted]`` in the ``spec`` event the capture client sends
and in what ingest stores.

>>> spec = WorkflowSpec.from_dict({"workflow": "wf", "transformations": [
...     {"name": "train", "type": "training", "used": [{"name": "lr", "role": "hyperparameter"}]}]})
>>> spec.role("train", "lr")
'hyperparameter'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyoxigraph import Literal, NamedNode, Quad

from provml.capture.redact import redact_spec
from provml.errors import Error, EventError
from provml.events import domain_iri_rule
from provml.ingest.iris import Iris
from provml.kinds import (
    ROLES,
    TASK_TYPES,
    WORKFLOW_TYPES,
    role_classes,
    task_classes,
    workflow_classes,
)
from provml.vocab import PROVML, RDF, RDFS

if TYPE_CHECKING:
    from provml.store import Store

__all__ = ["AttributeSpec", "TransformationSpec", "WorkflowSpec", "SpecError", "agreed", "load_spec", "spec_document",
           "retire_versions", "spec_of", "stored_spec"]

log = logging.getLogger("provml.ingest.spec")


class SpecError(Error):
    """A workflow specification is malformed."""

    template = "workflow spec {source}: {reason}"


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    role: str = "value"
    direction: str = "used"
    dtype: str | None = None
    description: str | None = None
    domain_concept: str | None = None
    store: str | None = None


@dataclass(frozen=True)
class TransformationSpec:
    name: str
    type: str = "generic"
    description: str | None = None
    attributes: tuple[AttributeSpec, ...] = ()


@dataclass(frozen=True)
class WorkflowSpec:
    workflow: str
    type: str = "generic"
    study: str | None = None
    description: str | None = None
    stores: tuple[Mapping[str, str], ...] = ()
    transformations: tuple[TransformationSpec, ...] = ()
    _roles: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str = "<dict>") -> WorkflowSpec:
        """Build a spec from its JSON/YAML document.

        :raises SpecError: naming the field that is missing or wrong.
        """

        def fail(reason: str) -> SpecError:
            return SpecError(source=source, reason=reason)

        if not isinstance(doc, Mapping) or not isinstance(doc.get("workflow"), str):
            raise fail("needs a 'workflow' name (string)")
        # secrets redacted as in events (a store's password, a DSN in a description), wherever a
        # spec is read: the capture client, ingest, a broker worker's shared spec, a spec file
        doc = redact_spec(doc)
        wtype = doc.get("type", "generic")
        if wtype not in WORKFLOW_TYPES:
            raise fail(f"type {wtype!r} must be one of {sorted(WORKFLOW_TYPES)}")
        def items(owner: Mapping[str, Any], key: str, where: str) -> list[Any]:
            found = owner.get(key, ())
            if not isinstance(found, list | tuple):  # (3 raised TypeError: a review, 21st session)
                raise fail(f"{where} must be a list, got {type(found).__name__}")
            return list(found)

        transformations = []
        for i, t in enumerate(items(doc, "transformations", "transformations")):
            if not isinstance(t, Mapping) or not isinstance(t.get("name"), str):
                raise fail(f"transformations[{i}] needs a 'name'")
            ttype = t.get("type", "generic")
            if ttype not in TASK_TYPES:
                raise fail(f"transformations[{i}].type {ttype!r} is not one of {sorted(TASK_TYPES)}")
            attrs = []
            for direction in ("used", "generated"):
                for j, a in enumerate(items(t, direction, f"transformations[{i}].{direction}")):
                    where = f"transformations[{i}].{direction}[{j}]"
                    if not isinstance(a, Mapping) or not isinstance(a.get("name"), str):
                        raise fail(f"{where} needs a 'name'")
                    role = a.get("role", "value")
                    if role not in ROLES:
                        raise fail(f"{where}.role {role!r} is not one of {sorted(ROLES)}")
                    if a.get("domain_concept") is not None and (rule := domain_iri_rule(a["domain_concept"])):
                        raise fail(f"{where}.domain_concept {a['domain_concept']!r} {rule}")  # (as a value's domain)
                    attrs.append(
                        AttributeSpec(
                            name=a["name"],
                            role=role,
                            direction=direction,
                            dtype=a.get("dtype"),
                            description=a.get("description"),
                            domain_concept=a.get("domain_concept"),
                            store=a.get("store"),
                        )
                    )
            transformations.append(
                TransformationSpec(
                    name=t["name"], type=ttype, description=t.get("description"), attributes=tuple(attrs)
                )
            )
        stores = items(doc, "stores", "stores")
        for k, store in enumerate(stores):
            if not isinstance(store, Mapping):
                raise fail(f"stores[{k}] must be an object, got {type(store).__name__}")
        spec = cls(
            workflow=doc["workflow"],
            type=wtype,
            study=doc.get("study"),
            description=doc.get("description"),
            stores=tuple(stores),
            transformations=tuple(transformations),
        )
        for t in spec.transformations:
            for a in t.attributes:
                spec._roles[(t.name, a.name)] = a.role
        return spec

    def role(self, transformation: str, attribute: str) -> str | None:
        """The declared role of ``attribute`` in ``transformation`` (None when undeclared)."""
        return self._roles.get((transformation, attribute))

    def quads(self, iris: Iris) -> Iterator[Quad]:
        """The prospective nodes of this spec, in the plans graph."""
        g = iris.plans_graph
        plan = iris.plan(self.workflow)
        yield Quad(plan, RDF.type, workflow_classes(self.type)[0], g)
        yield Quad(plan, RDFS.label, Literal(self.workflow), g)
        # the document itself, so that an ingest that restarts knows the roles again (23rd
        # session); written one way, so that a spec sent again is the same statement
        yield Quad(plan, PROVML.specification, Literal(self.document()), g)
        if self.description:
            yield Quad(plan, RDFS.comment, Literal(self.description), g)
        if self.study:
            study = iris.study(self.study)
            yield Quad(study, RDF.type, PROVML.Study, g)
            yield Quad(study, RDFS.label, Literal(self.study), g)
            yield Quad(study, PROVML.hadMember, plan, g)
        for store in self.stores:
            node = iris.store(store["name"])
            yield Quad(node, RDF.type, PROVML.DataStore, g)
            yield Quad(node, RDFS.label, Literal(store["name"]), g)
            if "type" in store:
                yield Quad(node, PROVML.storeType, Literal(store["type"]), g)
        for t in self.transformations:
            tnode = iris.transformation(self.workflow, t.name)
            yield Quad(tnode, RDF.type, task_classes(t.type)[0], g)
            yield Quad(tnode, RDFS.label, Literal(t.name), g)
            yield Quad(plan, PROVML.hadMember, tnode, g)
            if t.description:
                yield Quad(tnode, RDFS.comment, Literal(t.description), g)
            for a in t.attributes:
                anode = iris.attribute(tnode, a.name)
                yield Quad(anode, RDF.type, role_classes(a.role)[0], g)
                yield Quad(anode, RDFS.label, Literal(a.name), g)
                link = PROVML.usesAttribute if a.direction == "used" else PROVML.generatesAttribute
                yield Quad(tnode, link, anode, g)
                if a.description:
                    yield Quad(anode, RDFS.comment, Literal(a.description), g)
                if a.dtype:
                    yield Quad(anode, PROVML.datatypeName, Literal(a.dtype), g)
                if a.domain_concept:
                    yield Quad(anode, PROVML.domainConcept, NamedNode(a.domain_concept), g)

    def document(self) -> str:
        """The spec as one JSON text, written the same way every time (:meth:`to_dict`), its
        data stores by name and type only, as the graph holds them: the rest (a host, a path,
        a bucket) is connection detail, not what the workflow was declared with (a review)."""
        doc = self.to_dict()
        doc["stores"] = [{k: s[k] for k in ("name", "type") if k in s} for s in doc["stores"]]
        return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-able document (what a ``spec`` event carries)."""
        return {
            "workflow": self.workflow,
            "type": self.type,
            **({"study": self.study} if self.study else {}),
            **({"description": self.description} if self.description else {}),
            "stores": [dict(s) for s in self.stores],
            "transformations": [
                {
                    "name": t.name,
                    "type": t.type,
                    **({"description": t.description} if t.description else {}),
                    **{
                        d: [
                            {
                                k: v
                                for k, v in {
                                    "name": a.name,
                                    "role": a.role,
                                    "dtype": a.dtype,
                                    "description": a.description,
                                    "domain_concept": a.domain_concept,
                                    "store": a.store,
                                }.items()
                                if v is not None
                            }
                            for a in t.attributes
                            if a.direction == d
                        ]
                        for d in ("used", "generated")
                    },
                }
                for t in self.transformations
            ],
        }


def agreed(specs: Sequence[WorkflowSpec]) -> tuple[WorkflowSpec, list[tuple[str, str]]]:
    """One spec for the versions ``specs`` of a workflow's spec, when which came last is not
    known (a store that holds two documents: see :func:`retire_versions`): the first, with only the roles every version
    that declares the attribute gives it; and the ``(transformation, attribute)`` they disagree on."""
    first = specs[0]
    roles: dict[tuple[str, str], set[str]] = {}
    for spec in specs:
        for key, role in spec._roles.items():
            roles.setdefault(key, set()).add(role)
    merged = WorkflowSpec(workflow=first.workflow, type=first.type, study=first.study,
                          description=first.description, stores=first.stores,
                          transformations=first.transformations)
    merged._roles.update((key, found.pop()) for key, found in roles.items() if len(found) == 1)
    return merged, sorted(key for key, found in roles.items() if len(found) > 1)


def stored_spec(store: Store, iris: Iris, workflow: str) -> WorkflowSpec | None:
    """The spec of ``workflow`` as ``store`` holds it (``provml:specification``), or None.

    A store holds one document a workflow (:func:`retire_versions`); where it holds more (a
    crash between writing a new one and removing the old; a broker's writer, which removes
    none), which came last is not recorded: the roles they all agree on are taken
    (:func:`agreed`), and a warning names the attributes they do not (the next ``spec`` event
    settles them). A store that cannot answer, or a document that does not load, gives no
    roles, with a warning."""
    try:
        texts = sorted(d.value for d in _documents(store, iris, iris.plan(workflow)))
    except Exception:  # noqa: BLE001 - as without a stored spec
        log.warning("the stored spec of workflow %r could not be read", workflow, exc_info=True)
        return None
    specs = [spec for text in texts if (spec := spec_document(text, f"a stored spec of workflow {workflow!r}"))]
    if not specs:
        return None
    spec, disputed = agreed(specs)
    if disputed:
        log.warning("workflow %r has %d versions of its spec in the store, which disagree on the "
                    "role of %s: values captured without a role there get none until a spec "
                    "event for it comes", workflow, len(specs),
                    ", ".join(f"{t}/{a}" for t, a in disputed[:10]))
    return spec


def spec_document(text: str | bytes, what: str) -> WorkflowSpec | None:
    """The spec of a document stored or shared before (``what`` names it in the log), or None
    when it does not load; concepts refused since are left out (warnings say each)."""
    try:
        doc, dropped = _without_refused_concepts(json.loads(text))
        spec = WorkflowSpec.from_dict(doc)
    except Exception:  # noqa: BLE001 - a document that does not load gives no roles
        log.warning("%s does not load: ignored", what)
        return None
    if dropped:  # (prefixed names, stored before they were refused)
        log.warning("%s names domain concepts that are no absolute IRIs: %s; its roles are used, those concepts "
                    "not: send the spec again with full IRIs", what, dropped[:10])
    return spec


def _without_refused_concepts(doc: Any) -> tuple[Any, list[Any]]:
    """A stored spec document without the domain concepts the event format now refuses (a prefixed
    name, ``oilgas:Well``, since the twenty-seventh session), and those: a spec stored before still
    gives its roles (it did not load, and later runs of its workflow lost their roles)."""
    dropped: list[Any] = []
    for t in doc.get("transformations", ()) if isinstance(doc, Mapping) else ():
        for attrs in (t.get(d) for d in ("used", "generated")) if isinstance(t, dict) else ():
            for a in attrs if isinstance(attrs, list) else ():
                if isinstance(a, dict) and a.get("domain_concept") is not None and domain_iri_rule(a["domain_concept"]):
                    dropped.append(a.pop("domain_concept"))
    return doc, dropped


def retire_versions(store: Store, iris: Iris, quads: Sequence[Quad], data: bytes | None = None) -> None:
    """After ``quads`` are written: each workflow whose spec document they hold keeps that one
    only (the version a ``spec`` event just brought is the one in force, and a restarted ingest
    reads it alone). Written first and removed after, a crash in between leaves two versions,
    which :func:`stored_spec` reads as their agreed roles. ``data``: the quads as N-Quads, when
    the caller has them, searched first as bytes (10,000 events in ≈ 1 ms; reading each quad's
    predicate took 1.5 % of ``provml load``'s time)."""
    spec_of, graph = PROVML.specification, iris.plans_graph
    if data is not None and f"<{spec_of.value}>".encode() not in data:
        return
    for plan, document in {q.subject: q.object for q in quads if q.predicate == spec_of}.items():
        older = [d for d in _documents(store, iris, plan) if d != document]
        if older:  # (str of a literal: its N-Triples form, escaped as SPARQL reads it)
            store.update("DELETE DATA { " + " ".join(f"GRAPH {graph} {{ {plan} {spec_of} {d} }}" for d in older) + " }")


def _documents(store: Store, iris: Iris, plan: Any) -> list[Any]:
    """The spec documents the store holds for the workflow ``plan`` (literals)."""
    from provml.store import select

    query = f"SELECT ?d WHERE {{ GRAPH {iris.plans_graph} {{ {plan} {PROVML.specification} ?d }} }}"
    return [row["d"] for row in select(store, query)]


def load_spec(path: str | Path) -> WorkflowSpec:
    """Read a YAML (``.yaml``/``.yml``) or JSON spec file.

    :raises SpecError: when the file does not parse or is not a valid spec."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(text)
        else:
            doc = json.loads(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError carry positions
        raise SpecError(source=str(p), reason=f"does not parse: {exc}") from None
    return WorkflowSpec.from_dict(doc, source=str(p))


def spec_of(event: Mapping[str, Any], index: int = 0) -> WorkflowSpec:
    """The workflow spec of a ``spec`` event.

    :raises provml.errors.EventError: its spec does not load (a batch the format rejects, not a
        load that cannot run: before, ``provml load`` stopped whole with exit 2, and a broker
        worker took it for a store outage and tried it again forever)."""
    try:
        spec = WorkflowSpec.from_dict(event["spec"])
        for _quad in spec.quads(Iris()):  # what translation states of it (a store without its name,
            pass                          # a domain concept that is no IRI: only seen here)
        return spec
    except SpecError as exc:
        raise EventError(index=index, kind="spec", field="spec", rule=str(exc)) from exc
    except (TypeError, KeyError, ValueError, AttributeError) as exc:  # a part of the wrong type, a
        # store without its name ...: from_dict names what it checks, not every shape (a review)
        raise EventError(index=index, kind="spec", field="spec",
                         rule=f"workflow spec: {type(exc).__name__}: {exc}") from exc
