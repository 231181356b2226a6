"""``provml import prov-json``: PROV-JSON documents (W3C Member Submission) into PROV-ML.

Written for what real files hold, the ``prov`` package's and yProv4ML's among them: namespaces
that are not IRIs (yProv4ML's default namespace is the experiment name, its ``provml`` prefix is
``prov-ml``), numbers as strings (``"prov:value": "0.01"``), timestamps without a zone (read as
UTC), ``prov:type`` given as a plain string (``"provml:HyperParameter"``), attribute values
written as the string of a Python dict.

The document becomes PROV-O quads: records typed ``prov:Entity`` / ``Activity`` / ``Agent``,
the relations as PROV-O's direct properties (``prov:used``, ``prov:wasGeneratedBy`` ...; a
revision, quotation or primary source also as ``prov:wasRevisionOf`` ...), each bundle a named
graph. Values are read as the ``prov`` package reads them: a ``prov:type`` that is a qualified
name is a class, a plain string a literal (``rdf:type "text"``, as ``prov`` writes PROV-O); an
ill-typed literal (``"abc"^^xsd:int``) is not stored but counted (:mod:`provml.interop.prov_terms`).
Where the terms say so it is mapped onto PROV-ML (:data:`PROVML_VALUES`):
a hyperparameter entity becomes a ``provml:LearningHyperparameterValue`` derived from a minted
``provml:LearningHyperparameter``, a model a ``provml:Model`` with its location. Everything goes
through the knowledge graph's enrichment and SHACL validation (``KnowledgeGraph.ingest_quads``),
and :class:`ImportReport` says what was mapped and what was not (kept as plain PROV, or lost).
Secrets are redacted as the capture client redacts them (:mod:`provml.capture.redact`).

Why it is long: reading a document, its names, its records and their mapping onto PROV-ML is
one pass over one structure, each step using what the one before resolved.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pyoxigraph import Literal, NamedNode, Quad

from provml.capture.redact import REDACTED, is_secret_name, redact_named, redact_text
from provml.errors import EventError, ValidationFailed
from provml.ingest.iris import slug
from provml.interop.prov_terms import (
    DERIVATION_ATTRIBUTES,
    DERIVATION_SUBTYPES,
    QNAME_TYPES,
    ill_typed,
)
from provml.vocab import PROV, PROVML, RDF, RDFS, XSD

if TYPE_CHECKING:
    from provml.knowledge import KnowledgeGraph

__all__ = ["ImportReport", "PROVML_VALUES", "prov_json_quads", "import_prov_json"]

XSD_NS = XSD.NS
_PROV_NS = PROV.NS
#: prov:type local names (of a provml / prov-ml prefix, any case) -> (value class, attribute class)
PROVML_VALUES: dict[str, tuple[NamedNode, NamedNode]] = {
    "hyperparameter": (PROVML.LearningHyperparameterValue, PROVML.LearningHyperparameter),
    "model": (PROVML.Model, PROVML.ModelProspection),
}
#: PROV-ML's own class names (a prov:type in the PROV-ML namespace naming one is kept as is)
_PROVML_CLASSES = {t for t in PROVML.TERMS if t[:1].isupper()}
#: activity names that are learning stages (yProv4ML's contexts) -> (execution, plan class)
STAGES: dict[str, tuple[NamedNode, NamedNode]] = {
    "training": (PROVML.TrainingExecution, PROVML.Training),
    "validation": (PROVML.ValidationExecution, PROVML.Validation),
    "testing": (PROVML.EvaluationExecution, PROVML.Evaluation),
    "evaluation": (PROVML.EvaluationExecution, PROVML.Evaluation),
}
#: PROV-JSON relation -> (subject field, PROV-O property, object field)
RELATIONS: dict[str, tuple[str, str, str]] = {
    "used": ("prov:activity", "used", "prov:entity"),
    "wasGeneratedBy": ("prov:entity", "wasGeneratedBy", "prov:activity"),
    "wasInformedBy": ("prov:informed", "wasInformedBy", "prov:informant"),
    "wasAssociatedWith": ("prov:activity", "wasAssociatedWith", "prov:agent"),
    "wasAttributedTo": ("prov:entity", "wasAttributedTo", "prov:agent"),
    "wasDerivedFrom": ("prov:generatedEntity", "wasDerivedFrom", "prov:usedEntity"),
    "actedOnBehalfOf": ("prov:delegate", "actedOnBehalfOf", "prov:responsible"),
    "wasStartedBy": ("prov:activity", "wasStartedBy", "prov:trigger"),
    "wasEndedBy": ("prov:activity", "wasEndedBy", "prov:trigger"),
    "wasInvalidatedBy": ("prov:entity", "wasInvalidatedBy", "prov:activity"),
    "specializationOf": ("prov:specificEntity", "specializationOf", "prov:generalEntity"),
    "alternateOf": ("prov:alternate1", "alternateOf", "prov:alternate2"),
    "hadMember": ("prov:collection", "hadMember", "prov:entity"),
    "wasInfluencedBy": ("prov:influencee", "wasInfluencedBy", "prov:influencer"),
}
_RECORD_CLASSES = {"entity": PROV.Entity, "activity": PROV.Activity, "agent": PROV.Agent}
#: relations whose time PROV-O puts on the subject (the entity): relation -> property
_AT_TIMES = {"wasGeneratedBy": NamedNode(_PROV_NS + "generatedAtTime"),
             "wasInvalidatedBy": NamedNode(_PROV_NS + "invalidatedAtTime")}
#: relations whose time needs PROV-O's qualified form: relation -> (property, class)
_QUALIFIED = {"used": ("qualifiedUsage", "Usage"), "wasStartedBy": ("qualifiedStart", "Start"),
              "wasEndedBy": ("qualifiedEnd", "End")}
#: prov: attributes with a PROV-O property of their own
_PROV_ATTRIBUTES = {"prov:label": RDFS.label, "prov:value": PROV.value,
                    "prov:location": NamedNode(_PROV_NS + "atLocation"),
                    "prov:startTime": PROV.startedAtTime, "prov:endTime": PROV.endedAtTime,
                    "prov:startedAtTime": PROV.startedAtTime, "prov:endedAtTime": PROV.endedAtTime,
                    "prov:generatedAtTime": NamedNode(_PROV_NS + "generatedAtTime")}
_TIMES = {PROV.startedAtTime, PROV.endedAtTime, NamedNode(_PROV_NS + "generatedAtTime")}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_LOCATION_KEYS = ("dcterms:identifier", "prov:location", "prov:atLocation")


@dataclass
class ImportReport:
    """What an import did: records read, what was mapped to PROV-ML, what stayed plain PROV,
    and what was not kept."""

    records: Counter[str] = field(default_factory=Counter)
    mapped: Counter[str] = field(default_factory=Counter)
    plain_types: Counter[str] = field(default_factory=Counter)
    unmapped_attributes: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    triples: int = 0
    events: int = 0
    graphs: tuple[str, ...] = ()
    rejected: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"records": dict(self.records), "mapped": dict(self.mapped),
                "plain_types": dict(self.plain_types),
                "unmapped_attributes": dict(self.unmapped_attributes), "lost": dict(self.lost),
                "notes": dict(self.notes), "triples": self.triples, "events": self.events,
                "graphs": list(self.graphs), "rejected": list(self.rejected)}

    def text(self) -> str:
        def tally(counter: Counter[str]) -> str:
            return ", ".join(f"{k} {n}" for k, n in sorted(counter.items())) or "none"

        lines = [f"read: {tally(self.records)}",
                 f"stored: {self.events} events, {self.triples} triples in {len(self.graphs)} graph(s)",
                 f"mapped to PROV-ML: {tally(self.mapped)}",
                 f"kept as plain PROV types: {tally(self.plain_types)}",
                 f"kept as plain attributes: {tally(self.unmapped_attributes)}",
                 f"not kept: {tally(self.lost)}"]
        if self.notes:
            lines.append(f"notes: {tally(self.notes)}")
        lines += [f"rejected: {r}" for r in self.rejected]
        return "\n".join(lines)

    def ingest(self, kg: KnowledgeGraph, events: Sequence[Mapping[str, Any]], what: str, *,
               links: Sequence[Quad] = ()) -> None:
        """Send one batch of wire-format events through the pipeline and count what was stored;
        a batch the pipeline refuses is named in :attr:`rejected` (with the reason) and the
        import goes on. ``links`` join the batch after translation, validated and stored with it:
        links the wire format has no field for (an MLflow run nested in another run)."""
        try:
            result = (kg.ingest_translated([*kg.translate_events(events), *links], events=len(events))
                      if links else kg.ingest_events(events))
        except (ValidationFailed, EventError) as error:
            self.rejected.append(f"{what}: {error}")
            return
        self.events += result.events
        self.triples += result.triples
        self.graphs = tuple(sorted({*self.graphs, *result.graphs}))


class _Names:
    """Qualified names of one document -> IRIs (non-IRI namespaces get minted ones)."""

    def __init__(self, prefixes: Mapping[str, str], base: str, stem: str) -> None:
        self.base = base
        self.namespaces: dict[str, str] = {}
        self.provml_prefixes = {p for p, ns in prefixes.items() if ns in (PROVML.NS, "prov-ml")
                                or p == "provml"}
        for prefix, namespace in prefixes.items():
            self.namespaces[prefix] = self._namespace(namespace)
        self.namespaces["prov"] = _PROV_NS
        self.namespaces["xsd"] = XSD_NS  # yProv4ML declares the 2000/10 draft namespace
        self.namespaces.setdefault("default", f"{base}prov-json/{slug(stem)}/")
        #: names whose prefix the document does not declare, per prefix (minted all the same)
        self.undeclared: Counter[str] = Counter()

    def _namespace(self, namespace: str) -> str:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", namespace) and (
                "://" in namespace or namespace.startswith("urn:")):
            return namespace
        return f"{self.base}prov-json/{slug(namespace)}/"

    def split(self, name: str) -> tuple[str | None, str]:
        prefix, sep, local = name.partition(":")
        if sep and prefix in self.namespaces and not local.startswith("//"):
            return prefix, local
        return None, name

    def iri(self, name: str) -> NamedNode:
        """The IRI of a qualified name; an absolute IRI (``http://…``, which PROV-JSON does not
        define but tools write) as it is; a name with an undeclared prefix minted in the
        document's namespace, and counted in :attr:`undeclared`."""
        prefix, local = self.split(name)
        if prefix is None and _ABSOLUTE.match(name):
            try:
                return NamedNode(name)
            except ValueError:
                pass  # (not an IRI: minted below, as before)
        elif prefix is None and ":" in name and not name.startswith("_:"):  # (_: a blank id)
            self.undeclared[name.partition(":")[0]] += 1
        namespace = self.namespaces[prefix or "default"]
        return NamedNode(namespace + quote(local, safe="/#:@!$&'()*+,;=-._~%"))


