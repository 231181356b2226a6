"""OWL reasoning over the PROV-ML ontology with HermiT (through owlready2; needs Java): the class
closure as the reasoner infers it, and consistency checks of the ontology (and of instance data
against it).

Nothing at run time uses this module: ingest and ``provml validate`` entail types with the
SPARQL closure of :mod:`provml.ingest.enrichment`, which needs no Java. The tests run
:func:`reasoner_closure` and check the two closures are equal for every class of the shipped
ontologies (``tests/test_closures.py``), and check the ontologies are consistent.

The Turtle files are merged with pyoxigraph (imports resolved through ``catalog-v001.xml``, never
fetched), written as N-Triples, and loaded into a fresh owlready2 ``World`` per call. Java runs
once per ontology version: :func:`reasoner_closure` caches its answer as JSON, keyed by the SHA-256
of the ontology files' bytes. owlready2 is imported only inside the functions that start Java.

>>> closure = reasoner_closure()
>>> "http://www.w3.org/ns/prov#Activity" in closure["https://w3id.org/provml#TrainingSectionExecution"]
True
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from provml.errors import MissingExtra
from provml.ingest.enrichment import ontology_files
from provml.vocab import OWL

__all__ = [
    "CACHE_FORMAT",
    "ConsistencyReport",
    "cache_path",
    "check_consistency",
    "default_cache_dir",
    "ontology_files",
    "reasoner_closure",
]

#: bump when the cached JSON changes shape, so old caches are ignored
CACHE_FORMAT = 1
_THING = OWL.Thing.value
_NOTHING = OWL.NS + "Nothing"


@dataclass(frozen=True)
class ConsistencyReport:
    """HermiT's verdict: is the ontology (with any data) consistent, and which named classes can
    have no instances."""

    consistent: bool
    unsatisfiable: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Consistent, with no unsatisfiable class."""
        return self.consistent and not self.unsatisfiable


