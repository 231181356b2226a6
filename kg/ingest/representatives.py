"""Validate each kind of node once: the focus nodes of a batch grouped by what the shapes can see.

Why it is long: the shape analysis (which shapes look one hop only) and the node views it
justifies must agree term by term; they are kept side by side so a change to one is seen in the other.

An ingest batch holds hundreds of nodes that look the same to the shapes: every batch execution of
an epoch has the same types, the same properties with literals of the same datatypes, links to
nodes of the same types. SHACL validates a focus node from its own neighbourhood only, when the
shapes look no further than one hop (checked here, shape by shape: :func:`profile`). So the
focus nodes are grouped by a *view* — everything any of the shapes could test about the node —
and the engine validates one representative of each group:

* the view of a node is the multiset of its statements whose predicate some shape's path follows
  (forwards, or backwards for an inverse path), each with the predicate and the abstraction of
  the other end; ``rdf:type`` objects are kept exactly;
* an IRI or blank node at the other end is abstracted to its kind and its set of types in the data
  (what ``sh:class``, ``sh:nodeKind`` and a nested ``rdf:type`` count can see), plus its answers to
  every ``sh:pattern``, ``sh:in``/``sh:hasValue`` and length bound of the shapes;
* a literal to its datatype, language, whether its lexical form is valid for the datatype, the
  digit skeleton of its lexical form (``2026-01-01T00:00:00Z`` → ``9999-99-99T99:99:99Z``), its
  answers to every pattern, value list, length and range bound of the shapes, and a time's
  timezone; a literal whose datatype or range comparison is not known here is kept exactly (a
  group of its own), and so is one an engine may read otherwise than this code (ill-formed
  here, integers and decimals past 18 digits, times past microseconds or with a timezone past
  14:00, a number whose comparison with a bound changes at double or float precision) — a view
  must get one verdict from every engine, as views found clean are remembered;
* property-pair constraints (``sh:lessThan``, ``sh:lessThanOrEquals``, ``sh:equals``,
  ``sh:disjoint``) add the outcome of each comparison, or the exact values when not comparable.

When a representative has no result, its whole group has none. When it has results (any
severity), every member of its group is validated by the engine, so the results reported are the
engine's own, node by node. Shapes that use anything else (other targets, longer paths, SPARQL
constraints, ``sh:closed`` ...) make :func:`profile` return ``None``: the data is then validated
whole. Data with ``rdfs:subClassOf`` statements is also validated whole (SHACL reads them for
targets and ``sh:class``).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad, Store, Triple

from provml.vocab import OWL, RDF, RDFS, SH, XSD

__all__ = ["Interner", "Profile", "Verdicts", "profile", "grouped", "groups", "views"]

_S = SH.NS
#: parameters that need nothing beyond the node's own view
_PLAIN = {
    "message", "severity", "name", "description", "order", "group", "deactivated", "defaultValue",
    "targetClass", "nodeKind", "datatype", "class", "minCount", "maxCount", "pattern", "flags",
    "in", "hasValue", "minInclusive", "maxInclusive", "minExclusive", "maxExclusive", "minLength",
    "maxLength", "languageIn", "uniqueLang", "qualifiedMinCount", "qualifiedMaxCount",
}
_NESTED = {"or", "and", "xone", "not", "node", "qualifiedValueShape"}
_PAIRS = {"lessThan", "lessThanOrEquals", "equals", "disjoint"}
_BOUNDS = ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive")
_META = {RDF.type, RDFS.label, RDFS.comment, RDFS.seeAlso, RDFS.isDefinedBy, OWL.versionInfo}

Path = tuple[tuple[bool, NamedNode], ...]  # (inverse?, predicate) alternatives


@dataclass(frozen=True)
class Profile:
    """What the shapes can test about a node and its values (see the module's text)."""

    targets: frozenset[NamedNode]
    patterns: tuple[re.Pattern[str], ...]
    lists: tuple[frozenset[Any], ...]
    lengths: tuple[int, ...]
    bounds: tuple[tuple[str, Literal], ...]
    pairs: tuple[tuple[str, Path, NamedNode], ...]
    inverse: frozenset[NamedNode]
    forward: frozenset[NamedNode]


class _Unsupported(Exception):
    pass


def profile(shapes: Sequence[Quad | Triple]) -> Profile | None:
    """The profile of a shapes graph, or ``None`` when grouping would not be sound for it."""
    store = Store()
    store.extend(q if isinstance(q, Quad) else Quad(*q) for q in shapes)
    try:
        return _Analysis(store).run()
    except _Unsupported:
        return None


class _Analysis:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.patterns: list[re.Pattern[str]] = []
        self.lists: list[frozenset[Any]] = []
        self.lengths: set[int] = set()
        self.bounds: list[tuple[str, Literal]] = []
        self.pairs: list[tuple[str, Path, NamedNode]] = []
        self.seen: set[tuple[Any, int, bool]] = set()
        self.inverse: set[NamedNode] = set()
        self.forward: set[NamedNode] = set()

    def objects(self, s: Any, p: NamedNode) -> list[Any]:
        return [q.object for q in self.store.quads_for_pattern(s, p, None)]

    def one(self, s: Any, name: str) -> Any:
        found = self.objects(s, NamedNode(_S + name))
        return found[0] if found else None

    def items(self, head: Any) -> list[Any]:
        out = []
        while head != RDF.nil:
            first = self.one_rdf(head, RDF.first)
            if first is None:
                raise _Unsupported("broken list")
            out.append(first)
            head = self.one_rdf(head, RDF.rest)
            if head is None:
                raise _Unsupported("broken list")
        return out

    def one_rdf(self, s: Any, p: NamedNode) -> Any:
        found = self.objects(s, p)
        return found[0] if found else None

    def run(self) -> Profile:
        sh = _S
        for bad in ("targetNode", "targetSubjectsOf", "targetObjectsOf", "target", "sparql", "closed",
                    "rule", "qualifiedValueShapesDisjoint", "zeroOrMorePath", "oneOrMorePath",
                    "zeroOrOnePath", "sequencePath"):
            if next(iter(self.store.quads_for_pattern(None, NamedNode(sh + bad), None)), None) is not None:
                raise _Unsupported(bad)
        for q in self.store:
            if isinstance(q.predicate, NamedNode) and q.predicate.value.startswith(sh):
                name = q.predicate.value[len(sh):]
                if name not in _PLAIN | _NESTED | _PAIRS | {"property", "path", "alternativePath",
                                                             "inversePath", "ignoredProperties"}:
                    raise _Unsupported(name)
        targets: set[NamedNode] = set()
        roots = set()
        for q in self.store.quads_for_pattern(None, NamedNode(sh + "targetClass"), None):
            if isinstance(q.object, NamedNode):
                targets.add(q.object)
            roots.add(q.subject)
        for kind in (RDFS.Class, OWL.Class):
            for q in self.store.quads_for_pattern(None, RDF.type, kind):
                node_shape = next(iter(self.store.quads_for_pattern(q.subject, RDF.type, SH.NodeShape)), None)
                if node_shape is not None and isinstance(q.subject, NamedNode):
                    targets.add(q.subject)
                    roots.add(q.subject)
        for shape in roots:
            self.shape(shape, level=0, property_shape=False)
        patterns = tuple({(p.pattern, p.flags): p for p in self.patterns}.values())
        return Profile(frozenset(targets), patterns, tuple(dict.fromkeys(self.lists)), tuple(sorted(self.lengths)),
                       tuple(dict.fromkeys(self.bounds)), tuple(dict.fromkeys(self.pairs)), frozenset(self.inverse),
                       frozenset(self.forward | {RDF.type} | {p2 for _, _, p2 in self.pairs}))

    def path(self, node: Any) -> Path:
        if isinstance(node, NamedNode):
            self.forward.add(node)
            return ((False, node),)
        inverse = self.one(node, "inversePath")
        if inverse is not None:
            if not isinstance(inverse, NamedNode):
                raise _Unsupported("nested inverse path")
            self.inverse.add(inverse)
            return ((True, inverse),)
        alternatives = self.one(node, "alternativePath")
        if alternatives is not None:
            out: list[tuple[bool, NamedNode]] = []
            for item in self.items(alternatives):
                out.extend(self.path(item))
            return tuple(out)
        raise _Unsupported("path")

    def shape(self, shape: Any, *, level: int, property_shape: bool) -> None:
        """Check one shape applied at ``level`` hops from the focus node (0 or 1)."""
        if not property_shape and self.one(shape, "path") is not None:
            # a property shape reached as a node shape (a root sh:PropertyShape, a member of
            # sh:or, sh:not, sh:node): its path was never read, the views did not hold it, and
            # nodes with and without the property were one group (a review, 23rd session)
            property_shape = True
        key = (shape, level, property_shape)
        if key in self.seen:
            return
        self.seen.add(key)
        sh = _S
        path: Path | None = None
        if property_shape:
            path = self.path(self.one(shape, "path"))
            if level >= 2 or (level == 1 and path != ((False, RDF.type),)):
                raise _Unsupported("a property of a value node (two hops)")
        value_level = level + 1 if property_shape else level
        for q in self.store.quads_for_pattern(shape, None, None):
            p, o = q.predicate, q.object
            if not p.value.startswith(sh):
                if p in _META:
                    continue
                raise _Unsupported(p.value)
            name = p.value[len(sh):]
            if value_level >= 2 and name in {"class", "property"} | _PAIRS:
                raise _Unsupported(f"{name} two hops away")  # a class's own types are not in the view
            if name in ("pattern", "minLength", "maxLength") and not isinstance(o, Literal):
                raise _Unsupported(f"{name} with a non-literal value")
            if name == "pattern":
                assert isinstance(o, Literal)
                flags = self.one(shape, "flags")
                self.patterns.append(re.compile(o.value, _flags(flags.value if flags is not None else "")))
            elif name in ("in", "hasValue"):
                self.lists.append(frozenset(self.items(o) if name == "in" else [o]))
            elif name in ("minLength", "maxLength"):
                assert isinstance(o, Literal)
                self.lengths.add(int(o.value))
            elif name in _BOUNDS:
                if not isinstance(o, Literal):
                    raise _Unsupported("bound")
                self.bounds.append((name, o))
            elif name in _PAIRS:
                if level != 0 or path is None or not isinstance(o, NamedNode):
                    raise _Unsupported("pair constraint")
                self.pairs.append((name, path, o))
            elif name == "property":
                self.shape(o, level=value_level, property_shape=True)
            elif name in ("node", "not", "qualifiedValueShape"):
                self.shape(o, level=value_level, property_shape=False)
            elif name in ("or", "and", "xone"):
                for member in self.items(o):
                    self.shape(member, level=value_level, property_shape=False)


def _flags(text: str) -> int:
    out = 0
    for f in text:
        out |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}.get(f, 0)
        if f not in "imsx":
            raise _Unsupported(f"regex flag {f}")
    return out