#: an absolute IRI: a scheme with an authority (``https://…``) or a URN (unless the document
#: declares ``urn`` as a prefix)
_ABSOLUTE = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|urn:)[^\s<>\"{}|^`\\]+$")


def _load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not JSON ({error})") from error
    except RecursionError as error:
        raise ValueError(f"{path}: not readable JSON (nested too deeply)") from error
    if not isinstance(document, dict) or not ({"entity", "activity", "agent", "bundle", "prefix"}
                                               & set(document)):
        raise ValueError(f"{path}: not a PROV-JSON document (no prefix, entity, activity, agent "
                         "or bundle at its top level)")
    return document


def _time(value: Any, report: ImportReport, where: str) -> Literal | None:
    """An xsd:dateTime with a zone from ISO text (zone-less: UTC) or a Unix time (s or ms).

    :raises ValueError: a Unix time no date has (``1e300``, ``NaN``), named with ``where``.
    """
    if isinstance(value, dict):
        value = value.get("$")
    if isinstance(value, str) and value.startswith("{"):
        try:
            inner = ast.literal_eval(value)
            value = inner.get("$") if isinstance(inner, dict) else value
        except (ValueError, SyntaxError):
            pass
    moment: datetime
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.match(value)):
        seconds = float(value)
        try:
            moment = datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise ValueError(f"{where}: {value!r} is not a time (a Unix time out of range)") from error
        report.notes["Unix times read as UTC"] += 1
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            report.lost["unreadable times"] += 1
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
            report.notes["times without a zone read as UTC"] += 1
    else:
        report.lost["unreadable times"] += 1
        return None
    return Literal(moment.isoformat(), datatype=XSD.dateTime)


