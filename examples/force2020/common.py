"""What the FORCE 2020 workflows share: the data folder, the wells, the lithology codes, the
workspace layout, the run configuration and small helpers (data references with content hashes,
domain IRIs, JSON files).

Instance IRIs of the domain graph live under ``https://w3id.org/provml/id/oil-gas/``
(``{provml base}oil-gas/{kind}/{id}``); vocabulary terms come from :mod:`provml.vocab`.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import provml
from provml.capture.values import file_digest
from provml.vocab import DEFAULT_BASE, OILGAS

#: the folder this example ships its data in (raw LAS, wells, lithology codes, penalty matrix)
DATA_DIR = Path(__file__).resolve().parent / "data"
#: the base of the domain graph's instance IRIs
DOMAIN_BASE = DEFAULT_BASE + "oil-gas/"
#: the named graph the domain instance data is loaded into
DOMAIN_GRAPH = DEFAULT_BASE + "graph/domain/oil-gas"
#: data-store names in the provenance: the shipped raw data, and the workspace the workflows write
RAW_STORE = "force2020-data"
WORK_STORE = "force2020-workspace"
STUDY = "FORCE 2020 lithology"
PERSONA = provml.persona("geoscientist", name="Petrophysics ML team")


@dataclass(frozen=True)
class Well:
    """One row of ``wells.csv``."""

    file: str
    well_id: str
    header: str
    field_name: str
    block: str
    samples: int
    labelled: int
    x: float
    y: float

    @property
    def slug(self) -> str:
        """The well id as a path/IRI segment: ``16/1-6 A`` -> ``16_1-6_A``."""
        return slugify(self.well_id)

    @property
    def iri(self) -> str:
        return f"{DOMAIN_BASE}well/{self.slug}"

    @property
    def wellbore_iri(self) -> str:
        return f"{DOMAIN_BASE}wellbore/{self.slug}"

    @property
    def log_iri(self) -> str:
        return f"{self.wellbore_iri}/log"

    @property
    def field_iri(self) -> str | None:
        return field_iri(self.field_name) if self.field_name else None

    @property
    def block_iri(self) -> str:
        return f"{DOMAIN_BASE}block/{slugify(self.block)}"


def slugify(text: str) -> str:
    """``16/1-6 A`` -> ``16_1-6_A``; ``Johan Sverdrup`` -> ``johan-sverdrup`` is :func:`field_iri`'s."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text.strip())


def field_iri(name: str) -> str:
    return f"{DOMAIN_BASE}field/{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"


BASIN_IRI = f"{DOMAIN_BASE}basin/north-sea"