# -- literal checks ----------------------------------------------------------------------------------
_INT = re.compile(r"[+-]?[0-9]+")
_DEC = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_DBL = re.compile(r"([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?INF|NaN)")
_DT = re.compile(r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?")
#: the digit skeleton as ``re.sub("[0-9]", "9", text)`` gives it, by table (≈ 8x faster)
_NINES = str.maketrans("012345678", "999999999")
_ZONE = re.compile(r":[0-9]{2}(?P<fraction>\.[0-9]+)?(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?$")
_INT_RANGES: dict[str, tuple[int | None, int | None]] = {
    "integer": (None, None), "nonNegativeInteger": (0, None), "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1), "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1), "short": (-(2**15), 2**15 - 1), "byte": (-128, 127),
    "unsignedLong": (0, 2**64 - 1), "unsignedInt": (0, 2**32 - 1), "unsignedShort": (0, 65535),
    "unsignedByte": (0, 255),
}
_NUMERIC = {*_INT_RANGES, "decimal", "double", "float"}


def _ordinary(lexical: str, local: str) -> tuple[bool, str | None]:
    """Whether a literal valid by :func:`_valid` is one every engine reads as this code does, so
    that its abstraction may stand for it, and its timezone (kept exactly in the abstraction:
    ``+02:00`` and ``+05:00`` have one digit skeleton). Ordinary: integers and decimals of at
    most 18 digits (pyshacl-turbo compares an ``xsd:integer`` past 64 bits, or a decimal of 21
    digits, as below 0; doubles of any length it reads as Python does), times with at most
    microseconds and a timezone XSD allows (at most 14:00 away; pyshacl-turbo rejects
    ``+15:00``, Python accepts it)."""
    if local == "dateTime":
        found = _ZONE.search(lexical)
        if found is None or len(found["fraction"] or "") > 7:  # the dot and 6 digits
            return False, None
        zone = found["zone"]
        if zone is None or zone == "Z":
            return True, zone
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        return minutes < 60 and (hours, minutes) <= (14, 0), zone
    if local in _NUMERIC and local not in ("double", "float"):
        return sum(map(lexical.count, "0123456789")) <= 18, None  # (no list a digit)
    return True, None


