"""SPARQL 1.1 query results written from collected rows: JSON, XML, CSV and TSV.

The endpoint reads solutions one by one (to honour the time limit and the row limit) and then
writes them here; pyoxigraph's own ``QuerySolutions.serialize`` would need the untouched
iterator. Each writer follows its W3C recommendation (SPARQL 1.1 Query Results JSON, XML,
CSV/TSV); the W3C ``json-res`` and ``csv-tsv-res`` expectations are in the tests.

Why it is long: every answer of ``/sparql`` is written here, in the worker process that
evaluated it (the rows never cross the pipe): the four results formats, the RDF formats with
their fallbacks to the client's next choice (XML that cannot carry the answer, compacted JSON-LD
that compaction cannot write), and the 406s known before and after evaluation. Split, the one
negotiation would be spread over modules the worker imports together anyway.

>>> from pyoxigraph import Literal, Variable
>>> write_solutions([Variable("x")], [[Literal("a,b")]], "text/csv")
b'x\\r\\n"a,b"\\r\\n'
>>> write_boolean(True, "application/sparql-results+json")
b'{"head": {}, "boolean": true}'
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import orjson
from pyoxigraph import BlankNode, Literal, NamedNode, Triple, Variable

from provml.vocab import RDF, XSD

__all__ = ["Rendered", "refused_unevaluated", "render", "result_kind", "write_boolean", "write_solutions"]

Row = Sequence[Any]


def _json_term(term: Any) -> dict[str, Any]:
    if isinstance(term, NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, Literal):
        out: dict[str, Any] = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype != XSD.string:
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, Triple):
        return {"type": "triple", "value": {
            "subject": _json_term(term.subject),
            "predicate": _json_term(term.predicate),
            "object": _json_term(term.object),
        }}
    raise TypeError(f"not an RDF term: {term!r}")


def _xml_term(term: Any) -> str:
    if isinstance(term, NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, Literal):
        if term.language:
            return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
        if term.datatype not in (XSD.string, RDF.langString):
            return f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
        return f"<literal>{escape(term.value)}</literal>"
    if isinstance(term, Triple):
        return (f"<triple><subject>{_xml_term(term.subject)}</subject>"
                f"<predicate>{_xml_term(term.predicate)}</predicate>"
                f"<object>{_xml_term(term.object)}</object></triple>")
    raise TypeError(f"not an RDF term: {term!r}")


def _csv_field(term: Any) -> str:
    if term is None:
        return ""
    if isinstance(term, NamedNode | Literal):
        text = term.value
    elif isinstance(term, BlankNode):
        text = f"_:{term.value}"
    else:
        text = str(term)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


_NUMBER = {XSD.integer: re.compile(r"[+-]?\d+"), XSD.decimal: re.compile(r"[+-]?\d*\.\d+"),
           XSD.double: re.compile(r"[+-]?(\d+\.\d*|\.?\d+)[eE][+-]?\d+")}


def _tsv_field(term: Any) -> str:
    if term is None:
        return ""
    if isinstance(term, Literal):
        shape = _NUMBER.get(term.datatype)
        if shape is not None and shape.fullmatch(term.value):
            return term.value  # Turtle's short form for numbers, as the W3C examples do
        return str(term).replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return str(term)


def _json_binding(term: Any) -> dict[str, Any]:
    """:func:`_json_term`, the two commonest cases first (by exact type: ~2× faster)."""
    kind = term.__class__
    if kind is NamedNode:
        return {"type": "uri", "value": term.value}
    if kind is Literal and not term.language:
        datatype = term.datatype
        if datatype == XSD.string:
            return {"type": "literal", "value": term.value}
        return {"type": "literal", "value": term.value, "datatype": datatype.value}
    return _json_term(term)


#: rows written with the memo before it is kept or dropped (see :func:`_json`)
_MEMO_TRIAL_ROWS = 1_000


def _json(variables: Sequence[Variable], rows: Sequence[Row]) -> bytes:
    """Each distinct term is written once and shared by the rows that hold it (orjson writes a
    shared object as often as it occurs): results repeat their terms — predicates, classes, the
    same run in every row — and the Q7 of ``benchmarks/endpoint.py`` (21,000 rows, 159 distinct
    terms) was written in 0.04 s instead of 0.14, 100,000 rows of ``?s ?p ?o`` in 0.14 instead
    of 0.28. Where terms hardly repeat the memo costs more than it saves (rows of distinct
    terms: ≈ 1.4× as long), so after :data:`_MEMO_TRIAL_ROWS` rows it is kept only if fewer
    than half of the terms so far were new."""
    names = [v.value for v in variables]
    written: dict[Any, dict[str, Any]] = {}
    known = written.get

    def shared(chunk: Sequence[Row]) -> list[dict[str, Any]]:
        out = []
        for row in chunk:
            binding = {}
            for name, term in zip(names, row, strict=True):
                if term is not None:
                    value = known(term)
                    if value is None:
                        value = written[term] = _json_binding(term)
                    binding[name] = value
            out.append(binding)
        return out

    bindings = shared(rows[:_MEMO_TRIAL_ROWS])
    rest = rows[_MEMO_TRIAL_ROWS:]
    if 2 * len(written) < sum(map(len, bindings)):  # terms repeat: keep the memo
        bindings += shared(rest)
    else:
        bindings += [{name: _json_binding(term) for name, term in zip(names, row, strict=True)
                      if term is not None} for row in rest]
    body = {"head": {"vars": names}, "results": {"bindings": bindings}}
    return orjson.dumps(body)  # terms come from Oxigraph (Rust): valid UTF-8, no surrogate


def _xml(variables: Sequence[Variable], rows: Sequence[Row]) -> bytes:
    names = [v.value for v in variables]
    parts = ['<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">',
             "<head>", *(f"<variable name={quoteattr(n)}/>" for n in names), "</head><results>"]
    for row in rows:
        parts.append("<result>")
        for name, term in zip(names, row, strict=True):
            if term is not None:
                parts.append(f"<binding name={quoteattr(name)}>{_xml_term(term)}</binding>")
        parts.append("</result>")
    parts.append("</results></sparql>\n")
    return "".join(parts).encode()


def write_solutions(variables: Sequence[Variable], rows: Sequence[Row], media_type: str) -> bytes:
    """Serialize SELECT solutions (``rows`` aligned with ``variables``, None = unbound).

    :param media_type: one of ``negotiation.RESULTS_OFFERS``.
    :raises ValueError: an unknown media type.
    """
    if media_type in ("application/sparql-results+json", "application/json"):
        return _json(variables, rows)
    if media_type in ("application/sparql-results+xml", "application/xml"):
        return _xml(variables, rows)
    if media_type == "text/csv":
        lines = [",".join(_csv_field(v.value and Literal(v.value)) for v in variables)]
        lines += [",".join(_csv_field(t) for t in row) for row in rows]
        return ("\r\n".join(lines) + "\r\n").encode()
    if media_type == "text/tab-separated-values":
        lines = ["\t".join(str(v) for v in variables)]
        lines += ["\t".join(_tsv_field(t) for t in row) for row in rows]
        return ("\n".join(lines) + "\n").encode()
    raise ValueError(f"no writer for {media_type}")


def write_boolean(value: bool, media_type: str) -> bytes:
    """Serialize an ASK result as JSON or XML.

    :raises ValueError: an unknown media type.
    """
    if media_type in ("application/sparql-results+json", "application/json"):
        return json.dumps({"head": {}, "boolean": value}).encode()
    if media_type in ("application/sparql-results+xml", "application/xml"):
        return ('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                f"<head/><boolean>{'true' if value else 'false'}</boolean></sparql>\n").encode()
    raise ValueError(f"no writer for {media_type}")


#: the XML media types the endpoint writes
XML_TYPES = frozenset({"application/sparql-results+xml", "application/xml", "text/xml", "application/rdf+xml"})
#: what makes pyoxigraph's XML writers' output not XML: characters XML 1.0 cannot hold (C0
#: controls but tab, LF, CR; U+FFFE, U+FFFF), written as they are, and the empty local name
#: RDF/XML gets for a property IRI with none (``urn:123``, ``http://ex.org/p/``)
_NOT_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]|<oxprefix:[\s/>]")


#: why an answer is not offered as JSON-LD
TRIPLE_TERMS = "the answer holds triple terms, which JSON-LD 1.1 cannot carry"
#: why an answer is not offered as XML
NOT_XML = ("the answer holds characters XML 1.0 cannot carry (controls other than tab, line feed, "
           "carriage return) or a property IRI RDF/XML cannot write as a name")


def xml_safe(media: str, body: bytes) -> bool:
    """Whether ``body``, written as ``media``, can be read as what it says (not an XML type, or
    well-formed as far as the writers' known failures go).

    >>> xml_safe("application/rdf+xml", b"<a>x</a>"), xml_safe("application/xml", b"<a>" + bytes([0]) + b"</a>")
    (True, False)
    """
    return media not in XML_TYPES or _NOT_XML.search(body) is None


@dataclass(frozen=True)
class Rendered:
    """A query result written for a client: ``status`` 200 with ``body`` and ``content_type``,
    or 406 (``offers`` lists what this result could have been)."""

    status: int
    kind: str
    content_type: str = ""
    body: bytes = b""
    truncated: bool = False
    offers: tuple[str, ...] = ()
    reason: str = ""  # why a 406 lists fewer offers than the kind has
    message: str = ""  # a 406's whole message, when it is not "no acceptable format"

    @property
    def refusal(self) -> str:
        """The message of a 406: why, when known, and the formats this answer has."""
        if self.message:
            return self.message
        return (f"no acceptable format{': ' + self.reason if self.reason else ''}; "
                f"this query answers one of {self.offers}")


def answer_too_large(size: int, limit: int) -> str:
    """The refusal of an answer of ``size`` bytes past ``limit`` (``MAX_ANSWER_MB``)."""
    return (f"the answer is {size / 2**20:,.1f} MiB, more than this endpoint sends "
            f"({limit / 2**20:,.1f} MiB, MAX_ANSWER_MB): narrow the query (LIMIT, fewer or "
            "shorter values; for a graph, a CONSTRUCT with LIMIT), or take the whole store "
            "from /dump.nq.gz")


#: a query's form (its first keyword after the prologue) -> the kind of its result
_FORMS = {"SELECT": "solutions", "ASK": "boolean", "CONSTRUCT": "triples", "DESCRIBE": "triples"}


def result_kind(sparql: str) -> str | None:
    """The kind of result ``sparql`` gives (``solutions``, ``boolean`` or ``triples``), read
    from its form: the first word after the ``PREFIX`` and ``BASE`` declarations, with the
    tokenizer of the scans before parsing (:func:`~provml.endpoint.limits.sparql_tokens`, which
    passes over comments). None when the text starts otherwise: not a query, and the parser
    says why.

    >>> result_kind("PREFIX ex: <http://e.org/> # the prologue\\nDESCRIBE ex:a")
    'triples'
    >>> result_kind("select * { ?s ?p ?o }"), result_kind("INSERT DATA {}")
    ('solutions', None)
    """
    from provml.endpoint.limits import sparql_tokens

    for match in sparql_tokens(sparql)[1]:
        kind = match.lastgroup
        if kind in ("comment", "iri"):  # a comment; the IRI of a PREFIX or BASE
            continue
        if kind != "word":
            return None
        word = match.group().upper()
        if word in _FORMS:
            return _FORMS[word]
        if word not in ("PREFIX", "BASE") and not word.endswith(":"):  # ex: of a PREFIX
            return None
    return None


def _offers(kind: str) -> tuple[str, ...]:
    """The formats a result of ``kind`` is written in (the server's order of preference)."""
    from provml.endpoint.negotiation import BOOLEAN_OFFERS, GRAPH_OFFERS, RESULTS_OFFERS

    if kind == "triples":
        return tuple(GRAPH_OFFERS)
    return tuple(BOOLEAN_OFFERS) if kind == "boolean" else tuple(RESULTS_OFFERS)


def refused_unevaluated(sparql: str, accept: str | None) -> Rendered | None:
    """The 406 of a query whose form has no format ``accept`` allows (a ``DESCRIBE`` asked for
    as SPARQL results, a ``SELECT`` as Turtle), known before it is evaluated: the store does
    no work for an answer that cannot be sent. None when a format may fit (:func:`render`
    decides once the result is known: a graph with triple terms has no JSON-LD, an answer XML
    cannot carry no XML).

    None too when ``accept`` takes the error shape (JSON, HTML, plain text: a browser): such a
    client reads a syntax error's 400, which must come first, and pyoxigraph parses a query
    only as it evaluates it; its query is evaluated, then refused, as before.

    >>> refused_unevaluated("DESCRIBE <http://e.org/a>", "application/sparql-results+json").status
    406
    >>> refused_unevaluated("DESCRIBE <http://e.org/a>", "text/turtle, */*;q=0.1") is None
    True
    >>> refused_unevaluated("SELECT * {", "text/html") is None
    True
    """
    if not accept:  # every form has a default format
        return None
    # (kept for headers of at most 256 characters, as best_match keeps its parses)
    refused = _refused_kinds(accept) if len(accept) <= 256 else _refused_kinds.__wrapped__(accept)
    if not refused:  # (``*/*``, a browser's: the query is not even read)
        return None
    kind = result_kind(sparql)
    if kind is None or kind not in refused:
        return None
    return Rendered(406, kind, offers=_offers(kind))


@functools.lru_cache(maxsize=256)
def _refused_kinds(accept: str) -> frozenset[str]:
    """The kinds of result ``accept`` allows no format for (none when it takes the error
    shape: see :func:`refused_unevaluated`); kept for the last 256 headers, as clients send
    the same few (long ones are not kept: 256 of 60 KiB held 18 MiB, a review)."""
    from provml.endpoint.negotiation import ERROR_OFFERS, best_match

    if best_match(accept, ERROR_OFFERS) is not None:
        return frozenset()
    return frozenset(kind for kind in ("solutions", "boolean", "triples")
                     if best_match(accept, _offers(kind)) is None)


def render(outcome: Any, accept: str | None) -> Rendered:
    """Write an :class:`~provml.endpoint.sparql.outcomes.Outcome` in the best format that
    ``accept`` allows (406 when none): SPARQL results for solutions and booleans, RDF for
    triples.

    >>> from provml.endpoint.sparql.outcomes import Outcome
    >>> render(Outcome("boolean", boolean=True), "application/sparql-results+json").body
    b'{"head": {}, "boolean": true}'
    >>> render(Outcome("boolean"), "text/turtle").status
    406
    """
    from pyoxigraph import DefaultGraph, Quad, serialize

    from provml.endpoint.negotiation import (
        JSONLD,
        RDF_FORMATS,
        NotAcceptable,
        Unwritable,
        negotiate,
    )
    from provml.query.serialization import serialize_quads

    offers = _offers(outcome.kind)

    def write(chosen: str, form: str | None) -> bytes:
        if outcome.kind == "triples":
            rows = outcome.rows
            if chosen == JSONLD:  # compacted with the ontologies' context, or expanded (also
                # where compaction cannot write an IRI, oilgas:x: it was a 500 for any query)
                if any(t.subject.__class__ is Triple or t.object.__class__ is Triple for t in rows):
                    raise Unwritable(TRIPLE_TERMS)  # (406 or the next choice, not a failure)
                return serialize_quads(rows, "jsonld", profile=form or "compacted", expand_unwritable=True)
            fmt = RDF_FORMATS[chosen]
            if fmt.supports_datasets:
                rows = [Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in rows]
            body = bytes(serialize(rows, format=fmt) or b"")
        elif outcome.kind == "boolean":
            body = bytes(write_boolean(outcome.boolean, chosen))
        else:
            body = bytes(write_solutions(outcome.variables, outcome.rows, chosen))
        if not xml_safe(chosen, body):  # never broken XML
            raise Unwritable(NOT_XML, XML_TYPES)
        return body

    try:
        sent = negotiate(accept, offers, write,
                         refusal=f"no acceptable format; this query answers one of {offers}")
    except NotAcceptable as refusal:
        return Rendered(406, outcome.kind, offers=offers, message=str(refusal))
    content_type = sent.content_type
    if sent.media != JSONLD and content_type.endswith("json"):
        content_type += "; charset=utf-8"
    return Rendered(200, outcome.kind, content_type, sent.body, outcome.truncated)