def _literal(value: Any, names: _Names, report: ImportReport, key: str, *,
             numbers: bool = False) -> Literal | NamedNode | None:
    """A PROV-JSON attribute value (of the attribute ``key``) as an RDF term; with ``numbers``,
    a plain string that spells a number becomes that number (yProv4ML writes every
    ``prov:value`` as a string). An ill-typed value (``{"$": "abc", "type": "xsd:int"}``) is
    ``None``, counted in the report as not kept ("ex:n given as an ill-typed xsd:int")."""
    if isinstance(value, dict) and "$" in value:
        raw, kind, lang = value["$"], value.get("type"), value.get("lang")
        if lang:
            if not isinstance(lang, str):  # (a number here was a traceback: a probe, 26th session)
                report.lost[f"{key} given with a language tag that is no string"] += 1
                return None
            return Literal(redact_text(str(raw)), language=lang)
        if kind in QNAME_TYPES:
            return names.iri(str(raw))
        if kind:
            prefix, local = names.split(str(kind))
            datatype = NamedNode((XSD_NS if prefix == "xsd" else names.namespaces[prefix or "default"])
                                 + local)
            # (a JSON boolean's text is true / false, as XML Schema's: not Python's True)
            text = str(raw).lower() if isinstance(raw, bool) else str(raw)
            literal = Literal(redact_text(text), datatype=datatype)
            if ill_typed(literal):
                report.lost[f"{key} given as an ill-typed {kind}"] += 1
                return None
            return literal
        value = raw
    if isinstance(value, bool):
        return Literal(value)
    if isinstance(value, int):
        return Literal(str(value), datatype=XSD.integer)
    if isinstance(value, float):
        return Literal(repr(value), datatype=XSD.double)
    text = str(value)
    if numbers and _NUMBER.match(text.strip()):
        report.notes["numbers given as strings read as numbers"] += 1
        stripped = text.strip()
        if re.match(r"^[+-]?\d+$", stripped):
            return Literal(stripped, datatype=XSD.integer)
        return Literal(repr(float(stripped)), datatype=XSD.double)
    return Literal(redact_text(text))


