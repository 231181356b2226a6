"""The dataset of a SPARQL update: the protocol's ``using-graph-uri`` as ``USING`` clauses.

The SPARQL 1.1 Protocol lets a client restrict the dataset an update's ``WHERE`` clause matches
(``using-graph-uri``, ``using-named-graph-uri``), which pyoxigraph's ``Store.update`` has no
argument for. :func:`restrict_update` writes the equivalent ``USING`` / ``USING NAMED`` clauses
into every ``DELETE``/``INSERT … WHERE`` operation, with a small tokenizer that skips strings,
IRIs and comments, so the text of the user's patterns is never touched.

>>> restrict_update("DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", using=[NamedNode("http://e.org/g")])
'DELETE { ?s ?p ?o } USING <http://e.org/g> WHERE { ?s ?p ?o }'
>>> restrict_update("DELETE WHERE { ?s ?p 1 }", using=[NamedNode("http://e.org/g")])
'DELETE { ?s ?p 1 } USING <http://e.org/g> WHERE { ?s ?p 1 }'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from pyoxigraph import NamedNode

__all__ = ["restrict_update"]

_LONG_STRINGS = (r"'''(?:[^'\\]|\\.|'(?!''))*+'''", r'"""(?:[^"\\]|\\.|"(?!""))*+"""')
_TOKEN_TEMPLATE = r"""
      (?P<space>\s+|\#[^\n]*)
    | (?P<string>{long}'(?:[^'\\\n]|\\.)*+'|"(?:[^"\\\n]|\\.)*+")
    | (?P<bad>['"])
    | (?P<iri><[^<>"{{}}|^`\\\x00-\x20]*>)
    | (?P<open>\{{)
    | (?P<close>\}})
    | (?P<word>[?$]?(?:[A-Za-z_]|[^\x00-\x7f])(?:[\w\-.:%]|[^\x00-\x7f]|\\.)*+|(?:[\w:]|[^\x00-\x7f])+)
    | (?P<other>.)
    """
_PATTERNS: dict[tuple[bool, bool], re.Pattern[str]] = {}


def _pattern(long_single: bool, long_double: bool) -> re.Pattern[str]:
    key = (long_single, long_double)
    if key not in _PATTERNS:
        long = "".join(f"{s}|" for s, on in zip(_LONG_STRINGS, key, strict=True) if on)
        _PATTERNS[key] = re.compile(_TOKEN_TEMPLATE.format(long=long), re.VERBOSE | re.DOTALL)
    return _PATTERNS[key]


_TOKEN = _pattern(True, True)


def _matches(text: str) -> Iterator[re.Match[str]]:
    """``_TOKEN.finditer(text)`` in linear time (see provml.endpoint.limits._tokens)."""
    long_single = long_double = True
    pos = 0
    while True:
        for match in _pattern(long_single, long_double).finditer(text, pos):
            if match.lastgroup == "bad":
                raise ValueError(f"the update has a string with no closing quote (at character "
                                 f"{match.start():,})")
            yield match
            if match.lastgroup == "string" and match.end() - match.start() == 2:
                quote = text[match.start()]
                if text.startswith(quote, match.end()) and (long_single if quote == "'" else long_double):
                    long_single = long_single and quote != "'"
                    long_double = long_double and quote != '"'
                    pos = match.end()
                    break
        else:
            return


def _tokens(text: str) -> Iterator[tuple[str, str, int, int]]:
    for match in _matches(text):
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            yield kind, match.group(), match.start(), match.end()


def restrict_update(
    sparql: str, *, using: Sequence[NamedNode] = (), using_named: Sequence[NamedNode] = ()
) -> str:
    """Return ``sparql`` with ``USING <g>`` / ``USING NAMED <g>`` added to each operation that
    has a ``WHERE`` clause (``DELETE WHERE`` is rewritten to its ``DELETE … WHERE`` long form).

    :param sparql: a SPARQL 1.1 update request (one or more operations).
    :param using: graphs whose merge is the default graph of each ``WHERE``.
    :param using_named: graphs available to ``GRAPH`` in each ``WHERE``.
    :raises ValueError: the request has its own ``USING`` or ``WITH`` (the protocol forbids
        mixing them with ``using-graph-uri``), or unbalanced braces.
    """
    clause = " ".join([f"USING {g}" for g in using] + [f"USING NAMED {g}" for g in using_named])
    if not clause:
        return sparql
    tokens = list(_tokens(sparql))
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement)
    depth = 0
    for index, (kind, text, start, _end) in enumerate(tokens):
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced '}' in the update")
        elif depth == 0 and kind == "word":
            keyword = text.upper()
            if keyword in ("USING", "WITH"):
                raise ValueError(
                    f"the update has its own {keyword} clause; it cannot be combined with "
                    "using-graph-uri / using-named-graph-uri"
                )
            if keyword != "WHERE":
                continue
            previous = tokens[index - 1] if index else None
            if previous is not None and previous[0] == "word" and previous[1].upper() == "DELETE":
                block_start, block_end = _block(tokens, index + 1)
                block = sparql[block_start:block_end]
                edits.append((previous[2], block_end, f"DELETE {block} {clause} WHERE {block}"))
            else:
                edits.append((start, start, f"{clause} "))
    if depth != 0:
        raise ValueError("unbalanced '{' in the update")
    for start, end, replacement in reversed(edits):
        sparql = sparql[:start] + replacement + sparql[end:]
    return sparql


def _block(tokens: list[tuple[str, str, int, int]], first: int) -> tuple[int, int]:
    """The character span of the ``{ … }`` group starting at token ``first``."""
    if first >= len(tokens) or tokens[first][0] != "open":
        raise ValueError("DELETE WHERE must be followed by '{'")
    depth = 0
    for kind, _text, _start, end in tokens[first:]:
        depth += {"open": 1, "close": -1}.get(kind, 0)
        if depth == 0:
            return tokens[first][2], end
    raise ValueError("unbalanced '{' in the update")
