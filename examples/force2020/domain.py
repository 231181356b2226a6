"""The domain graph: instance data of the Oil & Gas ontology for the six wells.

Built from ``wells.csv`` and the LAS headers: the basin, the fields and licence blocks, each
well, its wellbore, its wireline log (depth range, step, samples) and the log's curves
(mnemonic, unit symbol as written, QUDT unit IRI where one fits). The lithology classes are the
SKOS concepts of the ontology itself (``provml.vocab.OILGAS.sandstone`` …). The provenance refers
to these resources through domain references (``provml:kgReference``).
"""

from __future__ import annotations

import gzip
from pathlib import Path

from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad

from provml.vocab import OILGAS, RDF, RDFS, XSD, qudt_unit

from .common import BASIN_IRI, DATA_DIR, Well, read_wells

#: LAS unit (as written in the files) -> QUDT unit code
QUDT_UNITS = {"m": "M", "in": "IN", "g/cm3": "GM-PER-CentiM3", "ohm.m": "OHM-M",
              "us/ft": "MicroSEC-PER-FT", "m3/m3": "M3-PER-M3", "mV": "MilliV", "m/h": "M-PER-HR"}


def _double(x: float) -> Literal:
    return Literal(repr(float(x)), datatype=XSD.double)


def _int(n: int) -> Literal:
    return Literal(str(int(n)), datatype=XSD.integer)


def las_header(path: Path) -> tuple[list[tuple[str, str]], float, float, float]:
    """The curves (mnemonic, unit) and the start, stop and step of a gzipped LAS file."""
    import lasio

    with gzip.open(path, "rt", encoding="latin-1") as fh:
        las = lasio.read(fh, ignore_data=True, engine="normal")
    curves = [(c.mnemonic, c.unit or "") for c in las.curves]
    return curves, float(las.well.STRT.value), float(las.well.STOP.value), float(las.well.STEP.value)


def build(data_dir: Path = DATA_DIR) -> list[Quad]:
    """The domain graph's triples (in the default graph; the loader puts them in their graph)."""
    triples: list[tuple[NamedNode, NamedNode, NamedNode | Literal]] = []

    def add(s: str | NamedNode, p: NamedNode, o: str | NamedNode | Literal) -> None:
        triples.append((NamedNode(s) if isinstance(s, str) else s, p,
                        NamedNode(o) if isinstance(o, str) else o))

    add(BASIN_IRI, RDF.type, OILGAS.Basin)
    add(BASIN_IRI, RDFS.label, Literal("North Sea", language="en"))
    wells = read_wells(data_dir)
    for field in sorted({w.field_name for w in wells if w.field_name}):
        iri = next(w.field_iri for w in wells if w.field_name == field)
        assert iri is not None
        add(iri, RDF.type, OILGAS.Field)
        add(iri, RDFS.label, Literal(field))
        add(iri, OILGAS.officialName, Literal(field))
        add(iri, OILGAS.fieldInBasin, BASIN_IRI)
    for block in sorted({w.block for w in wells}):
        iri = next(w.block_iri for w in wells if w.block == block)
        add(iri, RDF.type, OILGAS.LicenceBlock)
        add(iri, RDFS.label, Literal(f"block {block}"))
        add(iri, OILGAS.officialName, Literal(block))
    for well in wells:
        _well(add, well, data_dir)
    return [Quad(s, p, o, DefaultGraph()) for s, p, o in triples]


def _well(add: object, well: Well, data_dir: Path) -> None:
    assert callable(add)
    add(well.iri, RDF.type, OILGAS.Well)
    add(well.iri, RDFS.label, Literal(f"well {well.well_id}"))
    add(well.iri, OILGAS.officialName, Literal(well.well_id))
    add(well.iri, OILGAS.wellInBlock, well.block_iri)
    if well.field_iri:
        add(well.iri, OILGAS.wellInField, well.field_iri)
    add(well.iri, OILGAS.easting, _double(well.x))
    add(well.iri, OILGAS.northing, _double(well.y))
    add(well.wellbore_iri, RDF.type, OILGAS.Wellbore)
    add(well.wellbore_iri, RDFS.label, Literal(f"wellbore {well.well_id}"))
    add(well.wellbore_iri, OILGAS.wellboreOf, well.iri)
    curves, top, base, step = las_header(data_dir / well.file)
    log = well.log_iri
    add(log, RDF.type, OILGAS.WellLog)
    add(log, RDFS.label, Literal(f"wireline log of {well.well_id}"))
    add(log, OILGAS.logOfWellbore, well.wellbore_iri)
    add(log, OILGAS.topDepth, _double(top))
    add(log, OILGAS.baseDepth, _double(base))
    add(log, OILGAS.depthStep, _double(step))
    add(log, OILGAS.sampleCount, _int(well.samples))
    for mnemonic, unit in curves:
        curve = f"{log}/curve/{mnemonic}"
        add(curve, RDF.type, OILGAS.LogCurve)
        add(curve, RDFS.label, Literal(f"{mnemonic} of {well.well_id}"))
        add(curve, OILGAS.mnemonic, Literal(mnemonic))
        add(curve, OILGAS.curveOf, log)
        if unit and unit != "_":
            add(curve, OILGAS.unitSymbol, Literal(unit))
        if unit in QUDT_UNITS:
            add(curve, OILGAS.unit, qudt_unit(QUDT_UNITS[unit]))
