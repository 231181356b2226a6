"""A bounded cache of written query results, emptied by every write.

The lean read path (:mod:`provml.endpoint.fast_reads`) keeps the answers of plain
``GET /sparql?query=`` reads here, keyed by what decides the answer besides the data: the raw
query string (the query text), the ``Accept`` header, and the ``Host``, scheme and script name
(the base IRI). Each entry is tagged with the
store version it was evaluated at (:attr:`~provml.endpoint.sparql.evaluation.QueryRunner.version`,
counted up after every write the endpoint makes, and by the broker's writer); an entry of an
older version is never answered, and the first entry stored after a write drops all older ones.

Bounded: at most ``max_bytes`` of memory in all (least recently used first out): bodies, query
texts, headers as ``sys.getsizeof`` counts them (a query of emoji holds 4 bytes a character),
and the entries' own objects; no single answer over an eighth of that. Only complete answers
are kept (200, within the time limit); refusals and errors never are. A query that was answered from here was scanned and
evaluated once under every guard; the same text, format and host give the same bytes until the
next write.

Queries that call a function whose value changes from one evaluation to the next (``NOW``,
``RAND``, ``UUID``, ``STRUUID``, ``BNODE``) are never kept (:func:`repeatable`).

>>> from provml.endpoint.sparql.results import Rendered
>>> cache = ResultCache(max_bytes=16 * 1024)
>>> cache.put(("ASK {}", None, "http://h"), 0, Rendered(200, "boolean", "x", b"{}"))
>>> cache.get(("ASK {}", None, "http://h"), 0).body
b'{}'
>>> cache.get(("ASK {}", None, "http://h"), 1) is None
True
"""

from __future__ import annotations

import re
import sys
import threading
from collections import OrderedDict

from provml.endpoint.sparql.results import Rendered

__all__ = ["Key", "ResultCache", "repeatable"]

#: (query string, Accept, Host, scheme, script name): what decides the answer besides the data
Key = tuple[str | None, ...]

#: SPARQL 1.1 functions whose value differs between evaluations (§17.4.5.1, 17.4.5.2, 17.4.2.9):
#: a mention anywhere (even in a string or a comment) keeps the answer out of the cache. Space
#: may stand between the name and its ``(``, and so may a comment (``NOW #…⏎ ()``): a name
#: followed by a ``#`` counts as a call, without reading the comment (reading it, once for each
#: name on its line, took 64 KB of ``#NOW `` 4 s; regex audit, 18th session).
_VOLATILE = re.compile(r"\b(?:NOW|RAND|UUID|STRUUID|BNODE)\s*+[(#]", re.IGNORECASE)


def repeatable(text: str) -> bool:
    """Whether the same query on the same data always gives the same answer (no ``NOW()``,
    ``RAND()``, ``UUID()``, ``STRUUID()`` or ``BNODE(…)``).

    >>> repeatable("SELECT * { ?s ?p ?o }"), repeatable("SELECT (rand() AS ?r) {}")
    (True, False)
    >>> repeatable("SELECT (NOW # a comment\\n () AS ?t) {}")
    False
    """
    return _VOLATILE.search(text) is None


#: what an entry costs beyond its strings and body (the key tuple, the dict slot, the Rendered
#: and its attributes, the value tuple): ~440 bytes measured with tracemalloc
_OVERHEAD = 512


def _cost(key: Key, rendered: Rendered) -> int:
    """The bytes an entry holds in memory: ``sys.getsizeof`` of its strings (a character
    outside ASCII takes 2 or 4 bytes in a Python ``str``, not 1) and body, and the rest."""
    return (sum(sys.getsizeof(part) for part in key) + sys.getsizeof(rendered.body)
            + sys.getsizeof(rendered.content_type) + _OVERHEAD)


class ResultCache:
    """Written answers by request key (:data:`Key`), for one store version at a time."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 8
        self.version = -1
        self.size = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[Key, tuple[Rendered, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, version: int) -> Rendered | None:
        """The answer stored for ``key`` at ``version``, or None."""
        with self._lock:
            if version != self.version:
                self.misses += 1
                return None
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Key, version: int, rendered: Rendered) -> None:
        """Keep ``rendered`` (evaluated at store ``version``) unless it is too large, not a
        complete answer, or of a version older than what is kept."""
        if rendered.status != 200:
            return
        cost = _cost(key, rendered)
        if cost > self.max_entry_bytes:
            return
        with self._lock:
            if version < self.version:  # the store was written meanwhile: out of date
                return
            if version > self.version:  # the first answer after a write: drop all older ones
                self._entries.clear()
                self.size = 0
                self.version = version
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._entries[key] = (rendered, cost)
            self.size += cost
            while self.size > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.size -= dropped

    def __len__(self) -> int:
        return len(self._entries)
