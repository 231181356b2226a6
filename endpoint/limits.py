"""Checks on untrusted input that run before any parser sees it.

The parsers behind the endpoint (Oxigraph's SPARQL, Turtle and JSON-LD parsers, Python's JSON)
recurse once per nesting level; a few kilobytes of ``{{{{…`` overflow the stack and end the
process. So every query, update and JSON / JSON-LD / Turtle body is scanned first, counting
brackets, parentheses and braces **outside** string literals, IRIs and comments, and refused with
400 when they nest deeper than :data:`MAX_DEPTH`. The same scan of a query or update finds:

- ``SERVICE`` targets and ``LOAD`` sources: refused unless they start with a URL prefix the
  operator allowed (``ALLOW_REMOTE`` / ``--allow-remote``; http and https only, never ``file:``);
- whether a query names its own dataset (``FROM`` / ``FROM NAMED``): then the union default graph
  is not used.

SPARQL applies ``\\uXXXX`` / ``\\UXXXXXXXX`` escapes to the whole text before parsing, so the scan
does too (``\\u007B`` is a ``{``). (Oxigraph applies them inside strings and IRIs only, so the
scan can pair quotes otherwise than Oxigraph; the query workers run with no network for that
reason, :mod:`provml.endpoint.sparql.isolation`.)

Why it is long: each body format the endpoint takes (SPARQL, Turtle, JSON, RDF/XML) has its
scan here, each in linear time and bounded memory on hostile text, and they share the
refusal and its messages.

>>> scan_sparql("SELECT * FROM <http://e.org/g> WHERE { ?s ?p ?o }").has_dataset
True
>>> scan_sparql("SELECT * WHERE " + "{" * 100 + "}" * 100)
Traceback (most recent call last):
provml.endpoint.limits.InputRefused: the query nests brackets, parentheses or braces 100 deep; this endpoint accepts at most 64: flatten it
>>> scan_sparql("SELECT * { SERVICE <http://other.example/sparql> { ?s ?p ?o } }")
Traceback (most recent call last):
provml.endpoint.limits.InputRefused: SERVICE <http://other.example/sparql> is not allowed: this endpoint makes no outbound requests unless its operator lists the URL prefix (--allow-remote)
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from provml.store.lexing import Lexer
from provml.store.rdfio import DTD, json_depth_over

__all__ = ["MAX_DEPTH", "MAX_PREFIX_IRI", "MAX_QUERY_CHARS", "MAX_XML_DEPTH", "InputRefused", "SparqlScan", "check_json_depth",
           "check_rdf_body", "check_turtle_depth", "check_xml_depth", "remote_allowed",
           "scan_sparql", "sparql_syntax_error", "sparql_tokens"]

#: the deepest nesting of ``{ ( [`` accepted in a query, update or body
MAX_DEPTH = 64
#: the longest query accepted, in characters (reads need no token: scanning and parsing a
#: 64 MiB query would cost seconds of the server's CPU); updates are bounded by the body limit
MAX_QUERY_CHARS = 1_000_000
#: the longest IRI a ``PREFIX`` or ``BASE`` may declare: each name written with it is that long
#: in the parsed query (a 161 KB update of 6,000 names on a 60 KB prefix took the server 3.3 GB)
MAX_PREFIX_IRI = 4096


class InputRefused(ValueError):
    """The input is refused before parsing (answered 400 with this message)."""


_DOT_SEGMENT = re.compile(r"(^|/)(\.|%2e){1,2}(/|$)", re.IGNORECASE)

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
#: a scheme: what makes an IRI absolute
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
#: a prefixed name's escape (PN_LOCAL_ESC: ``ex:\.\./`` is ``../``)
_LOCAL_ESCAPE = re.compile(r"\\(.)")

#: a prefixed name's characters: every non-ASCII character stands in for PN_CHARS (U+00B7,
#: U+0300-036F, U+200C ... are not ``\w``: ``ex:a·\'b`` must stay one word, or its ``\'`` opens
#: a string that hides what follows from the scan, a SERVICE included)
_PN = r"[\w\-.\u0080-\U0010ffff]"
_PN_LOCAL = r"(?:[\w\-.:%\u0080-\U0010ffff]|\\.)*+"
_TEMPLATE = r"""(?P<str>{long}'(?:[^'\\\n\r]|\\.)*+'|"(?:[^"\\\n\r]|\\.)*+")
      |(?P<bad>['"])
      |(?P<iri><[^<>"{{}}|^`\\\x00-\x20]*>)
      |(?P<comment>\#[^\n\r]*)
      |(?P<open>[{{(\[])
      |(?P<close>[}})\]])
      |(?P<lang>@[A-Za-z]+(?:-[A-Za-z0-9]+)*(?:--[A-Za-z]+)?)
      |(?P<word>[?$][\w\u00b7\u0300-\u036f\u203f\u2040]*
                |(?:[^\W\d]|[^\x00-\x7f]){pn}*(?::{local})?
                |:{local}
                |\d[\w.+\-]*)
      |(?P<other>[^\s])"""
_LEXER = Lexer(_TEMPLATE, "str", pn=_PN, local=_PN_LOCAL)
#: the same without IRIs: ``<`` read as less-than (``1<'>'``: Oxigraph compares, the scan read
#: an IRI and then a string that hid what followed; a differential fuzz, twentieth session)
_LEXER_NO_IRIS = Lexer(re.sub(r"\n *\|\(\?P<iri>[^\n]*", "", _TEMPLATE), "str", pn=_PN, local=_PN_LOCAL)


#: a token Oxigraph may read as SERVICE or LOAD after a number, a boolean, ``a`` or ``UNDEF``
#: (``1SERVICE``, ``trueSERVICE``), and with ``SILENT`` glued on (the scan reads one word)
_GLUE = re.compile(r"(?i)(?:true|false|a|undef|[+-]?[\d.][\w.+\-]*)?(?:service|load)(?:silent)?")


def _glued(word: str) -> bool:
    """Whether ``word`` (not a variable) hides SERVICE or LOAD from the scan: a bare word that
    :data:`_GLUE` matches but the keyword itself, or a prefixed name whose prefix it matches
    (``SERVICE:x``, ``trueSERVICE:``: Oxigraph, finding the prefix undeclared, reads the keyword
    and then ``:x``, a name of the empty prefix; a hostile review, twentieth session).

    >>> [_glued(w) for w in ("1SERVICE", "trueSERVICE", "SERVICE:x", "download", "ex:service")]
    [True, True, True, False, False]
    >>> _glued("SERVICE"), _glued("x-download:a"), _glued("LOADSILENT"), _glued("SERVICEx:y")
    (False, False, True, True)
    >>> _glued("true.SERVICE"), _glued(":o.o.Service:"), _glued("1.e0SERVICE"), _glued("ex:a.b")
    (True, True, True, False)
    """
    head, colon, local = word.partition(":")
    if not colon and head.upper() in ("SERVICE", "LOAD"):
        return False  # the keyword: the scan follows it
    # each part between dots (`true.SERVICE`: a word ends at a dot in SPARQL; `:.SERVICE` and
    # `:o.o.SERVICE:`, Oxigraph ends the name at the dot), from its start (`SERVICEx:y`: Oxigraph
    # reads SERVICE, then `x:y`)
    return any(_GLUE.match(part) for part in [head, *head.split("."), *local.split(".")[1:]])


def _tokens(text: str) -> Iterator[re.Match[str]]:
    """The tokens of ``text`` (:class:`~provml.store.lexing.Lexer`).

    :raises InputRefused: too many quotes that open no string.
    """
    return _LEXER.tokens(text, InputRefused)


def sparql_tokens(text: str) -> tuple[str, Iterator[re.Match[str]]]:
    """``text`` with its ``\\u`` escapes applied, and its tokens (groups ``str``, ``iri``,
    ``comment``, ``open``, ``close``, ``word``, ``other``), for scans of a query or update
    that has passed :func:`scan_sparql`: read one at a time (a list of them held ≈ 240 bytes a
    token, 1 GB for a 4 MB update)."""
    text = _unescape(text)
    return text, _tokens(text)


def _unescape(text: str) -> str:
    if "\\u" not in text and "\\U" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        try:
            return chr(int(match.group(1) or match.group(2), 16))
        except (ValueError, OverflowError):
            return match.group(0)

    return _ESCAPE.sub(one, text)


@dataclass
class SparqlScan:
    """What the scan of a query or update found."""

    depth: int = 0
    has_dataset: bool = False  # FROM / FROM NAMED
    services: list[str] = field(default_factory=list)  # absolute IRIs
    loads: list[str] = field(default_factory=list)


def remote_allowed(iri: str, allowed: Sequence[str]) -> bool:
    """Whether ``iri`` (a SERVICE or LOAD target) starts with one of the ``allowed`` prefixes;
    only ``http:`` and ``https:`` IRIs can be allowed.

    >>> remote_allowed("https://dbpedia.org/sparql", ["https://dbpedia.org/"])
    True
    >>> remote_allowed("file:///etc/passwd", ["file:"])
    False
    >>> remote_allowed("https://dbpedia.org.evil.example/", ["https://dbpedia.org"])
    False
    >>> remote_allowed("https://dbpedia.org/sparql/../admin", ["https://dbpedia.org/sparql"])
    False
    """
    target = urlsplit(iri)
    if target.scheme.lower() not in ("http", "https") or "@" in target.netloc:
        return False
    if _DOT_SEGMENT.search(target.path):  # /../ could leave the allowed path
        return False
    for prefix in allowed:
        allowed_url = urlsplit(prefix)
        if (allowed_url.scheme.lower() == target.scheme.lower()
                and allowed_url.netloc.lower() == target.netloc.lower()
                and target.path.startswith(allowed_url.path)):
            return True
    return False


def _depth_refused(what: str, depth: int) -> InputRefused:
    return InputRefused(f"the {what} nests brackets, parentheses or braces {depth} deep; this "
                        f"endpoint accepts at most {MAX_DEPTH}: flatten it")


def scan_sparql(
    text: str, *, what: str = "query", allowed: Sequence[str] = (), max_depth: int = MAX_DEPTH
) -> SparqlScan:
    """Scan a SPARQL query or update (see the module docstring).

    :param what: ``"query"`` or ``"update"``, for the messages.
    :param allowed: URL prefixes SERVICE and LOAD may reach.
    :raises InputRefused: too deep, or a SERVICE / LOAD that is not allowed.
    """
    if what == "query" and len(text) > MAX_QUERY_CHARS:
        raise InputRefused(f"the query is {len(text):,} characters long; this endpoint accepts "
                           f"at most {MAX_QUERY_CHARS:,}: shorten it (large VALUES blocks: split "
                           "the query)")
    raw, text = text, _unescape(text)
    scan = SparqlScan()
    keywords = 0  # the SERVICE and LOAD read here (each followed, its target checked)
    depth = 0
    prefixes: dict[str, str] = {}
    pending: str | None = None  # "SERVICE" / "LOAD": the next IRI is their target
    prefix_decl: str | None = None  # after PREFIX: the name waiting for its IRI
    expect_prefix_name = False
    expect_base = False  # after BASE: the next IRI is the base
    base_len = 0  # the length of the BASE declared last, resolved
    for match in _tokens(text):
        kind = match.lastgroup
        value = match.group()
        if kind == "comment" or kind == "str":
            continue
        if kind == "open":
            if pending is not None:
                _refuse_target(pending, value)
            depth += 1
            if depth > scan.depth:
                scan.depth = depth
                if depth > max_depth:
                    raise _depth_refused(what, _count_depth(text))
            continue
        if kind == "close":
            depth = max(depth - 1, 0)
            continue
        if kind == "word":
            upper = value.upper()
            if value[0] not in "?$" and _glued(value):
                raise InputRefused(f"the {what} has {value[:40]!r}: SERVICE or LOAD written "
                                   "against what comes before or after it, or a prefix named "
                                   "so; write the keyword apart (or rename the prefix)")
            if expect_prefix_name:
                expect_prefix_name = False
                if value.endswith(":") or ":" in value:
                    prefix_decl = value[:-1] if value.endswith(":") else value
                    continue
            if pending is not None:
                if upper == "SILENT":
                    continue
                if upper.startswith("SILENT"):  # `SILENT:x`, `SILENTex:`: Oxigraph reads SILENT
                    _refuse_target(pending, value)
                if pending in ("LOAD", "SERVICE") and ":" in value and not value.startswith("?"):
                    name, _, local = value.partition(":")
                    if name in prefixes:  # (a local part's \-escapes stand for their character)
                        _target(scan, pending, prefixes[name] + _LOCAL_ESCAPE.sub(r"\1", local),
                                allowed)
                        pending = None
                        continue
                _refuse_target(pending, value)
            if upper in ("SERVICE", "LOAD"):
                pending, keywords = upper, keywords + 1
            elif upper == "FROM" and what == "query":
                scan.has_dataset = True
            elif upper == "PREFIX":
                expect_prefix_name = True
            elif upper == "BASE":
                expect_base = True
            continue
        if kind == "iri":
            iri = value[1:-1]
            if prefix_decl is not None or expect_base:
                # a relative IRI is resolved against the BASE before it: chained relative BASEs
                # of 4 KB each made one of 60 KB (a review, 18th session)
                spelt = len(iri) + (0 if _SCHEME.match(iri) else base_len)
                if spelt > MAX_PREFIX_IRI:
                    raise InputRefused(f"the {what} declares a PREFIX or BASE IRI of {spelt:,} "
                                       f"characters once resolved; this endpoint accepts at most "
                                       f"{MAX_PREFIX_IRI:,}: every name written with it would be "
                                       "that long")
            if expect_base:
                expect_base, base_len = False, spelt
                continue
            if prefix_decl is not None:
                prefixes[prefix_decl] = iri
                prefix_decl = None
                continue
            if pending is not None:
                _target(scan, pending, iri, allowed)
                pending = None
            continue
        if pending is not None:
            _refuse_target(pending, value)
    if pending is not None:
        _refuse_target(pending, "(nothing)")
    if _MENTION.search(text) or _MENTION.search(raw):
        _read_otherwise(raw, text, keywords, what)
    return scan


#: the letters of SERVICE or LOAD, anywhere
_MENTION = re.compile(r"(?i)service|load")


def _read_otherwise(raw: str, text: str, keywords: int, what: str) -> None:
    r"""Read the text as the scan might have misread it, and refuse it where another reading
    finds a SERVICE or LOAD the scan did not follow (a differential fuzz with Oxigraph as the
    oracle, twentieth session):

    - its ``\u`` escapes left as they are (Oxigraph applies them in strings and IRIs only:
      ``'\u0027'`` is a string of one quote, which, applied first, opened a long string that hid
      a SERVICE): more SERVICE or LOAD than the scan followed;
    - ``<`` as less-than rather than an IRI (``1<'>'`` read as an IRI, then a string): a SERVICE
      or LOAD where the scan read a string or a comment (not where it read an IRI: an IRI may
      hold the letters ``/service``).

    :raises InputRefused: a reading finds a SERVICE or LOAD the scan did not follow."""
    if len(_keyword_offsets(_LEXER, raw)) > keywords:
        raise _misread(what)
    for reading in (text, raw):
        hidden = [(m.start(), m.end()) for m in _LEXER.tokens(reading, InputRefused)
                  if m.lastgroup in ("str", "comment")]
        starts = [start for start, _ in hidden]
        for offset in _keyword_offsets(_LEXER_NO_IRIS, reading):
            i = bisect.bisect_right(starts, offset) - 1
            if i >= 0 and offset < hidden[i][1]:
                raise _misread(what)


def _keyword_offsets(lexer: Lexer, reading: str) -> list[int]:
    """Where ``lexer`` reads SERVICE or LOAD in ``reading`` (glued forms included)."""
    return [m.start() for m in lexer.tokens(reading, InputRefused)
            if m.lastgroup == "word" and m.group()[0] not in "?$"
            and (m.group().upper() in ("SERVICE", "LOAD") or _glued(m.group()))]


def _misread(what: str) -> InputRefused:
    return InputRefused(f"the {what} reads in more than one way around a SERVICE or LOAD (a \\u "
                        "escape in a string or comment, or a `<` next to a quote); write it plainly")


def _count_depth(text: str) -> int:
    depth = top = 0
    for match in _tokens(text):
        if match.lastgroup == "open":
            depth += 1
            top = max(top, depth)
        elif match.lastgroup == "close":
            depth = max(depth - 1, 0)
    return top


def _target(scan: SparqlScan, keyword: str, iri: str, allowed: Sequence[str]) -> None:
    if not remote_allowed(iri, allowed):
        reason = ("file: IRIs are never allowed" if iri.lower().startswith("file:")
                  else "this endpoint makes no outbound requests unless its operator lists the "
                       "URL prefix (--allow-remote)")
        raise InputRefused(f"{keyword} <{iri}> is not allowed: {reason}")
    (scan.services if keyword == "SERVICE" else scan.loads).append(iri)


def _refuse_target(keyword: str, value: str) -> None:
    raise InputRefused(f"{keyword} {value[:60]}: the target must be an absolute IRI whose prefix "
                       "the operator allowed (--allow-remote); variables and relative IRIs are "
                       "not allowed")


def check_json_depth(data: bytes, *, what: str = "JSON body", max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON (or JSON-LD) nested deeper than ``max_depth`` (strings skipped:
    :func:`provml.store.rdfio.json_depth_over`).

    >>> check_json_depth(b'{"a": "[[[[[[["}', max_depth=2)
    >>> check_json_depth(b'[[[1]]]', max_depth=2)
    Traceback (most recent call last):
    provml.endpoint.limits.InputRefused: the JSON body nests arrays or objects deeper than 2; this endpoint accepts at most 2: flatten it
    """
    if json_depth_over(data, max_depth):
        raise InputRefused(f"the {what} nests arrays or objects deeper than {max_depth}; "
                           f"this endpoint accepts at most {max_depth}: flatten it")


def check_turtle_depth(text: str, *, what: str = "body", max_depth: int = MAX_DEPTH) -> None:
    """Refuse Turtle / TriG / N3 text nested deeper than ``max_depth`` (``[ ( {`` outside
    strings, IRIs and comments)."""
    if text.count("[") + text.count("(") + text.count("{") <= max_depth:
        return
    depth = 0
    for match in _tokens(text):
        kind = match.lastgroup
        if kind == "open":
            depth += 1
            if depth > max_depth:
                raise InputRefused(f"the {what} nests brackets, parentheses or braces deeper "
                                   f"than {max_depth}; this endpoint accepts at most "
                                   f"{max_depth}: flatten it")
        elif kind == "close":
            depth = max(depth - 1, 0)



#: the deepest element nesting accepted in RDF/XML (the parser slows quadratically with depth:
#: 50,000 levels took 50 s)
MAX_XML_DEPTH = 256

_XML_TOKEN = re.compile(
    rb"""<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>
        |(?P<close></[^>]*+>)
        |(?P<open><[^\s/>!?]++(?:\s++[^\s=/>]++\s*+=\s*+(?:"[^"]*+"|'[^']*+'))*+\s*+(?P<empty>/?)>)
        |(?P<unterminated><!--|<!\[CDATA\[|<\?|</)
        |<(?:[^\s/>!?<]|<(?![!?/]))*+""",
    re.VERBOSE | re.DOTALL)
#   (the last form passes over a "<" that opens no tag with the rest of its name, up to a "<" that
#   may open a comment, PI, CDATA or end tag: every "<" in that name would fail the same way,
#   each after reading to its end; Oxigraph's parser takes "<" in names: <<e:p> is an element)


def check_xml_depth(data: bytes, *, what: str = "body", max_depth: int = MAX_XML_DEPTH) -> None:
    """Refuse XML whose elements nest deeper than ``max_depth``.

    >>> check_xml_depth(b"<a x='/>'><b/><c></c></a>", max_depth=2)
    >>> check_xml_depth(b'<a x="/>"><a x="/>"><a x="/>"></a></a></a>', max_depth=2)
    Traceback (most recent call last):
    provml.endpoint.limits.InputRefused: the body nests XML elements deeper than 2; this endpoint accepts at most 2: flatten it
    """
    if data.count(b"<") <= max_depth:
        return
    depth = 0
    for match in _XML_TOKEN.finditer(data):
        if match.lastgroup == "unterminated":  # not XML; each later one would be tried to the end
            raise InputRefused(f"the {what} has a {match.group().decode()} that never ends: "
                               "it is not XML")
        if match.group("open") is not None and not match.group("empty"):
            depth += 1
            if depth > max_depth:
                raise InputRefused(f"the {what} nests XML elements deeper than {max_depth}; "
                                   f"this endpoint accepts at most {max_depth}: flatten it")
        elif match.group("close") is not None:
            depth = max(depth - 1, 0)


def check_rdf_body(data: bytes, format_name: str, *, what: str = "body") -> None:
    """Refuse an RDF body before it is parsed: RDF/XML with a document type declaration
    (entity expansion turns 600 bytes into gigabytes), text that is not UTF-8-compatible, and
    nesting deeper than :data:`MAX_DEPTH` in JSON-LD, Turtle and TriG.

    :param format_name: ``pyoxigraph.RdfFormat.name`` of the body (e.g. ``"RDF/XML"``).
    :raises InputRefused: the body is refused.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4096]:
        raise InputRefused(f"the {what} is not UTF-8 (UTF-16 or NUL bytes); send UTF-8")
    name = format_name.lower()
    if "xml" in name:
        if DTD.search(data):
            raise InputRefused(f"the {what} has a document type declaration (<!DOCTYPE or "
                               "<!ENTITY); entity declarations are not accepted in RDF/XML: "
                               "expand them before sending")
        check_xml_depth(data, what=what)
    elif "json" in name:
        check_json_depth(data, what=what)
    elif name in ("turtle", "trig", "n3"):
        check_turtle_depth(data.decode("utf-8", errors="replace"), what=what)


def sparql_syntax_error(error: BaseException) -> bool:
    """Whether ``error`` is Oxigraph's report that a query or update does not parse (a
    ``SyntaxError`` without a file name), not Python failing to compile a module of the server
    (a lazy import gone wrong: a server fault, never the client's "syntax error").

    >>> import pyoxigraph
    >>> try:
    ...     pyoxigraph.Store().query("SELECT {")
    ... except SyntaxError as error:
    ...     sparql_syntax_error(error)
    True
    >>> try:
    ...     compile("def (", "module.py", "exec")
    ... except SyntaxError as error:
    ...     sparql_syntax_error(error)
    False
    """
    return type(error) is SyntaxError and error.filename is None