def _secret(name: str, value: Any) -> bool:
    """Whether the capture client would keep ``[redacted]`` for ``value`` under ``name`` (a
    number only under a password's, a secret's or a PIN's name)."""
    raw = value.get("$") if isinstance(value, dict) else value
    return bool(name) and is_secret_name(name) and redact_named(name, raw) == REDACTED


def _local_name(record_id: str) -> str:
    """The last segment of a record's id, its name (``ex:db_password``, ``ex:run/db_password``,
    ``http://example.org/ns#db_password``: ``db_password``).

    >>> _local_name("ex:db_password"), _local_name("http://example.org/ns#api_key")
    ('db_password', 'api_key')
    """
    return re.split(r"[:/#]", record_id.rstrip("/#"))[-1]


def _values(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else [raw]


def _first(raw: Any) -> Any:
    return next(iter(_values(raw)), None)


def _kind(value: Any) -> str:
    """What a JSON value is, for messages (``a number``, ``null`` ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return ("a string" if isinstance(value, str) else "a list" if isinstance(value, list)
            else "an object")


def _members(value: Any, what: str, members: str) -> dict[str, Any]:
    """``value`` as a JSON object (``null``: empty).

    :raises ValueError: it is something else, e.g. "entity must be an object of records, got a
        number".
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object of {members}, got {_kind(value)}")
    return value


def _statements(value: Any, what: str) -> list[dict[str, Any]]:
    """The statements under one id: an object of attributes, or a list of them (the ``prov``
    package writes an id asserted twice as a list)."""
    items = value if isinstance(value, list) else [value]
    bad = [item for item in items if item is not None and not isinstance(item, dict)]
    if bad or not items:
        raise ValueError(f"{what} must be an object of attributes (or a list of them), "
                         f"got {_kind(bad[0] if bad else value)}")
    return [item or {} for item in items]


def _merged(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The attributes of statements of one record, merged (a key in several: all its values)."""
    merged: dict[str, Any] = {}
    for item in items:
        for key, value in item.items():
            merged[key] = [*_values(merged[key]), *_values(value)] if key in merged else value
    return merged


def _prefixes(doc: dict[str, Any], where: str) -> dict[str, str]:
    prefixes = _members(doc.get("prefix"), f"{where}prefix", "namespaces")
    for prefix, namespace in prefixes.items():
        if not isinstance(namespace, str):
            raise ValueError(f"{where}prefix {prefix} must be a namespace (a string), "
                             f"got {_kind(namespace)}")
    return prefixes


def prov_json_quads(document: dict[str, Any], *, base: str, stem: str,
                    report: ImportReport) -> list[Quad]:
    """The PROV-O (and PROV-ML, where mapped) quads of a PROV-JSON document.

    :raises ValueError: the document does not have PROV-JSON's structure (the message says what
        and where: "entity must be an object of records, got a number").
    """
    prefixes = _prefixes(document, "")
    bundles = _members(document.get("bundle"), "bundle", "bundles")
    names = _Names(prefixes, base, stem)
    quads: list[Quad] = []
    top = NamedNode(f"{base}graph/prov-json/{slug(stem)}")
    _container(document, names, top, quads, report, where="", known=frozenset({"bundle"}))
    for bundle_id, bundle in bundles.items():
        where = f"bundle {bundle_id}: "
        if not isinstance(bundle, dict):
            raise ValueError(f"bundle {bundle_id} must be an object (a PROV-JSON document), "
                             f"got {_kind(bundle)}")
        inner = _Names({**prefixes, **_prefixes(bundle, where)}, base, stem)
        graph = inner.iri(bundle_id)
        report.records["bundle"] += 1
        _container(bundle, inner, graph, quads, report, where=where)
        names.undeclared.update(inner.undeclared)
    for prefix, count in sorted(names.undeclared.items()):
        report.notes[f"names with the undeclared prefix {prefix!r} (minted in the document's namespace)"] += count
    return quads


def _container(doc: dict[str, Any], names: _Names, graph: NamedNode, quads: list[Quad],
               report: ImportReport, *, where: str, known: frozenset[str] = frozenset()) -> None:
    """The records and relations of the document's top level or of one bundle (``where`` names
    it in messages); other keys than ``known`` ones and PROV-JSON's are reported as not kept."""
    def add(s: Any, p: NamedNode, o: Any) -> None:
        quads.append(Quad(s, p, o, graph))

    for key, value in doc.items():
        if key not in known and key != "prefix" and key not in RELATIONS and key not in _RECORD_CLASSES:
            report.lost[f"{key} (not read)"] += len(value) if isinstance(value, dict) else 1
    for relation in RELATIONS:
        for rel_id, raw in _members(doc.get(relation), f"{where}{relation}", "relations").items():
            for rel in _statements(raw, f"{where}{relation} {rel_id}"):
                _relation(relation, rel_id, rel, names, add, report, where)
    for kind, cls in _RECORD_CLASSES.items():
        for record_id, raw in _members(doc.get(kind), f"{where}{kind}", "records").items():
            items = _statements(raw, f"{where}{kind} {record_id}")
            report.records[kind] += len(items)
            _record(names.iri(record_id), record_id, cls, _merged(items), names, add, report,
                    f"{where}{kind} {record_id}")
    _map_stages(quads, graph, report)