def read_wells(data_dir: Path = DATA_DIR) -> list[Well]:
    """The six wells of ``wells.csv``; the field is the header's name without "Appr" (appraisal)."""
    out = []
    with open(data_dir / "wells.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = re.sub(r"\s+Appr$", "", row["name_suffix_in_header"].strip())
            out.append(Well(
                file=row["file"], well_id=row["well_id"], header=row["las_well_header"].strip(),
                field_name=name, block=row["npd_block"], samples=int(row["samples"]),
                labelled=int(row["labelled_samples"]), x=float(row["x_loc_median"]),
                y=float(row["y_loc_median"]),
            ))
    return out


@dataclass(frozen=True)
class Lithology:
    code: int
    index: int
    name: str
    kind: str

    @property
    def concept(self) -> str:
        """The IRI of the lithology's SKOS concept in the Oil & Gas ontology."""
        return str(LITHOLOGY_TERMS[self.code].value)

    @property
    def key(self) -> str:
        return str(LITHOLOGY_TERMS[self.code].value).rsplit("#", 1)[1]


LITHOLOGY_TERMS = {
    30000: OILGAS.sandstone, 65030: OILGAS.sandstoneShale, 65000: OILGAS.shale,
    80000: OILGAS.marl, 74000: OILGAS.dolomite, 70000: OILGAS.limestone, 70032: OILGAS.chalk,
    88000: OILGAS.halite, 86000: OILGAS.anhydrite, 99000: OILGAS.tuff, 90000: OILGAS.coal,
    93000: OILGAS.basement,
}


def read_lithologies(data_dir: Path = DATA_DIR) -> list[Lithology]:
    """The twelve classes of ``lithology_codes.csv``, in class-index order."""
    with open(data_dir / "lithology_codes.csv", newline="", encoding="utf-8") as fh:
        rows = [Lithology(int(r["code"]), int(r["class_index"]), r["name"], r["kind"])
                for r in csv.DictReader(fh)]
    return sorted(rows, key=lambda r: r.index)


def read_penalty(data_dir: Path = DATA_DIR) -> list[list[float]]:
    """The competition's penalty matrix by class index: ``[predicted][true]``."""
    with open(data_dir / "penalty_matrix.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    codes = [int(c) for c in rows[0][1:]]
    index = {lith.code: lith.index for lith in read_lithologies(data_dir)}
    matrix = [[0.0] * len(codes) for _ in codes]
    for row in rows[1:]:
        p = index[int(row[0])]
        for code, cell in zip(codes, row[1:], strict=True):
            matrix[p][index[code]] = float(cell)
    return matrix


@dataclass(frozen=True)
class Settings:
    """How big a run is. ``quick()`` is what the tests run (seconds); the default is the demo."""

    max_train_samples: int = 20000
    max_eval_samples: int = 5000
    epochs: int = 12
    batch_size: int = 512
    mlp_grid: tuple[dict[str, Any], ...] = (
        {"learning_rate": 0.003, "hidden_units": 64, "dropout": 0.1},
        {"learning_rate": 0.001, "hidden_units": 128, "dropout": 0.2},
    )
    gbm_grid: tuple[dict[str, Any], ...] = (
        {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 15},
        {"learning_rate": 0.05, "max_iter": 150, "max_leaf_nodes": 31},
    )
    seed: int = 2020
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls) -> Settings:
        return cls(max_train_samples=2000, max_eval_samples=1000, epochs=2, batch_size=256,
                   mlp_grid=cls.mlp_grid[:1],
                   gbm_grid=({"learning_rate": 0.1, "max_iter": 30, "max_leaf_nodes": 15},))


@dataclass(frozen=True)
class Workspace:
    """The demo's folder: ``store/`` (Oxigraph), ``spool/`` (capture events), ``work/`` (files)."""

    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def path(self, *parts: str) -> Path:
        p = self.work.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def location(self, path: Path) -> str:
        """A workspace file's location in the provenance: relative to the workspace root."""
        return path.resolve().relative_to(self.root.resolve()).as_posix()


def ref(helper: Any, name: str, path: Path, *, store: str, location: str, **options: Any) -> dict[str, Any]:
    """A data-reference value (``provml.data``/``model``/``learning_dataset``/``prediction``) for
    a file, with its SHA-256 and size, under a stable store-relative ``location``."""
    sha, size = file_digest(path)
    value: dict[str, Any] = helper(name, location, store=store, store_type="FILE_SYSTEM",
                                   sha256=sha, size=size, **options)
    return value


def raw_ref(name: str, well: Well, data_dir: Path = DATA_DIR) -> dict[str, Any]:
    """The raw LAS file of a well, as captured: hashed, linked to the well's domain resource."""
    return ref(provml.data, name, data_dir / well.file, store=RAW_STORE, location=well.file,
               domain=well.iri, media_type="application/gzip",
               characteristics={"samples": well.samples, "labelled_samples": well.labelled})


def work_ref(helper: Any, name: str, ws: Workspace, path: Path, **options: Any) -> dict[str, Any]:
    return ref(helper, name, path, store=WORK_STORE, location=ws.location(path), **options)


SPECS_DIR = Path(__file__).resolve().parent / "specs"


def spec(name: str) -> dict[str, Any]:
    """The prospective specification ``specs/<name>.yaml`` (checked), as emitted in a ``spec`` event."""
    from provml.ingest.spec import load_spec

    doc: dict[str, Any] = load_spec(SPECS_DIR / f"{name}.yaml").to_dict()
    return doc


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def say(message: str) -> None:
    """Progress on stderr-like stdout, flushed."""
    print(message, flush=True)