def default_cache_dir() -> Path:
    """``$PROVML_CACHE_DIR`` when set, else ``~/.cache/provml``."""
    configured = os.environ.get("PROVML_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "provml"


def cache_path(files: Sequence[Path], cache_dir: Path | None = None) -> Path:
    """Where the class closure of ``files`` is cached: named by the SHA-256 of their bytes."""
    digest = hashlib.sha256(f"provml-class-closure-v{CACHE_FORMAT}\n".encode())
    for f in files:
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return (cache_dir or default_cache_dir()) / f"class-closure-{digest.hexdigest()}.json"


def _merged_ntriples(files: Sequence[Path], target: Path) -> None:
    """Write the union of ``files`` (named graphs flattened, ``owl:imports`` dropped: the files
    already are the import closure) to ``target`` as N-Triples, for owlready2."""
    store = ox.Store()
    for f in files:
        rdf_format = ox.RdfFormat.from_extension(f.suffix.lstrip("."))
        if rdf_format is None:
            raise ValueError(f"{f}: cannot tell the RDF format from the suffix {f.suffix!r}")
        store.extend(
            ox.Quad(q.subject, q.predicate, q.object, ox.DefaultGraph())
            for q in ox.parse(path=f, format=rdf_format)
            if q.predicate != OWL.imports
        )
    store.dump(output=str(target), format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())


def _reason(files: Sequence[Path]) -> tuple[Any, bool]:
    """Load ``files`` into a fresh owlready2 World and run HermiT; (world, consistent)."""
    import owlready2

    with tempfile.TemporaryDirectory(prefix="provml-hermit-") as tmp:
        merged = Path(tmp) / "merged.nt"
        _merged_ntriples(files, merged)
        world = owlready2.World()
        # owlready2 prints a warning for each PROV-O property that is both an annotation and an
        # object property (a known quirk of PROV-O, see ontology/imports/README.md): keep it quiet
        with contextlib.redirect_stderr(io.StringIO()):
            ontology = world.get_ontology(merged.as_uri()).load()
        try:
            with ontology:
                owlready2.sync_reasoner_hermit(
                    world, infer_property_values=False, debug=0, ignore_unsupported_datatypes=True
                )
        except owlready2.OwlReadyInconsistentOntologyError:
            return world, False
        except FileNotFoundError as exc:  # no java executable
            raise MissingExtra(
                f"the HermiT reasoner needs a Java runtime ({owlready2.JAVA_EXE!r} not found); "
                "on Debian/Ubuntu: apt-get install default-jre-headless (make test does it)",
                feature="HermiT", package="a Java runtime", extra="",
            ) from exc
    return world, True


def _unsatisfiable(world: Any) -> tuple[str, ...]:
    return tuple(sorted(c.iri for c in world.inconsistent_classes() if c.iri != _NOTHING))


def reasoner_closure(
    *, ontologies: Sequence[Path] | None = None, cache_dir: Path | None = None
) -> dict[str, frozenset[str]]:
    """For every named class of ``provml.ttl``, PROV-O and the given domain ontologies, the set of
    its named super-classes as HermiT infers them (the class itself included, ``owl:Thing`` not).

    :param ontologies: domain ontologies (Turtle or any RDF file) to reason over with provml.ttl.
    :param cache_dir: where the JSON cache lives; default :func:`default_cache_dir`.
    :raises FileNotFoundError: when an import resolves to no local file.
    :raises ValueError: when the ontologies are inconsistent (there is no closure to give).
    :raises provml.errors.MissingExtra: when no Java runtime is found (and nothing is cached).

    >>> closure = reasoner_closure()
    >>> sorted(closure["http://www.w3.org/ns/mls#Run"])[:2]
    ['http://www.w3.org/ns/mls#Run', 'http://www.w3.org/ns/prov#Activity']
    """
    files = ontology_files(ontologies)
    cached = cache_path(files, cache_dir)
    if cached.is_file():
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            return {cls: frozenset(supers) for cls, supers in data["closure"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # unreadable cache: compute again and overwrite it
    world, consistent = _reason(files)
    if not consistent:
        raise ValueError(
            "the ontologies are inconsistent; run provml.ingest.reasoner.check_consistency to see more"
        )
    closure: dict[str, frozenset[str]] = {}
    for cls in world.classes():
        if not cls.iri or cls.iri == _THING:
            continue
        supers = {a.iri for a in cls.ancestors(include_self=True) if getattr(a, "iri", None)}
        supers.update(e.iri for e in cls.equivalent_to if getattr(e, "iri", None))
        closure[cls.iri] = frozenset(supers - {_THING})
    _write_cache(cached, files, closure)
    return closure


def _write_cache(target: Path, files: Sequence[Path], closure: dict[str, frozenset[str]]) -> None:
    """Best effort: a cache that cannot be written only costs the next caller a Java run."""
    payload = {
        "format": CACHE_FORMAT,
        "files": [str(f) for f in files],
        "closure": {cls: sorted(supers) for cls, supers in sorted(closure.items())},
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".closure-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1)
        os.replace(tmp, target)
    except OSError:
        pass


def check_consistency(
    *, ontologies: Sequence[Path] | None = None, data: Sequence[Path] = ()
) -> ConsistencyReport:
    """Run HermiT over ``provml.ttl`` (with PROV-O), the given domain ontologies and any instance
    data files; report consistency and the unsatisfiable named classes. Never cached.

    :param ontologies: domain ontologies to include.
    :param data: RDF files of instance data (Turtle, N-Triples, TriG ...; graphs are flattened).
    :raises FileNotFoundError: when an import resolves to no local file.
    :raises SyntaxError: when a file does not parse.
    :raises provml.errors.MissingExtra: when no Java runtime is found.
    """
    files = [*ontology_files(ontologies), *data]
    world, consistent = _reason(files)
    if not consistent:
        return ConsistencyReport(consistent=False, unsatisfiable=())
    return ConsistencyReport(consistent=True, unsatisfiable=_unsatisfiable(world))
