"""`provml import prov-json` on what the `prov` package and hand-written files hold beyond the
common case: ids asserted twice, times on every kind of relation, statements provml does not
read, malformed structure and values that are not PROV values, `prov:type` given as a string
(compared with the `prov` package's own PROV-O), ill-typed literals and derivation subtypes.
Through the real CLI into a real on-disk store; what was kept is queried back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_imports import run, select

from provml.knowledge import open_kg

PROV = "http://www.w3.org/ns/prov#"
EX = "http://example.org/"


def imported(tmp_path: Path, document: Any, *, store: Path | None = None) -> tuple[int, str, str]:
    file = tmp_path / "doc.json"
    file.write_text(document if isinstance(document, str) else json.dumps(document))
    return run("import", "prov-json", str(file), "--store", str(store or tmp_path / "store"),
               "--format", "json")


def test_an_id_asserted_twice_is_read_as_both_statements(tmp_path: Path) -> None:
    """The `prov` package writes a record or relation whose id is asserted twice as a list of
    attribute objects: both records' attributes are kept, both relations stored."""
    import prov.model

    doc = prov.model.ProvDocument()
    doc.add_namespace("ex", EX)
    doc.entity("ex:e", {"ex:k": "1"})
    doc.entity("ex:e", {"ex:j": "2", "prov:label": "e"})
    doc.activity("ex:a")
    doc.used("ex:a", "ex:e", identifier="ex:u")
    doc.used("ex:a", "ex:f", identifier="ex:u")
    file = tmp_path / "dup.json"
    doc.serialize(str(file), format="json")
    written = json.loads(file.read_text())
    assert isinstance(written["entity"]["ex:e"], list) and isinstance(written["used"]["ex:u"], list)
    store = tmp_path / "store"
    code, out, err = run("import", "prov-json", str(file), "--store", str(store), "--format", "json")
    assert code == 0, (out, err)
    report = json.loads(out)
    assert report["records"]["used"] == 2
    assert not any("without both ends" in k for k in report["lost"])
    rows = select(store, f"""SELECT ?k ?j ?l WHERE {{ <{EX}e> <{EX}k> ?k ; <{EX}j> ?j ;
        <http://www.w3.org/2000/01/rdf-schema#label> ?l }}""")
    assert rows == [{"k": "1", "j": "2", "l": "e"}]
    used = select(store, f"SELECT ?e WHERE {{ <{EX}a> <{PROV}used> ?e }} ORDER BY ?e")
    assert [r["e"] for r in used] == [f"{EX}e", f"{EX}f"]


def test_times_on_usage_start_end_and_invalidation_are_kept(tmp_path: Path) -> None:
    """A usage's, start's and end's time in PROV-O's qualified form (``prov:atTime``), an
    invalidation's as the entity's ``prov:invalidatedAtTime``; the shapes accept them and the
    report loses nothing."""
    document = {
        "prefix": {"ex": EX},
        "activity": {"ex:a": {}, "ex:s": {}}, "entity": {"ex:e": {}, "ex:t": {}},
        "used": {"_:u": {"prov:activity": "ex:a", "prov:entity": "ex:e",
                         "prov:time": "2024-01-02T03:04:05Z"}},
        "wasStartedBy": {"_:s": {"prov:activity": "ex:a", "prov:trigger": "ex:t",
                                 "prov:time": "2024-01-02T03:00:00Z"}},
        "wasEndedBy": {"_:n": {"prov:activity": "ex:a", "prov:trigger": "ex:t",
                               "prov:time": "2024-01-02T04:00:00Z"}},
        "wasInvalidatedBy": {"_:i": {"prov:entity": "ex:e", "prov:activity": "ex:s",
                                     "prov:time": "2024-01-02T05:00:00Z"}},
    }
    store = tmp_path / "store"
    code, out, err = imported(tmp_path, document)
    assert code == 0, (out, err)
    assert json.loads(out)["lost"] == {}
    rows = select(store, f"""SELECT ?kind ?what ?t WHERE {{ <{EX}a> ?q ?n .
        ?n a ?kind ; <{PROV}entity> ?what ; <{PROV}atTime> ?t .
        VALUES (?q ?kind) {{ (<{PROV}qualifiedUsage> <{PROV}Usage>)
            (<{PROV}qualifiedStart> <{PROV}Start>) (<{PROV}qualifiedEnd> <{PROV}End>) }} }}
        ORDER BY ?t""")
    assert [(r["kind"], r["what"], r["t"][:19]) for r in rows] == [
        (f"{PROV}Start", f"{EX}t", "2024-01-02T03:00:00"),
        (f"{PROV}Usage", f"{EX}e", "2024-01-02T03:04:05"),
        (f"{PROV}End", f"{EX}t", "2024-01-02T04:00:00")]
    (invalidated,) = select(store, f"SELECT ?t WHERE {{ <{EX}e> <{PROV}invalidatedAtTime> ?t }}")
    assert invalidated["t"].startswith("2024-01-02T05:00:00")


