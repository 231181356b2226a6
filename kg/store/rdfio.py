"""Reading RDF files and byte strings, with the format taken from a name, a suffix or a media type.

Syntax errors become :class:`provml.errors.RdfSyntaxError`, which names the file, the line and
column (1-based) and the parser's reason; an unreadable file raises the ``OSError`` it raised.

>>> quads = parse_bytes(b"<http://e/a> <http://e/b> 1 .", format="turtle")
>>> len(quads), quads[0].object.value
(1, '1')
>>> format_from_name("data.trig").name
'TriG'
"""

from __future__ import annotations

import io
import operator
import re
import stat
from dataclasses import dataclass
from itertools import accumulate, count
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import Quad, RdfFormat

from provml.errors import RdfSyntaxError

__all__ = [
    "DTD",
    "FORMATS",
    "FORMAT_NAMES",
    "MEDIA_TYPES",
    "RDF_SUFFIXES",
    "FormatEntry",
    "file_format",
    "format_from_name",
    "json_depth_over",
    "MAX_JSON_DEPTH",
    "parse_bytes",
    "parse_file",
    "refuse_device",
    "refuse_unsafe",
]


@dataclass(frozen=True)
class FormatEntry:
    """One RDF format: its name, the other names and file suffixes that select it, its media types
    (the first is the one provml answers with) and pyoxigraph's format."""

    name: str
    format: RdfFormat
    suffixes: tuple[str, ...]
    media_types: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    @property
    def media_type(self) -> str:
        return self.media_types[0]


#: the one table of RDF formats: the CLI, file loading, exports and the endpoint's content
#: negotiation all read it (lower case, suffixes without their dot)
FORMATS: tuple[FormatEntry, ...] = (
    FormatEntry("turtle", RdfFormat.TURTLE, ("ttl",), ("text/turtle", "application/x-turtle")),
    FormatEntry("ntriples", RdfFormat.N_TRIPLES, ("nt",), ("application/n-triples", "text/plain"),
                ("n-triples",)),
    FormatEntry("nquads", RdfFormat.N_QUADS, ("nq",), ("application/n-quads",), ("n-quads",)),
    FormatEntry("trig", RdfFormat.TRIG, ("trig",), ("application/trig",)),
    FormatEntry("jsonld", RdfFormat.JSON_LD, ("jsonld",), ("application/ld+json",), ("json-ld", "json")),
    FormatEntry("rdfxml", RdfFormat.RDF_XML, ("rdf", "owl", "xml"), ("application/rdf+xml",),
                ("rdf/xml",)),
    FormatEntry("n3", RdfFormat.N3, ("n3",), ("text/n3",)),
)
#: every name, alias and suffix -> its format
FORMAT_NAMES: dict[str, RdfFormat] = {
    key: entry.format for entry in FORMATS for key in (entry.name, *entry.aliases, *entry.suffixes)
}
#: every media type -> its format
MEDIA_TYPES: dict[str, RdfFormat] = {m: entry.format for entry in FORMATS for m in entry.media_types}
#: the file suffixes of RDF files, with their dot
RDF_SUFFIXES: tuple[str, ...] = tuple("." + s for entry in FORMATS for s in entry.suffixes)

_POSITION = re.compile(
    r"^Parser error at line (?P<line>\d+) (?:between columns (?P<col>\d+) and \d+|column (?P<col1>\d+))"
    r"(?::\s*)?"
)


def format_from_name(name_or_suffix: str) -> RdfFormat:
    """The RDF format named by ``name_or_suffix``.

    Accepts a format name (``"turtle"``, ``"nt"``, ``"jsonld"``, ``"rdfxml"`` …), a suffix with or
    without its dot (``".ttl"``), a file name (``"run.nq"``) or a media type (``"text/turtle"``).

    :param name_or_suffix: what names the format.
    :raises ValueError: when no RDF format has that name; the message lists the accepted names.

    >>> format_from_name(".ttl") == format_from_name("turtle") == format_from_name("text/turtle")
    True
    """
    key = name_or_suffix.strip().lower()
    if "/" in key and key not in FORMAT_NAMES:
        by_media_type = MEDIA_TYPES.get(key) or RdfFormat.from_media_type(key)
        if by_media_type is not None:
            return by_media_type
    if key in FORMAT_NAMES:
        return FORMAT_NAMES[key]
    suffix = key.rsplit(".", 1)[-1] if "." in key else key
    if suffix in FORMAT_NAMES:
        return FORMAT_NAMES[suffix]
    accepted = ", ".join(sorted(FORMAT_NAMES))
    raise ValueError(
        f"no RDF format is called {name_or_suffix!r}; use one of {accepted} "
        "(or a file suffix such as .ttl, .nt, .nq, .trig, .jsonld, .rdf)"
    )