@functools.lru_cache(maxsize=4096)  # a view reads a time twice: its abstraction, its comparisons
def _datetime(text: str) -> datetime.datetime | None:
    if not _DT.fullmatch(text):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _valid(lexical: str, local: str) -> bool | None:
    """Whether the lexical form is valid for the XSD datatype ``local``; ``None`` when not known.

    >>> _valid("0" * 5000 + "7", "int"), _valid("9" * 5000, "int"), _valid("9" * 5000, "integer")
    (True, False, True)
    """
    if local in _INT_RANGES:
        if not _INT.fullmatch(lexical):
            return False
        low, high = _INT_RANGES[local]
        digits = lexical.lstrip("+-").lstrip("0")
        if len(digits) > 20:  # past every bounded type, and past int()'s 4,300-digit limit
            return (low is None) if lexical.startswith("-") else (high is None)
        n = int(digits or "0") * (-1 if lexical.startswith("-") else 1)
        return (low is None or n >= low) and (high is None or n <= high)
    if local == "decimal":
        return bool(_DEC.fullmatch(lexical))
    if local in ("double", "float"):
        return bool(_DBL.fullmatch(lexical))
    if local == "dateTime":
        return _datetime(lexical) is not None
    if local == "boolean":
        return lexical in ("true", "false", "1", "0")
    if local == "string":
        return True
    return None


