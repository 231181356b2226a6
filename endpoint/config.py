"""The endpoint's configuration: one frozen dataclass built from a plain mapping.

``create_app({"STORE": "kg-store", "TOKEN": "s3cret"})`` — keys are the upper-case field names
below; unknown keys are kept in Flask's ``app.config`` untouched (other blueprints may read their
own), and known ones are checked here once.

=================  ==========================================================================
key                meaning (default)
=================  ==========================================================================
``STORE``          directory of the on-disk Oxigraph store (None: in memory)
``REMOTE``         base URL of a remote SPARQL 1.1 store, instead of ``STORE``
``BASE_URL``       the public URL of this endpoint (``https://kg.example.org``); used as
                   ``sd:endpoint`` and in ``Location`` headers (None: from the request)
``INSTANCE_BASE``  the base IRI of instance data (``provml.vocab.DEFAULT_BASE``)
``TOKEN``          bearer token every write needs (None: writes are refused, 403)
``READ_TOKEN``     bearer token reads need (None: reads are open); the write token also reads
``READ_ONLY``      refuse every write with 403, whatever the token (False)
``CORS_ORIGINS``   origins allowed cross-origin (``()``: CORS off); ``("*",)`` for any
``TIMEOUT_S``      query time limit in seconds (30; 0 or None: none)
``MAX_ROWS``       most solutions/triples one query returns (100000; 0 or None: no limit)
``MAX_ANSWER_MB``  largest query answer in MiB (64; 0 or None: no limit), as a query worker sends
                   it: the server holds an answer whole while its client reads it
``MAX_UNSENT_MB``  the answers over 64 KiB that clients are taking, all together, in MiB (512;
                   0 or None: no limit): past it, an answer is refused (503, ``Retry-After``)
                   (``provml serve``; :mod:`provml.endpoint.front`)
``MAX_BODY_MB``    largest request body in MiB (64)
``MAX_FORM_MB``    largest form body (``application/x-www-form-urlencoded``, ``multipart/form-data``)
                   in MiB without the write token (1): a form from anyone carries a query, and
                   larger ones go as they are; with the write token, ``MAX_BODY_MB``
``QUERY_ISOLATION``  ``"process"`` (the default with an on-disk ``STORE``): every query
                   evaluates in a worker process, killed at the time limit and capped in
                   memory; ``"thread"`` (the default otherwise): queries evaluate in the server
                   process (see :mod:`provml.endpoint.sparql.isolation`)
``QUERY_WORKERS``  worker processes, i.e. queries evaluating at once (4)
``QUERY_MEMORY_MB``  memory limit (RLIMIT_DATA) of each worker process in MiB (0: none); when
                   absent, :func:`default_query_memory_mb`: 2048, lowered so that the workers
                   together stay within half the machine's memory (at least 512)
``ALLOW_REMOTE``   URL prefixes that ``SERVICE`` and ``LOAD`` may reach (``()``: none; only
                   http and https, never ``file:``)
``FAST_READS``     answer plain ``GET /sparql?query=`` past Flask's request machinery, with
                   the same guards (True; see :mod:`provml.endpoint.fast_reads`)
``RESULT_CACHE_MB``  memory for the lean path's answers, kept until the next write (32; 0:
                   no cache; never with ``REMOTE``: others write there; with a ``kg`` passed
                   to ``create_app`` only when given, as its owner may write it directly;
                   see :mod:`provml.endpoint.sparql.cache`)
=================  ==========================================================================

>>> Config.from_mapping({"TOKEN": "t", "CORS_ORIGINS": "https://a.org, https://b.org"}).cors_origins
('https://a.org', 'https://b.org')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provml.vocab import DEFAULT_BASE

__all__ = ["Config", "CONFIG_KEY", "default_query_memory_mb"]

#: where the parsed :class:`Config` lives in ``app.extensions``
CONFIG_KEY = "provml.config"


def _origins(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(str(part) for part in value)


#: a query worker's memory limit when none is given, and the least :func:`default_query_memory_mb`
#: lowers it to (a worker at rest reserves 200–300 MiB: docs/endpoint.md)
QUERY_MEMORY_MB, QUERY_MEMORY_MIN_MB = 2048, 512


def machine_memory_mb() -> int | None:
    """The memory this process may use in MiB: the machine's physical memory, or its control
    group's limit where that is lower (a container's; Linux, cgroup v2); None where the platform
    says neither (``sysconf`` answers -1 for what it does not know)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        pages = size = -1
    known = [pages * size // 2**20] if pages > 0 and size > 0 else []
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as file:
            limit = file.read().strip()
    except OSError:
        limit = "max"
    if limit.isdigit():
        known.append(int(limit) // 2**20)
    return min(known) if known else None


def default_query_memory_mb(workers: int, machine_mb: int | None) -> int:
    """Each query worker's memory limit when none is given: :data:`QUERY_MEMORY_MB`, lowered so
    that ``workers`` of them together stay within half of ``machine_mb`` (a laptop's 8 GiB and 4
    workers: 1024 each), never below :data:`QUERY_MEMORY_MIN_MB`.

    >>> default_query_memory_mb(4, 24 * 1024), default_query_memory_mb(4, 8 * 1024)
    (2048, 1024)
    >>> default_query_memory_mb(16, 8 * 1024), default_query_memory_mb(4, None)
    (512, 2048)
    """
    if not machine_mb:
        return QUERY_MEMORY_MB
    return max(QUERY_MEMORY_MIN_MB, min(QUERY_MEMORY_MB, machine_mb // 2 // max(1, workers)))


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number or None


@dataclass(frozen=True)
class Config:
    """The endpoint settings (see the module docstring for each key)."""

    store: str | None = None
    remote: str | None = None
    base_url: str | None = None
    instance_base: str = DEFAULT_BASE
    token: str | None = field(default=None, repr=False)  # (never in a log line or a traceback)
    read_token: str | None = field(default=None, repr=False)
    read_only: bool = False
    cors_origins: tuple[str, ...] = ()
    timeout_s: float | None = 30.0
    max_rows: int | None = 100_000
    max_answer_mb: float | None = 64.0
    max_unsent_mb: float | None = 512.0
    max_body_mb: float = 64.0
    max_form_mb: float = 1.0
    query_isolation: str | None = None
    query_workers: int = 4
    query_memory_mb: int | None = QUERY_MEMORY_MB
    allow_remote: tuple[str, ...] = ()
    fast_reads: bool = True
    result_cache_mb: float | None = 32.0

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> Config:
        """Build from upper-case keys; absent keys take the defaults.

        :raises ValueError: a value is out of range, or both ``STORE`` and ``REMOTE`` are set.
        """
        m = dict(mapping or {})
        if m.get("STORE") and m.get("REMOTE"):
            raise ValueError("give STORE or REMOTE, not both")
        rows = _number(m.get("MAX_ROWS", cls.max_rows), "MAX_ROWS")
        body = _number(m.get("MAX_BODY_MB", cls.max_body_mb), "MAX_BODY_MB")
        answer = _number(m.get("MAX_ANSWER_MB", cls.max_answer_mb), "MAX_ANSWER_MB")
        unsent = _number(m.get("MAX_UNSENT_MB", cls.max_unsent_mb), "MAX_UNSENT_MB")
        form = _number(m.get("MAX_FORM_MB", cls.max_form_mb), "MAX_FORM_MB")
        base_url = m.get("BASE_URL")
        workers = max(1, int(m.get("QUERY_WORKERS") or cls.query_workers))
        memory = default_query_memory_mb(workers, machine_memory_mb()) \
            if m.get("QUERY_MEMORY_MB") in (None, "") else _number(m["QUERY_MEMORY_MB"], "QUERY_MEMORY_MB")
        isolation = str(m["QUERY_ISOLATION"]) if m.get("QUERY_ISOLATION") else None
        if isolation not in (None, "thread", "process"):
            raise ValueError(f"QUERY_ISOLATION must be 'thread' or 'process', not {isolation!r}")
        return cls(
            store=str(m["STORE"]) if m.get("STORE") else None,
            remote=str(m["REMOTE"]) if m.get("REMOTE") else None,
            base_url=str(base_url).rstrip("/") if base_url else None,
            instance_base=str(m.get("INSTANCE_BASE") or DEFAULT_BASE),
            token=str(m["TOKEN"]) if m.get("TOKEN") else None,
            read_token=str(m["READ_TOKEN"]) if m.get("READ_TOKEN") else None,
            read_only=bool(m.get("READ_ONLY", False)),
            cors_origins=_origins(m.get("CORS_ORIGINS")),
            timeout_s=_number(m.get("TIMEOUT_S", cls.timeout_s), "TIMEOUT_S"),
            max_rows=int(rows) if rows else None,
            max_answer_mb=answer if answer else None,
            max_unsent_mb=unsent if unsent else None,
            max_body_mb=body if body else cls.max_body_mb,
            max_form_mb=form if form else cls.max_form_mb,
            query_isolation=isolation,
            query_workers=workers,
            query_memory_mb=int(memory) if memory else None,
            allow_remote=_origins(m.get("ALLOW_REMOTE")),
            fast_reads=bool(m.get("FAST_READS", True)),
            result_cache_mb=_number(m.get("RESULT_CACHE_MB", cls.result_cache_mb),
                                    "RESULT_CACHE_MB"),
        )
