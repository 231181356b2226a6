"""An RO-Crate of the knowledge graph, written with the ``rocrate`` package.

The crate holds:

- ``provenance.trig``: the instance graphs (the whole provenance, PROV-ML, with prefixes), a
  data entity that ``conformsTo`` PROV-ML;
- one data entity (``File``) per data reference of the graph (``provml:location``), with its
  name, size, media type and content hash, ``sameAs`` its provml IRI; the file itself is
  copied into the crate when it is a file under ``root`` (its real path too), else the entity
  only describes it; a location outside ``root`` (``../x``, an absolute path elsewhere) is
  described by its ``file:`` URI and never copied, so nothing is written outside the crate
  (a URL location stays a web entity);
- one ``CreateAction`` per workflow execution (Workflow Run RO-Crate style): its name, start
  and end times, status, the workflow as ``instrument``, the data its tasks used as
  ``object`` and the data they generated as ``result``.

So the metadata carries the graph's outline (runs and files) and the crate carries the graph.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from provml.errors import MissingExtra
from provml.vocab import PROV, PROVML, RDFS

__all__ = ["export_ro_crate"]

#: a URL's user information with a password or redacted (``https://user:[redacted]@host/``; not
#: an Azure container, ``abfss://container@account…``): no part of an entity's ``@id`` (the brackets of the redacted password were read as an IPv6 address, and the whole
#: export failed: an audit, twenty-first session)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*(?::|\[redacted\])[^/?#@]*@")

_DATA = f"""SELECT ?d ?location ?label ?size ?media ?hash WHERE {{
  ?d <{PROVML.location.value}> ?location .
  OPTIONAL {{ ?d <{RDFS.label.value}> ?label }}
  OPTIONAL {{ ?d <{PROVML.byteSize.value}> ?size }}
  OPTIONAL {{ ?d <{PROVML.mediaType.value}> ?media }}
  OPTIONAL {{ ?d <{PROVML.contentHash.value}> ?hash }}
}} ORDER BY ?location"""

_RUNS = f"""SELECT ?run ?label ?start ?end ?status ?plan WHERE {{
  ?run a <{PROVML.WorkflowExecution.value}> .
  OPTIONAL {{ ?run <{RDFS.label.value}> ?label }}
  OPTIONAL {{ ?run <{PROV.startedAtTime.value}> ?start }}
  OPTIONAL {{ ?run <{PROV.endedAtTime.value}> ?end }}
  OPTIONAL {{ ?run <{PROVML.status.value}> ?status }}
  OPTIONAL {{ ?run <{PROV.wasInfluencedBy.value}> ?plan }}
}} ORDER BY ?run"""

_FLOWS = f"""SELECT DISTINCT ?run ?d ?kind WHERE {{
  ?run a <{PROVML.WorkflowExecution.value}> .
  ?task <{PROV.wasInformedBy.value}>* ?run .
  {{ ?task <{PROV.used.value}> ?d . BIND("used" AS ?kind) }}
  UNION {{ ?d <{PROV.wasGeneratedBy.value}> ?task . BIND("generated" AS ?kind) }}
  ?d <{PROVML.location.value}> ?location .
}}"""

_STATUS = {"finished": "http://schema.org/CompletedActionStatus",
           "errored": "http://schema.org/FailedActionStatus",
           "running": "http://schema.org/ActiveActionStatus"}


#: the crate's own files: no data entity takes their place
_RESERVED = ("provenance.trig", "ro-crate-metadata.json", "ro-crate-preview.html")


def _in_crate(location: str, root: Path) -> tuple[str | None, Path | None]:
    """Where a local data location goes in the crate, and the file to copy there.

    The location is read from ``root`` (an absolute one as it is), ``..`` segments taken
    away as written. A location that ends up outside ``root`` has no place in the crate:
    ``(None, None)`` (a location comes from a captured event, from any client: ``../x`` was
    written outside the crate, over what was there, and ``/etc/hostname`` copied into it: a
    hostile probe, twenty-seventh session). Inside, the path is relative to ``root``; the file
    is copied only when it is a regular file whose real path (symbolic links followed) is
    inside ``root`` as well.

    >>> _in_crate("../outside.txt", Path("/data")), _in_crate("/etc/hostname", Path("/data"))
    ((None, None), (None, None))
    >>> _in_crate("/data/sub/../in.txt", Path("/data"))[0], _in_crate("a/./b.csv", Path("/data"))[0]
    ('in.txt', 'a/b.csv')
    """
    top = Path(os.path.normpath(root.absolute()))
    lexical = Path(os.path.normpath(top / location))
    try:
        relative = lexical.relative_to(top).as_posix()
    except ValueError:
        return None, None
    if relative in ("", "."):
        return None, None
    try:
        real, real_top = lexical.resolve(), top.resolve()
        inside = real.is_relative_to(real_top) and real.is_file()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a symbolic link loop
        inside = False
    return relative, real if inside else None


def _file_uri(location: str, root: Path) -> str:
    """The ``file:`` URI of a location outside the crate: an absolute IRI, so the crate's
    readers take it for what it is, a description of a file not in the crate."""
    where = os.path.normpath(root.absolute() / location)
    return Path("/" + where.lstrip("/")).as_uri()  # POSIX keeps a leading "//"


def _value(row: Any, key: str) -> str | None:
    term = row[key]
    return None if term is None else str(term.value)


def export_ro_crate(kg: Any, dest: str | Path, *, root: str | Path | None = None) -> Path:
    """Write an RO-Crate of ``kg`` to the directory ``dest`` (or a ``.zip`` file).

    :param root: where data locations are looked up; files found under it are copied into
        the crate, at their path relative to it; none elsewhere is. Default: the current
        directory.
    :returns: the crate's path.
    :raises provml.errors.MissingExtra: ``rocrate`` is not installed.
    """
    try:
        from rocrate.model.contextentity import ContextEntity
        from rocrate.rocrate import ROCrate
    except ImportError as error:  # pragma: no cover - the dev extra installs it
        raise MissingExtra(feature="RO-Crate export", package="rocrate", extra="interop") from error
    from provml.knowledge import ONTOLOGY_GRAPHS
    from provml.query.serialization import serialize_quads

    dest = Path(dest)
    base = Path(root) if root is not None else Path.cwd()
    crate = ROCrate()
    crate.name = "provml provenance"
    crate.description = "Workflow provenance recorded by provml (PROV-ML), with the files it references."
    files: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        graph = Path(scratch) / "provenance.trig"
        skip = set(ONTOLOGY_GRAPHS)
        graph.write_bytes(serialize_quads(
            (q for q in kg.store.quads() if q.graph_name not in skip), "trig", base=kg.base))
        crate.add_file(graph, "provenance.trig", properties={
            "name": "Provenance graph (PROV-ML)",
            "encodingFormat": "application/trig",
            "conformsTo": {"@id": "https://w3id.org/provml"},
        })
        for row in kg.query(_DATA):
            iri, location = _value(row, "d"), _value(row, "location")
            assert iri is not None and location is not None
            if iri in files or location in _RESERVED:
                continue
            props: dict[str, Any] = {"name": _value(row, "label") or Path(location).name,
                                     "sameAs": {"@id": iri}}
            if _value(row, "size") is not None:
                props["contentSize"] = _value(row, "size")
            if _value(row, "media") is not None:
                props["encodingFormat"] = _value(row, "media")
            if _value(row, "hash") is not None:
                props["identifier"] = _value(row, "hash")
            if "://" in location:
                files[iri] = crate.add_file(_USERINFO.sub(r"\1", location, count=1),
                                            fetch_remote=False, validate_url=False,
                                            properties=props)
                continue
            path, source = _in_crate(location, base)
            if path is None:  # outside --root: described by its file: URI, never copied
                files[iri] = crate.add_file(_file_uri(location, base), fetch_remote=False,
                                            validate_url=False, properties=props)
            elif path not in _RESERVED:
                files[iri] = crate.add_file(source, path, properties=props)
        used: dict[str, list[Any]] = {}
        generated: dict[str, list[Any]] = {}
        for row in kg.query(_FLOWS):
            run, data = _value(row, "run"), _value(row, "d")
            if data in files and run is not None:
                bag = used if _value(row, "kind") == "used" else generated
                bag.setdefault(run, []).append(files[data])
        for row in kg.query(_RUNS):
            run = _value(row, "run")
            assert run is not None
            plan = _value(row, "plan") or run + "#workflow"
            instrument = crate.get(plan) or crate.add(ContextEntity(crate, plan, properties={
                "@type": "SoftwareApplication", "name": plan.rsplit("/", 1)[-1]}))
            props = {"name": _value(row, "label") or run, "sameAs": {"@id": run}}
            if _value(row, "start"):
                props["startTime"] = _value(row, "start")
            if _value(row, "end"):
                props["endTime"] = _value(row, "end")
            status = _STATUS.get(_value(row, "status") or "")
            if status:
                props["actionStatus"] = {"@id": status}
            crate.add_action(instrument, identifier=run, object=used.get(run, []),
                             result=generated.get(run, []), properties=props)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "No source for")  # described, not copied: expected
            if dest.suffix == ".zip":
                crate.write_zip(dest)
            else:
                crate.write(dest)
    return dest