@functools.lru_cache(maxsize=4096)  # the shapes' bounds are compared with every value
def _value(term: Literal) -> Any:
    """A comparable Python value of an XSD numeric or dateTime literal, else ``None``."""
    dt = term.datatype.value
    if not dt.startswith(XSD.NS):
        return None
    local = dt[len(XSD.NS):]
    if local in _NUMERIC and _valid(term.value, local):
        try:
            return ("n", decimal.Decimal(term.value))
        except decimal.InvalidOperation:
            return None
    if local == "dateTime":
        stamp = _datetime(term.value)
        if stamp is not None and stamp.tzinfo is not None:
            return ("t", stamp)
    return None


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "minInclusive": lambda v, b: v >= b, "maxInclusive": lambda v, b: v <= b,
    "minExclusive": lambda v, b: v > b, "maxExclusive": lambda v, b: v < b,
    "lessThan": lambda a, b: a < b, "lessThanOrEquals": lambda a, b: a <= b,
}


def _family(datatype: str) -> str:
    local = datatype[len(XSD.NS):] if datatype.startswith(XSD.NS) else None
    return "n" if local in _NUMERIC else "t" if local == "dateTime" else datatype


def _compare(op: str, a: Literal, b: Literal) -> bool | None:
    """The outcome of comparing two literals, or ``None`` when this code cannot say what every
    engine says: not comparable here, or numbers whose outcome changes with the precision they
    are compared at (exactly, as doubles, as floats for an ``xsd:float``: pyshacl-turbo compares
    ``"100.000001"^^xsd:float`` as the float 100.0)."""
    va, vb = _value(a), _value(b)
    if va is None or vb is None or va[0] != vb[0] or (va[0] == "n" and (va[1].is_nan() or vb[1].is_nan())):
        return None
    op_ = _OPS[op]
    outcome = bool(op_(va[1], vb[1]))
    if va[0] == "n":
        single = a.datatype == XSD.float or b.datatype == XSD.float
        try:
            ways = [(float(va[1]), float(vb[1]))]
            if single:
                ways.append((_single(va[1]), _single(vb[1])))
        except OverflowError:
            return None
        if any(bool(op_(x, y)) != outcome for x, y in ways):
            return None
    return outcome


def _single(value: decimal.Decimal) -> float:
    """``value`` rounded to an IEEE single (``xsd:float``) precision float."""
    return float(struct.unpack("f", struct.pack("f", float(value)))[0])


#: most literals (or IRIs) an :class:`Interner` remembers the abstraction of across data sets
MEMO_LIMIT = 50_000
#: longest literal text remembered across data sets: a longer one gets a number of its own
#: (:meth:`Interner.fresh`), so refused batches' large texts are not kept (8 refused batches of
#: 3 MiB strings left 530 MB behind; a probe, 22nd session)
MEMO_TEXT = 1_024