def _relation(relation: str, rel_id: str, rel: dict[str, Any], names: _Names, add: Any,
              report: ImportReport, where: str) -> None:
    """One relation as PROV-O's direct property; its time on the entity (generation,
    invalidation) or, where PROV-O has only that, in the qualified form (usage, start, end)."""
    subject_key, prop, object_key = RELATIONS[relation]
    what = f"{where}{relation} {rel_id}"
    report.records[relation] += 1
    if subject_key not in rel or object_key not in rel:
        report.lost[f"{relation} without both ends"] += 1
        return
    for key in (subject_key, object_key):
        if not isinstance(rel[key], str):
            raise ValueError(f"{what}: {key} must be a qualified name (a string), "
                             f"got {_kind(rel[key])}")
    subject, obj = names.iri(rel[subject_key]), names.iri(rel[object_key])
    add(subject, NamedNode(_PROV_NS + prop), obj)
    kept = {subject_key, object_key}
    if relation == "wasDerivedFrom" and "prov:type" in rel and _derivation_types(
            subject, obj, rel["prov:type"], names, add, report):
        kept.add("prov:type")
    if "prov:time" in rel and (relation in _AT_TIMES or relation in _QUALIFIED):
        kept.add("prov:time")
        time = _time(rel["prov:time"], report, f"{what}: prov:time")
        if time is not None and relation in _AT_TIMES:
            add(subject, _AT_TIMES[relation], time)
        elif time is not None:
            qualified, cls = _QUALIFIED[relation]
            digest = hashlib.sha256(f"{subject.value} {obj.value} {time.value}".encode()).hexdigest()
            node = NamedNode(f"{names.base}prov-json-{cls.lower()}/{digest[:32]}")
            add(subject, NamedNode(_PROV_NS + qualified), node)
            add(node, RDF.type, NamedNode(_PROV_NS + cls))
            add(node, NamedNode(_PROV_NS + "entity"), obj)
            add(node, NamedNode(_PROV_NS + "atTime"), time)
    if set(rel) - kept or not rel_id.startswith("_:"):
        report.lost[f"{relation} attributes and ids (qualified form)"] += 1


