"""Terms of the imports, one at a time: which PROV-JSON values are qualified names, which
derivations are revisions, quotations or primary sources, which literals are well-typed, and
what text the store writes back for a literal.

Well-typedness and the store's own form of a literal are asked of Oxigraph, the store provml
writes to (an in-memory store, never the knowledge graph): its parsers read XML Schema's
lexical forms strictly ("2020-01-01" is no ``xsd:dateTime``, "1_000" no ``xsd:int``), and
what it writes back is what the knowledge graph will hold ("007" is stored as 7).

>>> from pyoxigraph import Literal, NamedNode
>>> from provml.vocab import XSD
>>> ill_typed(Literal("abc", datatype=NamedNode(XSD.NS + "int"))), ill_typed(Literal("5", datatype=XSD.integer))
(True, False)
>>> stored_lexical(Literal("007", datatype=XSD.integer)), stored_lexical(Literal("1e3", datatype=XSD.double))
('7', '1000')
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from pyoxigraph import Literal, NamedNode, QuerySolutions, Store, Variable

from provml.vocab import PROV, XSD

__all__ = ["DERIVATION_ATTRIBUTES", "DERIVATION_SUBTYPES", "INTEGER_BOUNDS", "QNAME_TYPES",
           "ill_typed", "stored_lexical"]

#: the ``type`` of a PROV-JSON value that is a qualified name: the submission's ``xsd:QName``,
#: and ``prov:QUALIFIED_NAME``, which the ``prov`` package wrote before 3.0
QNAME_TYPES = frozenset({"xsd:QName", "prov:QUALIFIED_NAME"})
#: a derivation's ``prov:type`` (a qualified name) -> PROV-O's sub-property of
#: ``prov:wasDerivedFrom`` for it (the ``prov`` package's PROV-O writer qualifies them the same way)
DERIVATION_SUBTYPES: dict[str, NamedNode] = {
    PROV.NS + "Revision": NamedNode(PROV.NS + "wasRevisionOf"),
    PROV.NS + "Quotation": NamedNode(PROV.NS + "wasQuotedFrom"),
    PROV.NS + "PrimarySource": PROV.hadPrimarySource,
}
#: the same properties as record attributes, as the ``prov`` package's PROV-O reader writes them
#: (``"prov:wasRevisionOf": {"$": "ex:f", "type": "xsd:QName"}``: provml's PROV-JSON export)
DERIVATION_ATTRIBUTES: dict[str, NamedNode] = {
    "prov:" + p.value[len(PROV.NS):]: p for p in DERIVATION_SUBTYPES.values()}

#: XML Schema datatypes Oxigraph reads as values, each read by its own cast function
_OWN_CASTS = frozenset({"boolean", "decimal", "integer", "double", "float", "dateTime", "date",
                        "time", "duration", "yearMonthDuration", "dayTimeDuration", "gYear",
                        "gYearMonth", "gMonth", "gMonthDay", "gDay"})
#: the integer types derived from ``xsd:integer`` -> the bounds of their value spaces (XML Schema
#: 1.1 Part 2, section 3.4): Oxigraph reads them all as ``xsd:integer``, without their bounds
INTEGER_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1),
    "nonNegativeInteger": (0, None), "positiveInteger": (1, None),
    "long": (-2**63, 2**63 - 1), "int": (-2**31, 2**31 - 1), "short": (-2**15, 2**15 - 1),
    "byte": (-2**7, 2**7 - 1), "unsignedLong": (0, 2**64 - 1), "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1), "unsignedByte": (0, 2**8 - 1),
}
#: XML Schema's lexical forms of integers and decimals (Part 2, 3.4.13.1 and 3.3.3.1), for the
#: values past Oxigraph's range (an integer past 64 bits, a decimal past its range or its 18
#: fractional digits): they are XML Schema's all the same, and the store keeps their text
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")

_store: Store | None = None
_lock = threading.Lock()


def _probe() -> Store:
    """The empty in-memory store the questions are asked of."""
    global _store
    with _lock:
        if _store is None:
            _store = Store()
        return _store


def _ask(expression: str, literal: Literal) -> Literal | None:
    """``expression`` (over ``?l``) evaluated by Oxigraph with ``literal`` as ``?l``: ``None``
    for an error (a cast that cannot read the literal)."""
    rows = _probe().query(f"SELECT ?l ({expression} AS ?v) WHERE {{}}",
                          substitutions={Variable("l"): literal})
    assert isinstance(rows, QuerySolutions)
    value = next(iter(rows))["v"]
    return value if isinstance(value, Literal) else None


@lru_cache(maxsize=4096)
def _ill_typed(lexical: str, datatype: str) -> bool:
    name = datatype[len(XSD.NS):] if datatype.startswith(XSD.NS) else ""
    bounds = INTEGER_BOUNDS.get(name)
    cast = ("integer" if bounds else "dateTime" if name == "dateTimeStamp"
            else name if name in _OWN_CASTS else None)
    if cast is None:
        return False  # a type the store reads as text (strings, xsd:anyURI ...) or not XML Schema's
    literal = Literal(lexical, datatype=NamedNode(datatype))
    value = _ask(f"<{XSD.NS}{cast}>(?l)", literal)
    if value is None:
        if cast == "integer" and _INTEGER.fullmatch(lexical):
            value = Literal(lexical, datatype=XSD.integer)  # past 64 bits
        else:
            return not (cast == "decimal" and _DECIMAL.fullmatch(lexical))
    if name == "dateTimeStamp":  # a dateTime with a time zone
        zone = _ask(f"TZ(<{XSD.NS}dateTime>(?l))", literal)
        return zone is None or not zone.value
    if bounds:
        try:
            number = int(value.value)
        except ValueError:  # past Python's 4,300 digits: past every bound but the sign's
            number = -(10**4301) if value.value.startswith("-") else 10**4301
        low, high = bounds
        return (low is not None and number < low) or (high is not None and number > high)
    return False


def ill_typed(literal: Literal) -> bool:
    """Whether ``literal`` has an XML Schema datatype whose values Oxigraph reads (numbers,
    booleans, times, durations, Gregorian dates) and a text that is none of them
    (``"abc"^^xsd:int``, ``"2020-13-45"^^xsd:dateTime``, ``"300"^^xsd:unsignedByte``). Strings,
    ``xsd:anyURI``, binary types and other vocabularies' datatypes are never ill-typed here.

    >>> from provml.vocab import XSD
    >>> [ill_typed(Literal(t, datatype=NamedNode(XSD.NS + d))) for t, d in (("2020-01-01", "dateTime"),
    ...  ("1_000", "int"), ("18446744073709551615", "unsignedLong"), ("-1", "unsignedLong"), ("1e3", "decimal"))]
    [True, True, False, True, True]
    """
    if literal.language:
        return False
    return _ill_typed(literal.value, literal.datatype.value)


@lru_cache(maxsize=4096)
def _stored(lexical: str, datatype: str) -> str:
    value = _ask("STR(?l)", Literal(lexical, datatype=NamedNode(datatype)))
    return lexical if value is None else value.value


def stored_lexical(literal: Literal) -> str:
    """The text the store writes back for ``literal``: Oxigraph keeps numbers, booleans and times
    as values and writes them in its own canonical form (``"+5"^^xsd:integer`` as ``5``, a
    double without exponent, ``1.0`` as ``1``).

    >>> from provml.vocab import XSD
    >>> [stored_lexical(Literal(t, datatype=d)) for t, d in (("+5", XSD.integer), ("1.50", XSD.double),
    ...  ("0.5", XSD.double), ("1", XSD.boolean))]
    ['5', '1.5', '0.5', 'true']
    """
    if literal.language:
        return literal.value
    return _stored(literal.value, literal.datatype.value)