class Interner:
    """Numbers for abstractions of value nodes, shared by the batches validated in one process, so
    that a view means the same in every batch; with it, the views whose representative was found
    clean (:class:`Verdicts`); and, for the one profile it is first used with, the numbers of the
    value nodes abstracted so far whose abstraction does not depend on the data set: a literal's
    (its datatype, lexical form and language against the profile) and an IRI's answers to the
    profile's patterns, value lists and lengths — so a batch pays for the literals and IRIs of
    earlier batches (iterations, names, values, parents) by one lookup. A cache: cleared past
    :data:`MEMO_LIMIT` entries, the numbers stay."""

    __slots__ = ("ids", "clean", "_lock", "profile", "literals", "iri_text", "_fresh")

    def __init__(self) -> None:
        import threading

        self.ids: dict[Any, int] = {}
        self.clean: set[Any] = set()
        self._lock = threading.Lock()
        self.profile: Profile | None = None
        self.literals: dict[Literal, int] = {}
        self.iri_text: dict[NamedNode, tuple[Any, ...]] = {}
        self._fresh = 0

    def memos(self, prof: Profile) -> tuple[dict[Literal, int], dict[NamedNode, tuple[Any, ...]]]:
        """The shared memos for ``prof``, or fresh ones when this interner serves another profile."""
        if self.profile is None:
            self.profile = prof
        if self.profile is not prof:
            return {}, {}
        if len(self.literals) > MEMO_LIMIT:
            self.literals.clear()
        if len(self.iri_text) > MEMO_LIMIT:
            self.iri_text.clear()
        return self.literals, self.iri_text

    def fresh(self) -> int:
        """A number no abstraction has (negative): a value node that stands for itself alone,
        validated by the engine, whose abstraction is not remembered."""
        with self._lock:
            self._fresh -= 1
            return self._fresh

    def __call__(self, made: Any) -> int:
        found = self.ids.get(made)
        if found is None:
            with self._lock:  # two threads must never give two abstractions one number
                found = self.ids.setdefault(made, len(self.ids) + 1)  # from 1: ``memo.get`` 0 is none
        return found