def _derivation_types(subject: NamedNode, obj: NamedNode, raw: Any, names: _Names, add: Any,
                      report: ImportReport) -> bool:
    """A derivation's ``prov:type``: ``prov:Revision``, ``prov:Quotation`` or
    ``prov:PrimarySource`` as a qualified name adds PROV-O's sub-property
    (``prov:wasRevisionOf``, ``prov:wasQuotedFrom``, ``prov:hadPrimarySource``) beside
    ``prov:wasDerivedFrom`` (provml entails no super-properties: queries and lineage ask for
    ``prov:wasDerivedFrom``). Whether every value was read so; one given as a plain string is a
    string, as the ``prov`` package reads it (a plain derivation), and said in the notes."""
    read = 0
    values = _values(raw)
    for value in values:
        text = str(value.get("$") if isinstance(value, dict) else value)
        prefix, _ = names.split(text)
        prop = DERIVATION_SUBTYPES.get(names.iri(text).value) if prefix is not None else None
        if prop is None:
            continue
        if isinstance(value, dict) and value.get("type") in QNAME_TYPES:
            add(subject, prop, obj)
            read += 1
        elif isinstance(value, str):
            report.notes["derivation types given as strings, not qualified names "
                         "(read as plain derivations, as the prov package reads them)"] += 1
    return read == len(values)