def test_statements_not_read_are_reported(tmp_path: Path) -> None:
    """``mentionOf``, statements of PROV-Dictionary and keys PROV-JSON does not have are not
    read; the report counts them as not kept."""
    document = {
        "prefix": {"ex": EX}, "entity": {"ex:e1": {}},
        "mentionOf": {"_:m": {"prov:specificEntity": "ex:e2", "prov:generalEntity": "ex:e1",
                              "prov:bundle": "ex:b"}},
        "derivedByInsertionFrom": {"_:d1": {}, "_:d2": {}},
        "bundle": {"ex:b": {"entity": {"ex:e2": {}}, "plan": {"ex:p": {}}}},
    }
    code, out, err = imported(tmp_path, document)
    assert code == 0, (out, err)
    assert json.loads(out)["lost"] == {"mentionOf (not read)": 1,
                                       "derivedByInsertionFrom (not read)": 2,
                                       "plan (not read)": 1}


MALFORMED = {
    "entity a number": ('{"entity": 5}', "entity must be an object of records, got a number"),
    "entity a list": ('{"entity": [{"ex:e": {}}]}', "entity must be an object of records, got a list"),
    "record a string": ('{"prefix": {"ex": "http://example.org/"}, "entity": {"ex:e": "x"}}',
                        "entity ex:e must be an object of attributes (or a list of them), got a string"),
    "relations a list": ('{"prefix": {}, "used": [1]}', "used must be an object of relations, got a list"),
    "relation end null": ('{"prefix": {}, "used": {"_:u": {"prov:activity": null, "prov:entity": "e"}}}',
                          "used _:u: prov:activity must be a qualified name (a string), got null"),
    "prefix a string": ('{"prefix": "ex", "entity": {}}', "prefix must be an object of namespaces, got a string"),
    "namespace a number": ('{"prefix": {"ex": 5}, "entity": {}}',
                           "prefix ex must be a namespace (a string), got a number"),
    "bundle a list": ('{"bundle": []}', "bundle must be an object of bundles, got a list"),
    "bundle a string": ('{"bundle": {"b": "x"}}', "bundle b must be an object (a PROV-JSON document), got a string"),
    "in a bundle": ('{"bundle": {"b": {"activity": 1}}}', "bundle b: activity must be an object of records, got a number"),
    "deep nesting": ('{"entity": {"e": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}}",
                     "not readable JSON (nested too deeply)"),
    "Unix time 1e300": ('{"activity": {"a": {"prov:startTime": 1e300}}}',
                        "activity a: prov:startTime: 1e+300 is not a time (a Unix time out of range)"),
    "Unix time 1e999": ('{"activity": {"a": {"prov:startTime": "1e999"}}}',
                        "activity a: prov:startTime: '1e999' is not a time (a Unix time out of range)"),
    "relation time 1e999": ('{"used": {"_:u": {"prov:activity": "a", "prov:entity": "e", "prov:time": 1e999}}, '
                            '"entity": {}}', "used _:u: prov:time: inf is not a time"),
}


