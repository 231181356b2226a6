"""Capture events → PROV-ML quads (docs/events.md, paper §4.4–4.6).

Stateless: every event carries what its translation needs, so any batch translates on its own.

Every triple has exactly one graph, so the union default graph counts each fact once
(docs/ontology.md, "Graphs"):

- prospective nodes (plans, attributes, algorithms, data stores) → the plans graph;
- nodes shared by runs (data references with their characteristics, software, personas,
  implementations) → the shared graph, ``{base}graph/shared``;
- everything minted for one run (its executions and values) and every triple that links a
  shared node to them (``prov:used``, ``prov:wasGeneratedBy``, ``prov:hadMember``) → that
  run's bundle graph.

>>> from provml.ingest.iris import Iris
>>> quads = translate([{"v": 1, "kind": "workflow_begin", "t": 0, "run": "r1", "workflow": "wf"}],
...                   iris=Iris("https://example.org/id/"))
>>> any(q.predicate == PROV.startedAtTime for q in quads)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad

from provml.events import double_spelling, json_text
from provml.ingest.iris import Iris
from provml.kinds import (
    DATA_ROLES,
    LEARNING_STAGES,
    WORKFLOW_TYPES,
    role_classes,
    task_classes,
    workflow_classes,
)
from provml.vocab import PROV, PROVML, RDF, RDFS, XSD

__all__ = ["translate", "RoleLookup"]

TYPE = RDF.type
LABEL = RDFS.label

#: (workflow, transformation, attribute name) -> role, from registered specs
RoleLookup = Callable[[str, str, str], "str | None"]


def _time(t: float) -> Literal:
    stamp = datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="microseconds")
    return Literal(stamp, datatype=XSD.dateTime)


def literal(value: Any) -> Literal:
    """A JSON value as a typed literal; lists and objects as ``rdf:JSON``.

    >>> literal(3).datatype.value.rsplit('#')[1], literal(0.5).datatype.value.rsplit('#')[1]
    ('integer', 'double')
    >>> literal({"b": 1, "a": [1, 2]}).value
    '{"a":[1,2],"b":1}'
    >>> literal([0.5, float("nan")]).value
    '[0.5,"NaN"]'
    """
    if isinstance(value, bool):
        return Literal(value)
    if isinstance(value, int):
        return Literal(str(value), datatype=XSD.integer)
    if isinstance(value, float):
        return Literal(repr(value) if math.isfinite(value) else double_spelling(value), datatype=XSD.double)
    if isinstance(value, str):
        return Literal(value)
    return Literal(json_text(value), datatype=RDF.JSON)  # (NaN, infinities: as XSD spells them)


class _Batch:
    """Accumulates quads without duplicates, in insertion order."""

    __slots__ = ("quads", "_seen")

    def __init__(self) -> None:
        self.quads: list[Quad] = []
        self._seen: set[Quad] = set()

    def add(self, s: NamedNode, p: NamedNode, o: NamedNode | Literal, g: NamedNode) -> None:
        q = Quad(s, p, o, g)
        if q not in self._seen:
            self._seen.add(q)
            self.quads.append(q)


def translate(
    events: Iterable[Mapping[str, Any]],
    *,
    iris: Iris,
    roles: RoleLookup | None = None,
) -> list[Quad]:
    """Translate already-validated events (``provml.events.check``) into PROV-ML quads.

    :param events: events of the wire format, in any order.
    :param iris: the IRI scheme (base IRI).
    :param roles: looks up the role of a value that carries none (from registered specs).
    :returns: the quads, without duplicates.
    """
    out = _Batch()
    tr = _Translator(iris, out, roles)
    for event in events:
        tr.event(event)
    return out.quads


class _Translator:
    def __init__(self, iris: Iris, out: _Batch, roles: RoleLookup | None) -> None:
        self.iris = iris
        self.out = out
        self.add = out.add
        self.roles = roles
        self.plans = iris.plans_graph
        self.shared = iris.shared_graph
        self._data_prefix = iris.base + "data/"
        #: the plan and attribute statements made in this batch (every execution repeats them)
        self._made: set[tuple[Any, ...]] = set()

    def event(self, e: Mapping[str, Any]) -> None:
        kind = e["kind"]
        if kind == "spec":
            from provml.ingest.spec import WorkflowSpec

            for q in WorkflowSpec.from_dict(e["spec"]).quads(self.iris):
                self.add(q.subject, q.predicate, q.object, q.graph_name)  # type: ignore[arg-type]
            return
        run = e["run"]
        workflow = e["workflow"]
        graph = self.iris.bundle(run)
        if kind.startswith("workflow"):
            self.workflow(e, run, workflow, graph, begin=kind == "workflow_begin")
        else:
            self.task(e, run, workflow, graph, begin=kind.endswith("begin"), cycle=kind.startswith("cycle"))

    # -- workflows ------------------------------------------------------------------------------
    def workflow(self, e: Mapping[str, Any], run: str, workflow: str, g: NamedNode, *, begin: bool) -> None:
        add, plans = self.add, self.plans
        wtype = e.get("type")
        plan_class, ex_class = workflow_classes(wtype if wtype in WORKFLOW_TYPES else "generic")
        plan = self.iris.plan(workflow)
        ex = self.iris.run(run)
        if begin:
            add(plan, TYPE, plan_class, plans)
            add(plan, LABEL, Literal(workflow), plans)
            if "study" in e:
                study = self.iris.study(e["study"])
                add(study, TYPE, PROVML.Study, plans)
                add(study, LABEL, Literal(e["study"]), plans)
                add(study, PROVML.hadMember, plan, plans)
            add(g, TYPE, PROV.Bundle, g)
            add(ex, TYPE, ex_class, g)
            add(ex, LABEL, Literal(run), g)
            add(ex, PROV.wasInfluencedBy, plan, g)
            add(ex, PROV.startedAtTime, _time(e["t"]), g)
            for tag in e.get("tags", ()):
                add(ex, PROVML.tag, Literal(tag), g)
            if "persona" in e:
                self.persona(ex, e["persona"], g)
            if "meta" in e:
                self.meta(ex, e["meta"], g)
        else:
            add(ex, TYPE, ex_class, g)
            self.ended(ex, e, g)
        self.values(e, ex, plan, workflow, workflow, g)

    def meta(self, ex: NamedNode, meta: Mapping[str, Any], g: NamedNode) -> None:
        add = self.add
        for key, prop in (("hostname", PROVML.hostname), ("platform", PROVML.platform),
                          ("python", PROVML.pythonVersion), ("git_commit", PROVML.gitCommit)):
            if key in meta:
                add(ex, prop, Literal(str(meta[key])), g)
        if "pid" in meta:
            add(ex, PROVML.processId, Literal(str(int(meta["pid"])), datatype=XSD.integer), g)
        if "job" in meta:
            add(ex, PROVML.jobId, Literal(str(meta["job"]["id"])), g)
            add(ex, PROVML.jobScheduler, Literal(meta["job"]["scheduler"]), g)
        for name, value in sorted(meta.get("env", {}).items()):
            add(ex, PROVML.environmentVariable, Literal(f"{name}={value}"), g)
        for name, version in sorted(meta.get("packages", {}).items()):
            sw = self.iris.software(name)
            swv = self.iris.software(name, version)
            shared = self.shared
            add(sw, TYPE, PROVML.Software, shared)
            add(sw, LABEL, Literal(name), shared)
            add(swv, TYPE, PROVML.Software, shared)
            add(swv, LABEL, Literal(f"{name} {version}"), shared)
            add(swv, PROVML.softwareVersion, Literal(version), shared)
            add(swv, PROV.specializationOf, sw, shared)
            add(ex, PROV.wasAssociatedWith, swv, g)

    def persona(self, ex: NamedNode, persona: Mapping[str, Any], g: NamedNode) -> None:
        node = self.iris.persona(persona["id"])
        self.add(node, TYPE, PROVML.Persona, self.shared)
        self.add(node, LABEL, Literal(persona.get("name") or persona["id"]), self.shared)
        self.add(ex, PROV.wasAssociatedWith, node, g)

    def ended(self, ex: NamedNode, e: Mapping[str, Any], g: NamedNode) -> None:
        add = self.add
        add(ex, PROV.endedAtTime, _time(e["t"]), g)
        add(ex, PROVML.status, Literal(e["status"]), g)
        if "error" in e:
            add(ex, PROVML.errorType, Literal(e["error"]["type"]), g)
            if e["error"].get("message"):
                add(ex, PROVML.errorMessage, Literal(e["error"]["message"]), g)

    # -- tasks and cycles -------------------------------------------------------------------------
    def task(
        self, e: Mapping[str, Any], run: str, workflow: str, g: NamedNode, *, begin: bool, cycle: bool
    ) -> None:
        add, plans, iris = self.add, self.plans, self.iris
        name = e["name"]
        if cycle:
            stage_type = e["stage_type"]
            stage = iris.transformation(workflow, e["stage"])
            plan = iris.section(workflow, e["stage"], name)
            in_stage = stage_type in LEARNING_STAGES
            plan_class = PROVML.LearningStageSection if in_stage else task_classes(stage_type)[0]
            ex_class = task_classes(stage_type)[2]
            owner, transformation = stage, e["stage"] + "/" + name
        else:
            plan = iris.transformation(workflow, name)
            plan_class, ex_class, _ = task_classes(e.get("type", "generic"))
            owner, transformation = iris.plan(workflow), name
        ex = iris.execution(run, e["task"])
        if begin:
            if (made := (plan.value, plan_class.value, name, owner.value)) not in self._made:
                self._made.add(made)
                add(plan, TYPE, plan_class, plans)
                add(plan, LABEL, Literal(name), plans)
                add(owner, PROVML.hadMember, plan, plans)
            add(ex, TYPE, ex_class, g)
            add(ex, LABEL, Literal(e["task"]), g)
            add(ex, PROV.wasInfluencedBy, plan, g)
            parent = iris.execution(run, e["parent"]) if "parent" in e else iris.run(run)
            add(ex, PROV.wasInformedBy, parent, g)
            # shortcuts (docs/ontology.md): the workflow execution it is part of, however deep; a
            # task is its own stage execution (a cycle's is found at ingest: provml.ingest.shortcuts)
            add(ex, PROVML.workflowExecution, iris.run(run), g)
            if not cycle:
                add(ex, PROVML.stageExecution, ex, g)
            add(ex, PROV.startedAtTime, _time(e["t"]), g)
            if cycle:
                add(ex, PROVML.iteration, Literal(str(int(e["iteration"])), datatype=XSD.integer), g)
            if "persona" in e:
                self.persona(ex, e["persona"], g)
            if "implementation" in e:
                self.implementation(ex, plan, e["implementation"], g)
        else:
            # end events type their execution too, so a batch holding only the end validates
            add(ex, TYPE, ex_class, g)
            self.ended(ex, e, g)
        self.values(e, ex, plan, workflow, transformation, g)

    def implementation(
        self, ex: NamedNode, plan: NamedNode, impl: Mapping[str, Any], g: NamedNode
    ) -> None:
        add, iris = self.add, self.iris
        software = impl.get("software", impl["name"])
        version = impl.get("version", "")
        node = iris.implementation(software, version, impl["name"])
        shared = self.shared
        add(node, TYPE, PROVML.Implementation, shared)
        add(node, LABEL, Literal(impl["name"]), shared)
        if version:
            add(node, PROVML.softwareVersion, Literal(version), shared)
        sw = iris.software(software)
        add(sw, TYPE, PROVML.Software, shared)
        add(sw, LABEL, Literal(software), shared)
        add(node, PROV.wasAttributedTo, sw, shared)
        if "algorithm" in impl:
            alg = iris.algorithm(impl["algorithm"])
            add(alg, TYPE, PROVML.Algorithm, self.plans)
            add(alg, LABEL, Literal(impl["algorithm"]), self.plans)
            add(plan, PROVML.usesAttribute, alg, self.plans)
            add(node, PROV.wasDerivedFrom, alg, shared)
        add(ex, PROV.wasAssociatedWith, node, g)

    # -- values -------------------------------------------------------------------------------------
    def values(self, e: Mapping[str, Any], ex: NamedNode, plan: NamedNode, workflow: str,
               transformation: str, g: NamedNode) -> None:
        nodes: dict[str, NamedNode] = {}
        pending: list[tuple[NamedNode, str | Mapping[str, Any], str]] = []
        for direction in ("used", "generated"):
            items: Sequence[Mapping[str, Any]] = e.get(direction, ())
            for item in items:
                role = item.get("role")
                if role is None and self.roles is not None:
                    role = self.roles(workflow, transformation, item["name"])
                node = self.value(item, role or "value", ex, plan, direction, g)
                nodes[item["name"]] = node
                if "about" in item:
                    pending.append((node, item["about"], role or "value"))
        for node, about, role in pending:
            # ``about`` names a value of the same event, or is the data reference of a model
            model = self.iris.data(about) if isinstance(about, Mapping) else nodes.get(about)
            if model is None:
                continue
            # a link between two shared nodes is shared; one that touches a run's value is the run's
            linked = self.shared if node.value.startswith(self._data_prefix) else g
            if role == "evaluation":
                self.add(node, PROVML.evaluatedModel, model, linked)
            else:
                self.add(model, PROV.hadMember, node, linked)

    def value(self, item: Mapping[str, Any], role: str, ex: NamedNode, plan: NamedNode, direction: str,
              g: NamedNode) -> NamedNode:
        add, plans, iris = self.add, self.plans, self.iris
        attr_class, value_class = role_classes(role)
        name = item["name"]
        attr = iris.attribute(plan, name)
        used = direction == "used"
        if (made := (attr.value, attr_class.value, name, plan.value, used)) not in self._made:
            self._made.add(made)
            add(attr, TYPE, attr_class, plans)
            add(attr, LABEL, Literal(name), plans)
            add(plan, PROVML.usesAttribute if used else PROVML.generatesAttribute, attr, plans)
        data = item.get("data")
        if data is not None:
            # a data reference is shared by every run that uses or generates it: its description
            # lives once, in the shared graph; only the run's use or generation is in the bundle
            node = iris.data(data)
            d = self.shared
            self.data_reference(node, data, d)
        else:
            node = iris.value(ex, direction, name)
            d = g
            # shortcut: the attribute's name on the value itself (prov:wasDerivedFrom/rdfs:label)
            add(node, PROVML.attributeName, Literal(name), g)
        add(node, TYPE, value_class, d)
        if role in DATA_ROLES and data is None:
            add(node, TYPE, PROVML.DataReference, d)
        add(node, PROV.wasDerivedFrom, attr, d)
        if "value" in item or "double" in item:  # "double": NaN, INF, -INF (JSON has no such numbers)
            add(node, PROV.value, literal(item["value"] if "value" in item else float(item["double"])), d)
        if "domain" in item:
            add(node, PROVML.kgReference, NamedNode(item["domain"]), d)
        if "tag" in item:
            add(node, PROVML.tag, Literal(item["tag"]), d)
        if used:
            add(ex, PROV.used, node, g)
        else:
            add(node, PROV.wasGeneratedBy, ex, g)
        for key, val in (item.get("characteristics") or {}).items():
            cattr = iris.characteristic(plan, name, key)
            add(cattr, TYPE, PROVML.DatasetCharacteristic, plans)
            add(cattr, LABEL, Literal(key), plans)
            add(attr, PROV.hadMember, cattr, plans)
            cval = iris.data_characteristic(node, key)
            add(cval, TYPE, PROVML.DatasetCharacteristicValue, d)
            add(cval, PROV.value, literal(val), d)
            add(cval, PROV.wasDerivedFrom, cattr, d)
            add(node, PROV.hadMember, cval, d)
        return node

    def data_reference(self, node: NamedNode, data: Mapping[str, Any], g: NamedNode) -> None:
        add = self.add
        location = data["location"]
        add(node, LABEL, Literal(location.rsplit("/", 1)[-1] or location), g)
        add(node, PROVML.location, Literal(location), g)
        if "sha256" in data:
            add(node, PROVML.contentHash, Literal("sha256:" + data["sha256"]), g)
        if "size" in data:
            add(node, PROVML.byteSize, Literal(str(int(data["size"])), datatype=XSD.integer), g)
        if "media_type" in data:
            add(node, PROVML.mediaType, Literal(data["media_type"]), g)
        store_name = data.get("store")
        if store_name:
            # a data store is prospective (a spec declares it): described in the plans graph
            store, plans = self.iris.store(store_name), self.plans
            add(store, TYPE, PROVML.DataStoreInstance, plans)
            add(store, LABEL, Literal(store_name), plans)
            if "store_type" in data:
                add(store, PROVML.storeType, Literal(data["store_type"]), plans)
            add(node, PROVML.dataStore, store, g)