def _map_stages(quads: list[Quad], graph: NamedNode, report: ImportReport) -> None:
    """Activities named as learning stages (yProv4ML's contexts ``training``, ``validation``,
    ``testing``) become PROV-ML stage executions with a minted plan; the activity they are
    informed by becomes the ``provml:LearningProcessExecution`` of a minted experiment."""
    activities = {q.subject for q in quads if q.predicate == RDF.type and q.object == PROV.Activity
                  and isinstance(q.subject, NamedNode)}
    labelled = {q.subject for q in quads if q.predicate == RDFS.label}
    informed: dict[Any, Any] = {q.subject: q.object for q in quads
                                if q.predicate == PROV.wasInformedBy}
    stages = {a: STAGES[a.value.rstrip("/").rsplit("/", 1)[-1].lower()] for a in activities
              if a.value.rstrip("/").rsplit("/", 1)[-1].lower() in STAGES and a in informed}
    roots = {informed[a] for a in stages if informed[a] in activities and informed[a] not in stages}

    def execution(node: Any, cls: NamedNode, plan_cls: NamedNode) -> None:
        plan = NamedNode(node.value + "/plan")
        name = node.value.rstrip("/").rsplit("/", 1)[-1]
        quads.extend([Quad(node, RDF.type, cls, graph), Quad(plan, RDF.type, plan_cls, graph),
                      Quad(plan, RDFS.label, Literal(name), graph),
                      Quad(node, PROV.wasInfluencedBy, plan, graph)])
        if node not in labelled:
            quads.append(Quad(node, RDFS.label, Literal(name), graph))
        report.mapped[cls.value.rsplit("#", 1)[-1]] += 1

    for node, (cls, plan_cls) in stages.items():
        if informed[node] in roots:
            execution(node, cls, plan_cls)
    for node in roots:
        execution(node, PROVML.LearningProcessExecution, PROVML.LearningExperiment)


def _record(node: NamedNode, record_id: str, cls: NamedNode, attributes: dict[str, Any],
            names: _Names, add: Any, report: ImportReport, where: str) -> None:
    add(node, RDF.type, cls)
    mapped: tuple[NamedNode, NamedNode] | None = None
    # a value under a secret's name is not kept (a parameter labelled db_password, in any of its
    # labels: the first alone let a second one's secret through; or with no label, a record
    # whose id names it: ex:db_password); see _literal
    labels = [str(x.get("$") if isinstance(x, dict) else x)
              for x in _values(attributes.get("prov:label")) if x]
    labels.append(_local_name(record_id))
    for key, raw in attributes.items():
        for value in _values(raw):
            inner = value.get("$") if isinstance(value, dict) else value
            if inner is None or isinstance(inner, (dict, list)):
                report.lost[f"{key} given as {_kind(value)}"
                            + (" without a $ value" if isinstance(value, dict) else "")] += 1
                continue
            if key == "prov:type":
                mapped = _type(node, value, cls, names, add, report) or mapped
            elif key in _PROV_ATTRIBUTES:
                prop = _PROV_ATTRIBUTES[key]
                term = (_time(value, report, f"{where}: {key}") if prop in _TIMES
                        else Literal(REDACTED) if prop == PROV.value and any(_secret(text, value) for text in labels)
                        else _literal(value, names, report, key, numbers=prop == PROV.value))
                if term is not None:
                    add(node, prop, term)
            elif key in DERIVATION_ATTRIBUTES and isinstance(value, dict) and value.get("type") in QNAME_TYPES:
                # a revision, quotation or primary source as the prov package's PROV-O reader
                # writes it (provml's PROV-JSON export): the property, and prov:wasDerivedFrom
                source = names.iri(str(inner))
                add(node, DERIVATION_ATTRIBUTES[key], source)
                add(node, PROV.wasDerivedFrom, source)
            elif key.startswith("prov:"):
                report.lost[key] += 1  # prov: attributes PROV-O has no property for (prov:role ...)
            else:
                prop = names.iri(key)
                term = (Literal(REDACTED) if _secret(key.rsplit(":", 1)[-1], value)
                        else _literal(value, names, report, key))
                if term is None:
                    continue
                if prop.value.startswith(PROVML.NS):
                    report.mapped[f"provml:{prop.value[len(PROVML.NS):]} (property)"] += 1
                else:
                    report.unmapped_attributes[key] += 1
                add(node, prop, term)
    if mapped is not None:
        _map_value(node, record_id, mapped, attributes, names, add, report)


