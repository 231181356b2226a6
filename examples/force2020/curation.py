"""Workflow 1, data curation: raw LAS -> curated per-well tables.

Per well: read the gzipped LAS with ``lasio``, turn the null value (-999.25) into NaN, keep the
chosen curves, compute ``DCAL`` (caliper minus bit size) where the file lacks it, drop bad-hole
samples (``|DCAL|`` above a threshold), unlabelled samples and labels the interpreter was not
confident about (``FORCE_2020_LITHOFACIES_CONFIDENCE`` above a threshold), and write a CSV.
Captured: each raw file (content hash, linked to its well) and its well, field and licence block
as domain references, the curation parameters, and the curated table with its characteristics.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

import provml

from .common import (
    DATA_DIR,
    PERSONA,
    STUDY,
    Well,
    Workspace,
    raw_ref,
    read_wells,
    say,
    spec,
    work_ref,
    write_json,
)

#: the log curves kept as features (DCAL and BS serve the bad-hole filter)
CURVES = ("GR", "RHOB", "NPHI", "RDEP", "DTC", "PEF", "CALI")
LABEL = "FORCE_2020_LITHOFACIES_LITHOLOGY"
CONFIDENCE = "FORCE_2020_LITHOFACIES_CONFIDENCE"
COLUMNS = ("DEPTH_MD", *CURVES, "DCAL", "LITHOLOGY", "CONFIDENCE")
PARAMETERS: dict[str, Any] = {
    "null_value": -999.25,
    "curves": list(CURVES),
    "max_abs_dcal_in": 2.0,
    "max_label_confidence": 2,
}


def read_las(path: Path) -> dict[str, np.ndarray]:
    """The curves of a gzipped LAS file as float arrays (nulls as NaN), plus ``_units``."""
    import lasio

    with gzip.open(path, "rt", encoding="latin-1") as fh:
        las = lasio.read(fh, null_policy="none", engine="normal")
    null = float(las.well.NULL.value)
    out: dict[str, Any] = {}
    for curve in las.curves:
        values = np.asarray(curve.data, dtype=float)
        values[values == null] = np.nan
        out[curve.mnemonic] = values
    return out


def curate_well(curves: dict[str, np.ndarray], params: dict[str, Any]) -> tuple[np.ndarray, dict[str, int]]:
    """The curated table (rows x :data:`COLUMNS`) and what each filter dropped."""
    n = len(curves["DEPT"])
    nan = np.full(n, np.nan)
    dcal = curves.get("DCAL")
    if dcal is None or np.all(np.isnan(dcal)):
        dcal = curves.get("CALI", nan) - curves.get("BS", nan)
    label = curves[LABEL]
    conf = curves.get(CONFIDENCE, np.ones(n))
    labelled = ~np.isnan(label)
    confident = labelled & ~(conf > params["max_label_confidence"])
    good_hole = ~(np.abs(dcal) > params["max_abs_dcal_in"])  # NaN DCAL: no evidence of bad hole
    has_gr = ~np.isnan(curves.get("GR", nan))
    keep = confident & good_hole & has_gr
    table = np.column_stack([
        curves.get("DEPTH_MD", curves["DEPT"]),
        *[curves.get(c, nan) for c in params["curves"]],
        dcal, label, conf,
    ])[keep]
    stats = {
        "raw_samples": int(n),
        "labelled_samples": int(labelled.sum()),
        "dropped_low_confidence": int((labelled & ~confident).sum()),
        "dropped_bad_hole": int((confident & ~good_hole).sum()),
        "dropped_missing_gr": int((confident & good_hole & ~has_gr).sum()),
        "samples": int(keep.sum()),
    }
    return table, stats


def write_table(path: Path, table: np.ndarray) -> None:
    np.savetxt(path, table, delimiter=",", header=",".join(COLUMNS), comments="", fmt="%.6g")


def run(client: provml.Client, ws: Workspace, *, data_dir: Path = DATA_DIR) -> dict[str, Any]:
    """Curate the six wells in one captured workflow; returns (and writes) ``curation.json``."""
    summary: dict[str, Any] = {"parameters": PARAMETERS, "wells": {}}
    wells = read_wells(data_dir)
    with client.workflow("force2020-curation", study=STUDY, persona=PERSONA,
                         tags=["force2020", "curation"]) as wf:
        wf.spec(spec("curation"))
        for n, well in enumerate(wells, 1):
            say(f"  [curation {n}/{len(wells)}] {well.well_id}: reading {well.file}")
            summary["wells"][well.slug] = _curate(wf, ws, well, data_dir)
        wf.generated(provml.value("wells_curated", len(wells)))
    write_json(ws.path("curated", "curation.json"), summary)
    return summary


def _domain_values(well: Well) -> list[dict[str, Any]]:
    values = [provml.domain_ref("well", well.iri, val=well.well_id),
              provml.domain_ref("licence_block", well.block_iri, val=well.block)]
    if well.field_iri:
        values.append(provml.domain_ref("field", well.field_iri, val=well.field_name))
    return values


def _curate(wf: provml.Workflow, ws: Workspace, well: Well, data_dir: Path) -> dict[str, Any]:
    raw = raw_ref("raw_las", well, data_dir)
    used = [raw, *_domain_values(well), *(provml.parameter(k, v) for k, v in PARAMETERS.items())]
    with wf.task("curate_well", id=f"curate-{well.slug}", used=used) as task:
        curves = read_las(data_dir / well.file)
        table, stats = curate_well(curves, PARAMETERS)
        out = ws.path("curated", f"{well.slug}.csv")
        write_table(out, table)
        classes = sorted({int(c) for c in table[:, COLUMNS.index("LITHOLOGY")]})
        curated = work_ref(provml.data, "curated_table", ws, out, media_type="text/csv",
                           characteristics={**stats, "classes": len(classes)})
        task.generated(curated)
    say(f"      kept {stats['samples']} of {stats['labelled_samples']} labelled samples "
        f"(low confidence -{stats['dropped_low_confidence']}, bad hole -{stats['dropped_bad_hole']})")
    return {"well_id": well.well_id, "raw": raw["data"], "curated": curated["data"],
            "stats": stats, "classes": classes}