class _Views:
    """The views of the focus nodes of one data set, under one profile.

    Built for speed, as it runs on every ingested batch: predicates are numbered once (a
    statement no shape's path follows is dropped while reading), value nodes are abstracted once
    each and numbered, and a view is a tuple of sorted number pairs (a multiset, as the engine's
    counts see it).
    """

    def __init__(self, prof: Profile, triples: Sequence[Triple | Quad], interner: Interner | None = None) -> None:
        self.prof = prof
        self.intern = interner or Interner()
        # predicate numbers: rdf:type is 0; the forward ones and the inverse ones
        pids: dict[NamedNode, int] = {RDF.type: 0}
        for p in sorted(prof.forward | prof.inverse, key=lambda n: n.value):
            pids.setdefault(p, len(pids))
        self.pids = pids
        inverse = {pids[p] for p in prof.inverse}
        forward = {pids[p] for p in prof.forward}
        #: whether the data must be validated whole: it states ``rdfs:subClassOf``, or holds a
        #: triple term (which whole validation refuses, whatever predicate states it: the
        #: neighbourhoods read here leave out what no path follows). Noted while reading, not by
        #: a scan of its own (2.5 % of ``provml load``'s time held the GIL)
        self.whole = False
        sub = pids.setdefault(RDFS.subClassOf, -1)
        #: a node's statements some shape follows forwards (``rdf:type`` always), and those
        #: pointing at it that one follows backwards: (predicate number, the other end, the statement)
        self.out: dict[Any, list[tuple[int, Any, Triple | Quad]]] = {}
        self.inc: dict[Any, list[tuple[int, Any, Triple | Quad]]] = {}
        self.types: dict[Any, set[Any]] = {}
        out, inc, types = self.out, self.inc, self.types
        get = pids.get
        for t in triples:
            pid = get(t.predicate)
            if pid is None:  # a statement no path follows is invisible to every shape
                if t.object.__class__ is Triple:
                    self.whole = True
                continue
            if pid == sub:
                self.whole = True
                if pid < 0:
                    continue
            s, o = t.subject, t.object
            if pid == 0:
                found = types.get(s)
                if found is None:
                    types[s] = {o}
                else:
                    found.add(o)
            if pid in forward:
                entries = out.get(s)
                if entries is None:
                    out[s] = [(pid, o, t)]
                else:
                    entries.append((pid, o, t))
            if pid in inverse and not isinstance(o, Literal):
                entries = inc.get(o)
                if entries is None:
                    inc[o] = [(pid, s, t)]
                else:
                    entries.append((pid, s, t))
        self.memo: dict[Any, int] = {}
        self.literals, self.iri_text = self.intern.memos(prof)
        self.type_ids: dict[Any, int] = {}
        self.kinds: dict[str, tuple[str, bool, tuple[bool, ...]]] = {}
        self.pairs = [(kind, tuple((inv, pids[p]) for inv, p in path), pids[other])
                      for kind, path, other in prof.pairs]

    def term(self, term: Any) -> int:
        """The number of the abstraction of a value node (see the module's text)."""
        found = self.memo.get(term)
        if found is not None:
            return found
        prof = self.prof
        if isinstance(term, Literal):
            found = self.literals.get(term)
            if found is not None:  # abstracted in an earlier data set: the same abstraction
                self.memo[term] = found
                return found
            dt = term.datatype.value
            kind = self.kinds.get(dt)
            if kind is None:
                local = dt[len(XSD.NS):] if dt.startswith(XSD.NS) else ""
                family = _family(dt)
                kind = self.kinds[dt] = (local, dt == XSD.string.value,
                                         tuple(family == _family(b.datatype.value) for _, b in prof.bounds))
            local, plain, comparable = kind
            lexical = term.value
            if len(lexical) > MEMO_TEXT:
                found = self.memo[term] = self.intern.fresh()
                return found
            valid = _valid(lexical, local) if local else None
            ordinary, zone = _ordinary(lexical, local) if valid else (False, None)
            if not ordinary:
                # unknown datatype, ill-formed (an engine may still accept it: pyshacl-turbo reads
                # hour 24 and year 0, Python does not) or out of the ordinary: exactly
                made: Any = ("L", term)
            else:
                bounds: list[Any] = []
                for (op, bound), same in zip(prof.bounds, comparable, strict=True):
                    if not same:
                        bounds.append("x")  # never comparable: the same failure for every such value
                        continue
                    outcome = _compare(op, term, bound)
                    bounds.append(term if outcome is None else outcome)  # not comparable here: exactly
                made = (
                    "l", dt, term.language, valid,
                    None if plain else lexical.translate(_NINES),
                    zone,
                    tuple([bool(p.search(lexical)) for p in prof.patterns]),
                    tuple([term in values for values in prof.lists]),
                    tuple([len(lexical) >= n for n in prof.lengths]),
                    tuple([len(lexical) <= n for n in prof.lengths]),
                    tuple(bounds),
                )
            found = self.memo[term] = self.literals[term] = self.intern(made)
            return found
        if isinstance(term, NamedNode):
            answers = self.iri_text.get(term)
            if answers is None:
                text = term.value
                answers = self.iri_text[term] = (
                    tuple([bool(p.search(text)) for p in prof.patterns]),
                    tuple([term in values for values in prof.lists]),
                    tuple([len(text) >= n for n in prof.lengths]),
                    tuple([len(text) <= n for n in prof.lengths]),
                )
            made = ("i", frozenset(self.types.get(term, ())), *answers)
        else:
            text = term.value
            made = ("b", frozenset(self.types.get(term, ())), (), tuple(term in values for values in prof.lists), (), ())
        found = self.memo[term] = self.intern(made)
        return found

    def type_id(self, term: Any) -> int:
        """The number of a type, kept exactly."""
        found = self.type_ids.get(term)
        if found is None:
            found = self.type_ids[term] = self.intern(("T", term))
        return found

    def values(self, node: Any, path: tuple[tuple[bool, int], ...]) -> list[Any]:
        out: list[Any] = []
        for inverse, predicate in path:
            source = self.inc if inverse else self.out
            out.extend(o for p, o, _t in source.get(node, ()) if p == predicate)
        return out

    def view(self, node: Any) -> Any:
        memo, term, type_id = self.memo.get, self.term, self.type_id
        forward = sorted([(p, type_id(o)) if p == 0 else (p, memo(o) or term(o)) for p, o, _t in self.out.get(node, ())])
        backward = sorted([(p, memo(s) or term(s)) for p, s, _t in self.inc.get(node, ())])
        pairs = []
        for kind, path, other in self.pairs:
            left, right = self.values(node, path), self.values(node, ((False, other),))
            outcomes: list[Any] = []
            for a in left:
                for b in right:
                    if kind in ("equals", "disjoint"):
                        outcomes.append(a == b)
                    elif isinstance(a, Literal) and isinstance(b, Literal):
                        got = _compare(kind, a, b)
                        outcomes.append((a, b) if got is None else got)
                    else:
                        outcomes.append((a, b))
            pairs.append(tuple(sorted(outcomes, key=repr)))
        return (term(node), tuple(forward), tuple(backward), tuple(pairs))

    def neighbourhood(self, nodes: Iterable[Any]) -> list[Triple | Quad]:
        """What validating ``nodes`` needs, read from this index: their statements some shape's
        path follows, those pointing at them that one follows backwards, and the types of the
        nodes at the other ends (a statement no path follows is seen by no shape: the module's
        text). Before the twenty-ninth session two passes over the data found them, all
        predicates included: a large group's one fresh view scanned 10^5 statements twice."""
        wanted = set(nodes)
        out, inc = self.out, self.inc
        found: list[Triple | Quad] = []
        near: set[Any] = set()
        for node in wanted:
            for _p, other, t in out.get(node, ()):
                found.append(t)
                near.add(other)
            for _p, other, t in inc.get(node, ()):
                found.append(t)
                near.add(other)
        near -= wanted
        for node in near:
            found.extend(t for p, _o, t in out.get(node, ()) if p == 0)
        return found