def _type(node: NamedNode, value: Any, cls: NamedNode, names: _Names, add: Any,
          report: ImportReport) -> tuple[NamedNode, NamedNode] | None:
    """One ``prov:type`` value, read as the ``prov`` package reads it: a qualified name
    (``{"$": "ex:T", "type": "xsd:QName"}``, or ``prov:QUALIFIED_NAME``) is a class
    (``rdf:type ex:T``); any other value, a plain string among them, is a literal, as the
    ``prov`` package writes it in PROV-O (``rdf:type "ex:T"``). A name of PROV-ML's, by a prefix
    the document declares, is read as the PROV-ML term even as a plain string (yProv4ML writes
    ``"provml:HyperParameter"``): its class, or the value and attribute classes it maps to
    (returned, for :func:`_map_value`)."""
    qualified = isinstance(value, dict) and value.get("type") in QNAME_TYPES and not value.get("lang")
    text = str(value.get("$") if isinstance(value, dict) else value)
    prefix, local = names.split(text)
    if qualified or (isinstance(value, str) and prefix is not None):
        if names.iri(text).value == PROVML.NS + local and local in _PROVML_CLASSES:
            add(node, RDF.type, NamedNode(PROVML.NS + local))  # PROV-ML's own term
            report.mapped[local] += 1
            return None
        if prefix in names.provml_prefixes and local.lower() in PROVML_VALUES and cls == PROV.Entity:
            return PROVML_VALUES[local.lower()]
    if qualified:
        if prefix != "prov":
            report.plain_types[text] += 1
        add(node, RDF.type, names.iri(text))
        return None
    term = _literal(value, names, report, "prov:type")
    if term is not None:
        report.plain_types[text] += 1
        report.notes["prov:type values that are not qualified names (kept as literals, as the prov package reads them)"] += 1
        add(node, RDF.type, term)
    return None


def _map_value(node: NamedNode, record_id: str, mapped: tuple[NamedNode, NamedNode],
               attributes: dict[str, Any], names: _Names, add: Any, report: ImportReport) -> None:
    """Type a PROV entity as a PROV-ML value and mint the attribute it derives from."""
    value_class, attribute_class = mapped
    label = _first(attributes.get("prov:label"))
    label_text = str(label.get("$") if isinstance(label, dict) else label) if label else record_id
    attribute = NamedNode(node.value + "/attribute")
    add(node, RDF.type, value_class)
    add(attribute, RDF.type, attribute_class)
    add(attribute, RDFS.label, Literal(label_text))
    add(node, PROV.wasDerivedFrom, attribute)
    if value_class == PROVML.Model:
        location = next((_first(attributes[k]) for k in _LOCATION_KEYS if k in attributes),
                        label_text)
        text = location.get("$") if isinstance(location, dict) else location
        add(node, PROVML.location, Literal(str(text)))
        if not label:
            add(node, RDFS.label, Literal(Path(str(text)).name or str(text)))
    report.mapped[value_class.value.rsplit("#", 1)[-1]] += 1


def import_prov_json(kg: Any, path: str | Path) -> ImportReport:
    """Read a PROV-JSON file into ``kg`` through enrichment and SHACL validation, atomically.

    :raises ValueError: the file is not JSON or not a PROV-JSON document (or one whose
        structure is not PROV-JSON's: the message says what and where); nothing is stored.
    :raises provml.errors.ValidationFailed: the mapped data breaks the shapes (nothing stored).
    """
    path = Path(path)
    report = ImportReport()
    document = _load(path)
    try:
        quads = prov_json_quads(document, base=kg.base, stem=path.stem, report=report)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    result = kg.ingest_quads(quads)
    report.triples, report.graphs = result.triples, result.graphs
    return report