def parse_file(path: Path | str, *, format: str | RdfFormat | None = None) -> list[Quad]:
    """Every quad of the RDF file ``path`` (triples land in the default graph).

    :param path: the file to read.
    :param format: a format name or :class:`pyoxigraph.RdfFormat`; by default taken from the
        file's suffix. Relative IRIs resolve against the file's ``file:`` URI.
    :raises RdfSyntaxError: when the file does not parse (file, line, column, reason).
    :raises ValueError: when the format is unknown or cannot be guessed from the suffix.
    :raises OSError: when the file cannot be read.
    """
    file = Path(path)
    rdf_format = _resolve(format, file.name)
    base_iri = file.resolve().as_uri()
    refuse_device(file)
    with file.open("rb") as stream:
        source = _past_bom(stream) if rdf_format in _TEXT_FORMATS else stream  # ("not a valid subject")
        return _parse(source, rdf_format, str(file), base_iri)


def parse_bytes(
    data: bytes | str, *, format: str | RdfFormat, base_iri: str | None = None, name: str = "<bytes>"
) -> list[Quad]:
    """Every quad of the RDF document ``data``.

    :param data: the document.
    :param format: a format name or :class:`pyoxigraph.RdfFormat`.
    :param base_iri: the IRI relative IRIs resolve against (none: relative IRIs are errors).
    :param name: what error messages call the document.
    :raises RdfSyntaxError: when the document does not parse.
    :raises ValueError: when the format is unknown.
    """
    rdf_format = format if isinstance(format, RdfFormat) else format_from_name(format)
    return _parse(data, rdf_format, name, base_iri)


def file_format(path: Path | str, format: str | RdfFormat | None = None) -> RdfFormat:
    """The RDF format :func:`parse_file` reads ``path`` in: ``format`` when given, else the
    one its suffix names (a check before anything is read).

    :raises ValueError: the format is unknown or cannot be guessed from the suffix.
    """
    return _resolve(format, Path(path).name)


def _resolve(format: str | RdfFormat | None, file_name: str) -> RdfFormat:
    if isinstance(format, RdfFormat):
        return format
    if format is not None:
        return format_from_name(format)
    suffix = file_name.rsplit(".", 1)[1] if "." in file_name else ""
    if suffix.lower() not in FORMAT_NAMES:
        raise ValueError(
            f"cannot tell the RDF format of {file_name!r} from its suffix; name the format "
            "(for example --input-format turtle) or use a suffix such as .ttl, .nt, .nq, "
            ".trig, .jsonld or .rdf"
        )
    return FORMAT_NAMES[suffix.lower()]