def views(prof: Profile, triples: Sequence[Triple | Quad],
          interner: Interner | None = None) -> dict[Any, list[Any]] | None:
    """The focus nodes of ``triples`` by view (each list's first member: the representative);
    with a shared ``interner``, equal views of different data sets are equal keys. ``None``
    when the data must be validated whole (it states ``rdfs:subClassOf``, or holds a triple
    term under a predicate no path follows)."""
    found = grouped(prof, triples, interner)
    return None if found is None else found[0]


def grouped(prof: Profile, triples: Sequence[Triple | Quad], interner: Interner | None = None
            ) -> tuple[dict[Any, list[Any]], Callable[[Iterable[Any]], list[Triple | Quad]]] | None:
    """:func:`views`, with what validating some of the nodes needs (:meth:`_Views.neighbourhood`),
    read from the index the views were made from; keep it no longer than the validation (it
    holds every statement of the data a shape can see)."""
    seen = _Views(prof, triples, interner)
    if seen.whole:
        return None
    by_view: dict[Any, list[Any]] = {}
    targets = prof.targets
    view = seen.view
    for node, classes in seen.types.items():
        if isinstance(node, Literal) or classes.isdisjoint(targets):
            continue
        key = view(node)
        members = by_view.get(key)
        if members is None:
            by_view[key] = [node]
        else:
            members.append(node)
    return by_view, seen.neighbourhood


def groups(prof: Profile, triples: Sequence[Triple | Quad]) -> list[list[Any]] | None:
    """The focus nodes of ``triples`` grouped by view (first member: the representative), or
    ``None`` when the data must be validated whole (it states ``rdfs:subClassOf``)."""
    found = views(prof, triples)
    return None if found is None else list(found.values())


class Verdicts:
    """The views whose representative the engine found without any result, kept across batches
    (one per shapes profile and process): a node whose view is among them has no result either,
    by the same argument that lets one representative stand for its group.

    Bounded: past ``limit`` numbered abstractions (literals of unknown datatypes are kept
    exactly, so their numbers grow with the data) the numbers and the views are forgotten
    together — a new :class:`Interner`; a validation keeps the one it started with.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self.interner = Interner()

    def current(self) -> Interner:
        interner = self.interner
        if len(interner.ids) > self.limit or len(interner.clean) > self.limit:
            interner = self.interner = Interner()
        return interner


@functools.lru_cache(maxsize=8)
def cached_profile(paths: tuple[str, ...]) -> Profile | None:
    """The profile of the shapes files (parsed once per process)."""
    from provml.store.rdfio import parse_file

    return profile([q for p in paths for q in parse_file(p)])