@pytest.mark.parametrize("text,message", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_structure_exits_2_naming_what_and_where(tmp_path: Path, text: str,
                                                           message: str) -> None:
    """Structure that is not PROV-JSON's: exit 2 with a message that says what is wrong and
    where, no traceback, and the store as it was."""
    store = tmp_path / "store"
    assert imported(tmp_path, {"prefix": {"ex": EX}, "entity": {"ex:kept": {"ex:k": "1"}}})[0] == 0

    def quads() -> set[str]:
        with open_kg(store) as kg:
            return {str(q) for q in kg.store.quads()}

    before = quads()
    code, _, err = imported(tmp_path, text)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert quads() == before


def test_null_and_object_values_are_reported_not_stored_as_python_text(tmp_path: Path) -> None:
    """JSON null, an object that is not a typed value and a nested list are not PROV attribute
    values: not stored (as ``None`` or a Python repr) but counted as not kept."""
    document = {"prefix": {"ex": EX},
                "entity": {"ex:e": {"ex:n": None, "ex:o": {"a": {"b": 1}}, "ex:l": [[1]],
                                    "ex:ok": "1"}}}
    store = tmp_path / "store"
    code, out, err = imported(tmp_path, document)
    assert code == 0, (out, err)
    assert json.loads(out)["lost"] == {"ex:n given as null": 1,
                                       "ex:o given as an object without a $ value": 1,
                                       "ex:l given as a list": 1}
    rows = select(store, f"SELECT ?p ?v WHERE {{ <{EX}e> ?p ?v FILTER(isLiteral(?v)) }}")
    assert rows == [{"p": f"{EX}ok", "v": "1"}]


def test_absolute_iris_are_kept_and_undeclared_prefixes_reported(tmp_path: Path) -> None:
    """An id written as an absolute IRI was minted inside the document's namespace
    (`{base}prov-json/doc/http://other.org/e`), and a name with an undeclared prefix was minted
    without a word (an interop audit, 20th session; the `prov` package refuses both). Absolute
    IRIs are kept as they are; undeclared prefixes are still minted, and reported."""
    document = {"prefix": {"ex": EX},
                "entity": {"http://other.org/e": {}, "urn:uuid:0b1c6d7e-1111-4a2b-8c3d-000000000001": {},
                           "nope:x": {}, "nope:y": {"nope:attr": "1"}, "ex:z": {}}}
    code, out, err = imported(tmp_path, document)
    assert code == 0, (out, err)
    entities = {r["e"] for r in select(tmp_path / "store", f"SELECT ?e WHERE {{ ?e a <{PROV}Entity> }}")}
    assert {"http://other.org/e", "urn:uuid:0b1c6d7e-1111-4a2b-8c3d-000000000001", EX + "z"} <= entities
    assert not [e for e in entities if "other.org" in e and e != "http://other.org/e"]
    notes = json.loads(out)["notes"]
    assert notes["names with the undeclared prefix 'nope' (minted in the document's namespace)"] == 3


@pytest.mark.parametrize("record", [
    {"prov:label": ["run config", "db_password"], "prov:value": "hunter2"},
    [{"prov:label": "config entry"}, {"prov:label": "db_password", "prov:value": "hunter2"}],
], ids=["two labels", "asserted twice"])
def test_a_secret_under_any_of_its_labels_is_redacted(tmp_path: Path, record: Any) -> None:
    """Read with several labels (a list, or the `prov` package's id asserted twice), a value
    was redacted only when its first label named a secret: `hunter2` was stored (a review,
    20th session)."""
    code, out, err = imported(tmp_path, {"prefix": {"ex": EX}, "entity": {"ex:p": record}})
    assert code == 0, (out, err)
    values = {r["v"] for r in select(tmp_path / "store", f"SELECT ?v WHERE {{ <{EX}p> <{PROV}value> ?v }}")}
    assert values == {"[redacted]"}


def _types(quads: Any) -> set[tuple[str, str]]:
    """(entity, rdf:type object as N-Triples) of the example.org subjects among ``quads``."""
    return {(q.subject.value, str(q.object)) for q in quads
            if q.predicate.value == RDF_TYPE and q.subject.value.startswith(EX)}


RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def test_a_string_prov_type_is_a_literal_as_the_prov_package_reads_it(tmp_path: Path) -> None:
    """A ``prov:type`` given as a plain JSON string is a string (PROV-JSON's reading, and the
    ``prov`` package's): its PROV-O is ``rdf:type "ex:T"``; only a qualified name
    (``xsd:QName``, or ``prov:QUALIFIED_NAME`` of ``prov`` 2.x) is a class. It used to become a
    class IRI (minted in the document's namespace when its prefix was not declared). What is
    stored is compared with what ``prov`` itself writes as PROV-O for the same document."""
    import prov.model
    from pyoxigraph import RdfFormat, parse

    document = {"prefix": {"ex": EX}, "entity": {
        "ex:e1": {"prov:type": "ex:T"},
        "ex:e2": {"prov:type": {"$": "ex:T", "type": "xsd:QName"}},
        "ex:e3": {"prov:type": {"$": "ex:T", "type": "prov:QUALIFIED_NAME"}},
        "ex:e4": {"prov:type": "a model, not a class"},
        "ex:e5": {"prov:type": "prov:Plan"},
        "ex:e6": {"prov:type": ["ex:A", {"$": "ex:B", "type": "xsd:QName"}]}}}
    code, out, err = imported(tmp_path, document)
    assert code == 0, (out, err)
    with open_kg(tmp_path / "store") as kg:
        stored = _types(kg.store.quads())
    reference = prov.model.ProvDocument.deserialize(content=json.dumps(document), format="json")
    written = reference.serialize(format="rdf", rdf_format="turtle")
    assert stored == _types(parse(written.encode() if isinstance(written, str) else written,
                                  format=RdfFormat.TURTLE))
    assert (f"{EX}e1", '"ex:T"') in stored and (f"{EX}e2", f"<{EX}T>") in stored
    assert (f"{EX}e5", '"prov:Plan"') in stored
    report = json.loads(out)
    assert report["lost"] == {}
    assert report["plain_types"] == {"ex:T": 3, "a model, not a class": 1, "prov:Plan": 1, "ex:A": 1, "ex:B": 1}


def test_ill_typed_literals_are_not_stored_but_reported(tmp_path: Path) -> None:
    """A typed value whose text is no value of its type (``"abc"^^xsd:int``, a 13th month, a date
    without a time as ``xsd:dateTime``, 300 as ``xsd:unsignedByte``) was stored as an ill-typed
    literal; it is not stored now, and the report names the attribute and the type. Well-typed
    values, past 64 bits too, are kept."""
    document = {"prefix": {"ex": EX}, "entity": {"ex:e": {
        "ex:n": {"$": "abc", "type": "xsd:int"},
        "ex:d": [{"$": "2020-13-45", "type": "xsd:dateTime"}, {"$": "2020-01-01", "type": "xsd:dateTime"}],
        "ex:b": {"$": "300", "type": "xsd:unsignedByte"},
        "prov:value": {"$": "x", "type": "xsd:double"},
        "ex:ok": {"$": "5", "type": "xsd:int"},
        "ex:when": {"$": "2020-01-01T00:00:00Z", "type": "xsd:dateTime"},
        "ex:big": {"$": "18446744073709551615", "type": "xsd:unsignedLong"},
        "ex:flag": {"$": True, "type": "xsd:boolean"}}}}
    store = tmp_path / "store"
    code, out, err = imported(tmp_path, document)
    assert code == 0, (out, err)
    assert json.loads(out)["lost"] == {"ex:n given as an ill-typed xsd:int": 1,
                                       "ex:d given as an ill-typed xsd:dateTime": 2,
                                       "ex:b given as an ill-typed xsd:unsignedByte": 1,
                                       "prov:value given as an ill-typed xsd:double": 1}
    rows = select(store, f"SELECT ?p ?v WHERE {{ <{EX}e> ?p ?v FILTER(isLiteral(?v)) }} ORDER BY ?p")
    assert [(r["p"], r["v"]) for r in rows] == [(f"{EX}big", "18446744073709551615"), (f"{EX}flag", "true"),
                                              (f"{EX}ok", "5"), (f"{EX}when", "2020-01-01T00:00:00Z")]


def test_derivation_subtypes_keep_their_prov_o_property(tmp_path: Path) -> None:
    """A derivation typed ``prov:Revision``, ``prov:Quotation`` or ``prov:PrimarySource`` became a
    plain ``prov:wasDerivedFrom``; it is stored with PROV-O's property for it too
    (``prov:wasRevisionOf``, ``prov:wasQuotedFrom``, ``prov:hadPrimarySource``), and still as
    ``prov:wasDerivedFrom``, which lineage queries ask for (provml entails no super-properties).
    A type given as a plain string is a string (a plain derivation, said in the notes), as the
    ``prov`` package reads it. provml's PROV-JSON export (written by ``prov``, which writes these
    properties as attributes) imports back to the same quads."""
    derivations = {"_:r": ("ex:v2", "ex:v1", {"$": "prov:Revision", "type": "xsd:QName"}),
                   "_:q": ("ex:v2", "ex:quote", {"$": "prov:Quotation", "type": "prov:QUALIFIED_NAME"}),
                   "_:p": ("ex:v2", "ex:source", {"$": "prov:PrimarySource", "type": "xsd:QName"}),
                   "_:s": ("ex:v3", "ex:v2", "prov:Revision")}
    document = {"prefix": {"ex": EX},
                "entity": {e: {} for e in ("ex:v1", "ex:v2", "ex:v3", "ex:quote", "ex:source")},
                "wasDerivedFrom": {k: {"prov:generatedEntity": g, "prov:usedEntity": u, "prov:type": t}
                                   for k, (g, u, t) in derivations.items()}}
    store = tmp_path / "store"
    code, out, err = imported(tmp_path, document)
    assert code == 0, (out, err)
    rows = select(store, f"""SELECT ?s ?p ?o WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?p), "{PROV}")
        && STRSTARTS(STR(?s), "{EX}")) }} ORDER BY ?s ?p ?o""")
    assert [(r["s"][len(EX):], r["p"][len(PROV):], r["o"][len(EX):]) for r in rows] == [
        ("v2", "hadPrimarySource", "source"), ("v2", "wasDerivedFrom", "quote"),
        ("v2", "wasDerivedFrom", "source"), ("v2", "wasDerivedFrom", "v1"),
        ("v2", "wasQuotedFrom", "quote"), ("v2", "wasRevisionOf", "v1"), ("v3", "wasDerivedFrom", "v2")]
    report = json.loads(out)
    assert report["lost"] == {"wasDerivedFrom attributes and ids (qualified form)": 1}  # the string
    assert report["notes"] == {"derivation types given as strings, not qualified names "
                               "(read as plain derivations, as the prov package reads them)": 1}
    exported = tmp_path / "export.json"
    assert run("export", "--store", str(store), "--format", "prov-json", "-o", str(exported))[0] == 0
    again = tmp_path / "again"
    code, out, err = run("import", "prov-json", str(exported), "--store", str(again), "--format", "json")
    assert code == 0, (out, err)

    def quads(where: Path) -> set[str]:
        with open_kg(where) as kg:
            return {str(q) for q in kg.store.quads() if q.subject.value.startswith(EX)}

    assert quads(again) == quads(store)


def test_a_language_tag_that_is_no_string_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """``{"$": "x", "lang": 5}`` was a traceback (a probe, twenty-sixth session); the value is
    reported as not kept and the rest stored."""
    document = {"prefix": {"ex": EX}, "entity": {"ex:e": {"ex:label": {"$": "x", "lang": 5},
                                                            "ex:ok": {"$": "y", "lang": "en"}}}}
    code, out, err = imported(tmp_path, document)
    assert code == 0, (out, err)
    assert json.loads(out)["lost"] == {"ex:label given with a language tag that is no string": 1}
    rows = select(tmp_path / "store", f"SELECT ?v WHERE {{ <{EX}e> <{EX}ok> ?v }}")
    assert [r["v"] for r in rows] == ["y"]