#: a document type or entity declaration, which RDF/XML input may not hold: the parser expands
#: entities, and ten nested ones make 700 bytes ask for gigabytes (a probe, twenty-sixth
#: session; the endpoint refused them already, :func:`provml.endpoint.limits.check_rdf_body`)
DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)  # (unrolled: 1.6x faster)
#: the text before the first string that has no end: text and whole strings, possessive (one
#: pass); from there on no string has an end, and every bracket counts
_JSON_ENDED = re.compile(rb'(?:[^"]*+"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
#: every byte but the four brackets (deleted), and the brackets as steps: an opening one 2, a
#: closing one 0 (the running sum less the count is the depth)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def json_depth_over(data: bytes, max_depth: int) -> bool:
    """Whether JSON (or JSON-LD) nests arrays or objects deeper than ``max_depth`` (brackets in
    strings skipped; after a string with no end, the rest is counted as brackets), read before
    any parser sees it: pyoxigraph's JSON-LD parser crashed the process (SIGSEGV) on 4,000
    levels, Python's ``json`` raises ``RecursionError`` past ≈ 1,000. In C-speed passes (the
    strings taken out, the brackets kept, their running sum): a Python loop over the tokens made
    loading a 26 MB JSON-LD file 1.7× slower (a review, twenty-seventh session).

    >>> json_depth_over(b'{"a": "[[[[[[["}', 2), json_depth_over(b'[[[1]]]', 2)
    (False, True)
    """
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    ended = _JSON_ENDED.match(data)
    cut = ended.end() if ended is not None else 0
    # (the strings taken out of the text before it only: a sub over the whole, past a string with
    # no end, tried again from every escaped quote after it, in time n²: a review, 27th session)
    steps = (_JSON_STRING.sub(b"", data[:cut]) + data[cut:]).translate(None, _NOT_BRACKET).translate(_STEPS)
    return max(map(operator.sub, accumulate(steps), count(1)), default=0) > max_depth


def refuse_unsafe(data: bytes | str, rdf_format: RdfFormat, name: str = "<bytes>") -> None:
    """Refuse, before any parser sees it, what would make the parser ask for gigabytes or crash:
    RDF/XML that holds a document type or entity declaration (:data:`DTD`), JSON-LD nested
    deeper than :data:`MAX_JSON_DEPTH` (:func:`json_depth_over`).

    :raises provml.errors.RdfSyntaxError: it does (the line named, for a declaration).
    """
    if rdf_format not in (RdfFormat.RDF_XML, RdfFormat.JSON_LD):
        return
    raw = data.encode() if isinstance(data, str) else data
    if rdf_format == RdfFormat.RDF_XML and (found := DTD.search(raw)) is not None:
        line = raw.count(b"\n", 0, found.start()) + 1
        reason = ("a document type or entity declaration (<!DOCTYPE, <!ENTITY) is not accepted in "
                  "RDF/XML: its entities could expand to gigabytes; expand them before loading")
        raise RdfSyntaxError(f"{name}:{line}: {reason}", path=name, line=line, column=None, reason=reason)
    if rdf_format == RdfFormat.JSON_LD and json_depth_over(raw, MAX_JSON_DEPTH):
        reason = (f"JSON nested deeper than {MAX_JSON_DEPTH} arrays or objects is not read (the "
                  "parser would run out of stack); flatten it")
        raise RdfSyntaxError(f"{name}: {reason}", path=name, line=None, column=None, reason=reason)


def refuse_device(path: Path) -> None:
    """Refuse a device named as a file of RDF (``/dev/zero`` as ``.rdf`` was read until memory
    ran out); pipes are read as files are.

    :raises ValueError: ``path`` is a character or block device.
    :raises OSError: it cannot be looked at.
    """
    mode = path.stat().st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise ValueError(f"{path}: a device, not a file of RDF; give a file (or a pipe) that holds RDF")


#: the formats read as UTF-8 text by line and column, where a leading byte order mark (written by
#: Windows editors) is skipped: pyoxigraph took it for the first term ("\ufeff is not a valid subject")
_TEXT_FORMATS = frozenset({RdfFormat.TURTLE, RdfFormat.N_TRIPLES, RdfFormat.N_QUADS, RdfFormat.TRIG, RdfFormat.N3})
_BOM = b"\xef\xbb\xbf"


def _past_bom(stream: io.BufferedReader) -> io.BufferedReader:
    """``stream`` past a leading UTF-8 byte order mark, if it has one; its bytes are never sought
    back (a pipe cannot seek). ``peek`` makes at most one read: from a pipe whose writer sent
    ``\xef`` or ``\xef\xbb`` first, it returned only those, the mark was not seen and the
    parser refused it. Such a beginning is read on until three bytes are in (or the input
    ends); when they are no mark, they are put before the rest of the stream again."""
    head = stream.peek(3)[:3]
    if head == _BOM:
        stream.read(3)
        return stream
    if not head or len(head) == 3 or not _BOM.startswith(head):  # (a file: three bytes peeked)
        return stream
    head = stream.read(3)  # (a blocking read: three bytes, or fewer where the input ends)
    if head == _BOM:
        return stream
    return io.BufferedReader(_Rejoined(head, stream))


class _Rejoined(io.RawIOBase):
    """The bytes ``head``, read from ``rest`` already, then the rest of ``rest``."""

    def __init__(self, head: bytes, rest: io.BufferedReader) -> None:
        super().__init__()
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        return self._rest.readinto(buffer)


#: the deepest a JSON-LD file may nest arrays and objects (:func:`json_depth_over`): pyoxigraph's
#: parser crashed the process at 4,000 levels (SIGSEGV), Python's ``json`` raises past ≈ 1,000
MAX_JSON_DEPTH = 512


def _parse(source: object, rdf_format: RdfFormat, name: str, base_iri: str | None) -> list[Quad]:
    if rdf_format in (RdfFormat.RDF_XML, RdfFormat.JSON_LD):
        data = source.read() if hasattr(source, "read") else source
        if isinstance(data, (bytes, str)):
            refuse_unsafe(data, rdf_format, name)
        source = data
    try:
        quads = list(pyoxigraph.parse(source, format=rdf_format, base_iri=base_iri))  # type: ignore[arg-type]
    except MemoryError as error:  # a term past the parser's buffer (16 MiB): said so, not a traceback
        if "buffer maximal size" not in str(error):
            raise  # (memory that ran out)
        reason = f"a term (literal or IRI) longer than the parser takes ({error})"
        raise RdfSyntaxError(f"{name}: {reason}", path=name, line=None, column=None, reason=reason) from None
    except SyntaxError as error:
        hint = ("; it holds provml's capture events one a line (JSON lines): name it with .jsonl for "
                "`provml load`") if rdf_format == RdfFormat.JSON_LD and _event_lines(source, name) else ""
        raise _syntax_error(error, name, hint) from None
    if not quads and rdf_format == RdfFormat.JSON_LD:
        _check_json_ld(source, name)
    return quads


def _event_lines(source: object, name: str) -> bool:
    """Whether a document that is no JSON begins with a line that is one capture event (JSON
    lines saved as ``.json``: "The JSON already contains one root element" said nothing more)."""
    import json

    if isinstance(source, (bytes, str)):
        first: bytes | str = source[:65_536]
    else:
        try:
            with Path(name).open("rb") as stream:
                first = stream.read(65_536)
        except OSError:
            return False
    line = first.splitlines()[0] if first.strip() else first
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(event, dict) and "kind" in event and "run" in event


#: top-level keys that say which non-RDF JSON a file is, and the command that reads it
_JSON_KINDS = (
    # (first: a task_begin's "used" would make it PROV-JSON; "events": the body of POST /api/events)
    ({"kind", "events"}, "provml's capture events",
     "write them one a line into a .jsonl file (a spool) and `provml load` it"),
    ({"entity", "activity", "agent", "wasGeneratedBy", "used", "prefix", "bundle"},
     "PROV-JSON", "read it with `provml import prov-json {name}`"),
    ({"workflow_id", "task_id", "campaign_id"}, "a Flowcept record", "read it with `provml import flowcept {name}`"),
)


def _check_json_ld(source: object, name: str) -> None:
    """Refuse JSON that gave no quad because it is not JSON-LD (JSON-LD parsers ignore keys
    that are neither keywords nor IRIs, so PROV-JSON would otherwise load as nothing).

    :raises ValueError: the document has no JSON-LD keyword (``@context``, ``@id``,
        ``@graph``, ``@type`` ...) anywhere at its top level; names the importer to use.
    """
    import json

    if isinstance(source, (bytes, str)):
        text = source
    else:
        try:
            text = Path(name).read_bytes()
        except OSError:
            return
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return  # the JSON-LD parser accepted it; nothing more to say
    nodes = document if isinstance(document, list) else [document]
    keys = {k for node in nodes if isinstance(node, dict) for k in node}
    if not nodes or any(k.startswith("@") or ":" in k for k in keys):
        return  # an empty document, or JSON-LD that holds no triple
    kind, advice = "JSON", ("read it with the importer of its format (`provml import prov-json {name}`, "
                            "`provml import flowcept {name}`; an MLflow store: `provml import mlflow`)")
    for markers, what, how in _JSON_KINDS:
        if keys & markers:
            kind, advice = what, how
            break
    raise ValueError(
        f"{name} is {kind}, not JSON-LD (no @context, @id or @graph at its top level), so it "
        f"holds no RDF; {advice.format(name=name)}"
    )


def _syntax_error(error: SyntaxError, name: str, hint: str = "") -> RdfSyntaxError:
    text = str(error.msg) if error.msg else str(error)
    match = _POSITION.match(text)
    reason = text[match.end() :] if match else text
    line = error.lineno
    column = error.offset
    if match and line is None:
        line = int(match.group("line"))
        column = int(match.group("col") or match.group("col1"))
    reason = (reason.strip() or text) + hint
    where = f"{name}:{line}:{column}" if line is not None else f"{name} (no position given)"
    return RdfSyntaxError(f"{where}: {reason}", path=name, line=line, column=column, reason=reason)
