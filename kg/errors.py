"""provml's exceptions: one root, few subclasses, each carrying the data that explains it.

>>> str(ValidationFailed(conforms_text="x", results=3))
'the data does not conform to the shapes: 3 result(s)'
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Error",
    "EventError",
    "MissingExtra",
    "StoreDamaged",
    "StoreLocked",
    "ValidationFailed",
    "QueryNotFound",
    "ParameterError",
    "RemoteError",
    "StoreReadOnly",
    "RdfSyntaxError",
    "TermTooLong",
]


class Error(Exception):
    """Root of provml's exceptions. Subclasses set ``template``; fields fill it in."""

    template = "{message}"

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)
        self.message = message if message is not None else self.template.format(**fields)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class EventError(Error):
    """A capture event breaks the wire format (``docs/events.md``)."""

    template = "event {index} ({kind}): field {field!r}: {rule}"
    index: int
    kind: str
    field: str
    rule: str


class MissingExtra(Error):
    """An optional dependency is not installed."""

    template = "{feature} needs {package}: pip install 'provml[{extra}]'"


class StoreLocked(Error):
    """An on-disk store is open (locked) by another process."""

    template = (
        "the store {path} is locked by another process (one writer per store). Ways out: "
        "send events to the endpoint that owns it (provml serve --store {path}, then a client "
        "with an endpoint URL), or capture offline to a spool and load it later with "
        "`provml load SPOOL --store {path}`."
    )


class StoreDamaged(Error):
    """An on-disk store's files cannot be read as a store (RocksDB reports corruption)."""

    template = (
        "the store {path} cannot be opened: {reason}. Its files are damaged or not a store's: "
        "restore it from a copy (or load its export into a new store), or give another --store."
    )


class ValidationFailed(Error):
    """A batch did not conform to the SHACL shapes; nothing was stored.

    ``report`` is the :class:`provml.ingest.validation.Report`; ``results`` the number of results.
    """

    report: Any
    results: int

    template = "the data does not conform to the shapes: {results} result(s)"


class TermTooLong(Error):
    """A term of RDF written to the store is longer than an export of the store reads back
    (:mod:`provml.store.term_bound`); nothing was stored.

    Fields: ``position`` (``object``, ``subject``, ``predicate`` or ``graph name``), the quad's
    ``subject`` and ``predicate`` (cut to 200 characters), ``size``, ``limit``, ``counted``
    (what ``size`` counts) and ``bound`` (the limit in words).
    """

    position: str
    subject: str
    predicate: str
    size: int
    limit: int
    counted: str
    bound: str

    template = (
        "the {position} of a quad about {subject} ({predicate}) holds {size:,} {counted}, more "
        "than the {limit:,} ({bound}) a term may take: an export of the store holding it could not be read "
        "back (RDF parsers buffer a term of at most 8 MiB as written, in JSON-LD). Keep such data "
        "as a file and link it by its IRI, or write a shorter text"
    )


class QueryNotFound(Error):
    """No named query has that name."""

    template = "no named query {name!r}; `provml queries` lists them"


class ParameterError(Error):
    """A named-query parameter is unknown or does not parse as its declared type."""

    template = "parameter {name!r}: {reason}"


class StoreReadOnly(Error):
    """A write on a store opened read-only."""

    template = "the store {path} is open read-only; open it without read_only=True to write"
    path: str


class RemoteError(Error):
    """A remote SPARQL store answered with an error (or did not answer: status 0)."""

    template = "{url} answered {status}: {body}"
    url: str
    status: int
    body: str


class RdfSyntaxError(Error):
    """An RDF file (or byte string) does not parse: where, and why.

    Fields: ``path`` (the file, or ``"<bytes>"``), ``line`` and ``column`` (1-based; ``None``
    when the parser gave no position) and ``reason`` (the parser's words).
    """

    template = "{path}:{line}:{column}: {reason}"
