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

from collections.abc import Iterator, Sequence

from pyoxigraph import NamedNode

from provml.store.lexing import Lexer

__all__ = ["restrict_update"]

_LEXER = Lexer(r"""
      (?P<space>\s+|\#[^\n]*)
    | (?P<string>{long}'(?:[^'\\\n]|\\.)*+'|"(?:[^"\\\n]|\\.)*+")
    | (?P<bad>['"])
    | (?P<iri><[^<>"{{}}|^`\\\x00-\x20]*>)
    | (?P<open>\{{)
    | (?P<close>\}})
    | (?P<word>[?$]?(?:[A-Za-z_]|[^\x00-\x7f])(?:[\w\-.:%]|[^\x00-\x7f]|\\.)*+|(?:[\w:]|[^\x00-\x7f])+)
    | (?P<other>.)
    """, "string")


def _tokens(text: str) -> Iterator[tuple[str, str, int, int]]:
    for match in _LEXER.tokens(text, ValueError):
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
