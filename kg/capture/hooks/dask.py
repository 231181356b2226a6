"""A Dask ``distributed`` scheduler plugin: a Dask computation as a provml workflow.

>>> # doctest: +SKIP
>>> from dask.distributed import Client, LocalCluster
>>> from provml.capture.hooks.dask import record
>>> with LocalCluster(n_workers=2) as cluster, Client(cluster) as dask_client:
...     with record(dask_client, "etl", broker="redis://kg:6379/0"):
...         total = dask_client.submit(sum, dask_client.map(inc, range(10))).result()

The plugin runs in the scheduler: no code in any task. The first graph the scheduler receives
begins a workflow execution (``name``); every task that finishes (or fails) becomes a task
execution with its begin and end times from the worker (``startstops``), its Dask key as id
(made safe for IRIs) and its key prefix as name (``inc`` for ``inc-3f2a…``), the outputs of the
tasks it depends on as its inputs and its own output as generated — each a data reference
``dask://<key>`` in the store ``dask``, so the lineage of a result follows the graph from task
to task. A failed task is recorded with status ``errored`` and the exception's type and text.
Leaving :func:`record` (or closing the scheduler) ends the workflow (``finished``, or
``errored`` when a task failed or the block raised) and flushes the capture client;
:func:`record` registers the plugin with ``register_plugin`` and removes it at the end.

The plugin is pickled to reach the scheduler, so it takes the capture client's options (``store``,
``endpoint``, ``broker``, ``spool_dir``, ...; see :class:`provml.capture.client.Client`), not a
client: the scheduler opens its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

from provml.capture.hooks import require
from provml.capture.redact import redact_cut, redact_name, redact_values

distributed = require("distributed", feature="provml.capture.hooks.dask", package="distributed", extra="dask")
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

__all__ = ["ProvenancePlugin", "record", "task_id"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")  # (no ~: it marks a key run again, ProvenancePlugin._execution)


def task_id(key: Any) -> str:
    """A Dask key as a provml task id: ``('inc-3f2a', 0)`` → ``inc-3f2a-0``.

    >>> task_id(("inc-3f2a", 0)), task_id("sum-9c1d")
    ('inc-3f2a-0', 'sum-9c1d')
    """
    parts = key if isinstance(key, tuple) else (key,)
    text = _UNSAFE.sub("-", "-".join(str(p) for p in parts)).strip("-") or "task"
    if len(text) > 180:
        text = text[:160] + "-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return text


def _prefix(key: Any) -> str:
    from dask.utils import key_split

    return str(key_split(key)) or "task"


def _output(key: Any, nbytes: int | None = None, role: str = "data") -> dict[str, Any]:
    from provml.capture.values import data

    return data(task_id(key), f"dask://{task_id(key)}", store="dask", store_type="OBJECT_STORE",
                size=nbytes if nbytes and nbytes > 0 else None, role=role)


class _Runs:
    """How many times each task id ran under one run id, kept compactly: a long recording sees
    millions of keys, and a dict of their ids took ≈ 120 bytes a key (123 MB for 10**6 keys,
    measured with tracemalloc). An 8-byte digest of each id that ran, with its count of runs, in
    open-addressing tables of 8 + 4 bytes a slot, a quarter to half full (24-48 bytes a key):
    25 MB for 10**6 keys, however often they ran. 256 tables, chosen by the digest's last byte, so that growing one
    copies a 256th of the digests, not all of them at once (the dict's resize at 10**6 keys
    held the scheduler 20-30 ms). Two ids with one digest (at 10**6 keys, about one chance in
    4·10**7) share one count: the second's first run is ``~2`` where no suffix would do, but
    never an id of the other, and each id's own count still only goes up.
    """

    __slots__ = ("_digests", "_counts", "_sizes")

    def __init__(self) -> None:
        self._digests = [array("Q", [0]) * 8 for _ in range(256)]  # 0: an empty slot
        self._counts = [array("I", [0]) * 8 for _ in range(256)]
        self._sizes = [0] * 256

    def ran(self, id: str) -> int:
        """Note a run of ``id``; how many times it has run, this run included."""
        digest = int.from_bytes(hashlib.blake2b(id.encode(), digest_size=8).digest(), "little") or 1
        table = digest & 255
        digests, counts = self._digests[table], self._counts[table]
        mask = len(digests) - 1
        slot = (digest >> 8) & mask
        while (held := digests[slot]) != digest:
            if held == 0:  # its first run
                digests[slot] = digest
                counts[slot] = 1
                size = self._sizes[table] = self._sizes[table] + 1
                if 2 * size > len(digests):
                    self._digests[table], self._counts[table] = _grown(digests, counts)
                return 1
            slot = (slot + 1) & mask
        n = counts[slot] = counts[slot] + 1
        return n


def _grown(digests: array[int], counts: array[int]) -> tuple[array[int], array[int]]:
    """A table of :class:`_Runs` with twice the slots, holding the same digests and counts."""
    new_digests, new_counts = array("Q", [0]) * (2 * len(digests)), array("I", [0]) * (2 * len(digests))
    mask = len(new_digests) - 1
    for digest, count in zip(digests, counts, strict=True):
        if digest:
            slot = (digest >> 8) & mask
            while new_digests[slot]:
                slot = (slot + 1) & mask
            new_digests[slot], new_counts[slot] = digest, count
    return new_digests, new_counts


class ProvenancePlugin(SchedulerPlugin):  # type: ignore[misc]
    """Record the scheduler's computations as one provml workflow (see the module's text).

    :param workflow: the workflow's name.
    :param name: the plugin's name on the scheduler (``unregister_scheduler_plugin(name)``).
    :param run_id: the workflow execution's id (default: a new one for each recording); a plugin
        that records again under it gives its second recording ``<run_id>~2``, its third ``~3`` …
    :param client_options: the capture client's options (``store=``, ``endpoint=``, ``broker=``,
        ``spool_dir=``, ``token=``, ``bag_size=`` ...).
    """

    def __init__(self, workflow: str, *, name: str = "provml", run_id: str | None = None,
                 **client_options: Any) -> None:
        self.workflow = redact_name(workflow)  # (as the capture client records a workflow's name)
        self.name = name
        self.run_id = run_id
        self.client_options = client_options
        self._client: Any = None
        self._run: str | None = None
        self._failed = False
        self._began = 0.0
        self._scheduler: Any = None
        #: how many times each task id ran in this recording (None: none counted)
        self._runs: _Runs | None = None
        #: the recordings begun under the fixed ``run_id`` (the second is ``<run_id>~2`` ...)
        self._recordings = 0

    # -- the scheduler's hooks -------------------------------------------------------------------
    async def start(self, scheduler: Any) -> None:
        self._scheduler = scheduler

    def update_graph(self, scheduler: Any, *, keys: set[Any], **kwargs: Any) -> None:
        self._scheduler = scheduler
        self._begin()

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start != "processing" or finish not in ("memory", "erred"):
            return
        self._begin()
        state = self._scheduler.tasks.get(key) if self._scheduler is not None else None
        deps: Iterable[Any] = [d.key for d in state.dependencies] if state is not None else ()
        nbytes = state.nbytes if state is not None else None
        spans = [s for s in kwargs.get("startstops", ()) if s.get("action") == "compute"]
        now = time.time()
        begin_t = float(spans[0]["start"]) if spans else now
        end_t = float(spans[-1]["stop"]) if spans else now
        common = {"v": 1, "run": self._run, "workflow": self.workflow, "task": self._execution(key),
                  "name": _prefix(key), "type": "generic"}
        begin: dict[str, Any] = {**common, "kind": "task_begin", "t": begin_t}
        used = redact_values([_output(d) for d in deps])  # (as every capture call's values)
        if used:
            begin["used"] = used
        end: dict[str, Any] = {**common, "kind": "task_end", "t": max(end_t, begin_t)}
        if finish == "memory":
            end["status"] = "finished"
            end["generated"] = redact_values([_output(key, nbytes)])
        else:
            self._failed = True
            end["status"] = "errored"
            exception = kwargs.get("exception_text") or ""
            end["error"] = {"type": _error_type(kwargs.get("exception")),
                            "message": redact_cut(str(exception), 1000)}  # a DSN's password in it
        self._put(begin)
        self._put(end)

    async def close(self) -> None:
        self._end()

    def _execution(self, key: Any) -> str:
        """The task id of this run of ``key``: its :func:`task_id`, then ``~2``, ``~3`` … for a
        key computed again (a collection computed twice: its deterministic keys ran again, and
        two executions under one id made ``provml load`` reject the whole run: a probe,
        twenty-seventh session). ``~`` is no separator :func:`task_id` writes. The counts are
        the recording's (:class:`_Runs`): a task's IRI holds its run id, and each recording has
        one of its own (:meth:`_begin`), so each counts from 1."""
        base = task_id(key)
        if self._runs is None:
            self._runs = _Runs()
        n = self._runs.ran(base)
        return base if n == 1 else f"{base}~{n}"

    # -- the capture client ----------------------------------------------------------------------
    def _begin(self) -> None:
        if self._client is not None:
            return
        from provml.capture.client import Client, new_run_id

        options = {"install_signal_handler": False, **self.client_options}
        self._client = Client(**options)
        if self.run_id is None:
            self._run = new_run_id(self.workflow)
        else:  # a fixed run id's next recording is a run of its own: ``~2``, ``~3`` … (one IRI
            # for two recordings: the store refuses the second, provml.ingest.reruns)
            self._recordings += 1
            self._run = self.run_id if self._recordings == 1 else f"{self.run_id}~{self._recordings}"
        self._began = time.time()
        self._put({"v": 1, "kind": "workflow_begin", "t": self._began, "run": self._run,
                   "workflow": self.workflow, "type": "generic", "tags": ["dask"]})

    def _end(self) -> None:
        client, self._client = self._client, None
        self._runs = None  # (the next recording counts from 1: a run id of its own)
        if client is None:
            return
        # never before its begin: the system clock may have been set back meanwhile
        client._flusher.put({"v": 1, "kind": "workflow_end", "t": max(time.time(), self._began), "run": self._run,
                             "workflow": self.workflow, "status": "errored" if self._failed else "finished"})
        client.close()

    def _put(self, event: dict[str, Any]) -> None:
        self._client._flusher.put(event)


@contextlib.contextmanager
def record(dask_client: Any, workflow: str, *, name: str = "provml", run_id: str | None = None,
           **client_options: Any) -> Iterator[str]:
    """Record what the scheduler of ``dask_client`` runs in this block as the workflow ``workflow``;
    yields the run id. ``client_options`` go to the scheduler's capture client."""
    from provml.capture.client import new_run_id

    run = run_id or new_run_id(workflow)
    if dask_client.run_on_scheduler(_has_plugin, name=name):  # (the inner one replaced the outer,
        # whose end then raised KeyError into the script: a probe, twenty-seventh session)
        raise ValueError(f"a plugin named {name!r} is registered on this scheduler already (a "
                         f"record() running): give this one another name, record(..., name=...)")
    dask_client.register_plugin(ProvenancePlugin(workflow, name=name, run_id=run, **client_options))
    failed = False
    try:
        yield run
    except BaseException:
        failed = True
        raise
    finally:
        dask_client.run_on_scheduler(_end_on_scheduler, name=name, failed=failed)
        dask_client.unregister_scheduler_plugin(name)


def _has_plugin(dask_scheduler: Any, name: str) -> bool:
    return name in dask_scheduler.plugins


def _end_on_scheduler(dask_scheduler: Any, name: str, failed: bool) -> None:
    plugin = dask_scheduler.plugins.get(name)
    if not isinstance(plugin, ProvenancePlugin):  # (gone: unregistered by someone else)
        return
    plugin._failed = plugin._failed or failed
    plugin._begin()  # a block that computed nothing still records its (empty) workflow
    plugin._end()


def _error_type(exception: Any) -> str:
    """The type of a failed task's exception, as the transition gives it: the exception, a
    ``Serialize`` of it (``.data``), or its pickle (``Serialized``/bytes); ``Exception`` when none
    reads (it was always ``Exception``: a probe, twenty-seventh session)."""
    if getattr(exception, "data", None) is not None:  # a Serialize (a Serialized's data is None)
        exception = exception.data
    if not isinstance(exception, BaseException):
        try:
            from distributed.protocol.serialize import deserialize

            if hasattr(exception, "header") and hasattr(exception, "frames"):  # a Serialized
                exception = deserialize(exception.header, exception.frames)  # type: ignore[no-untyped-call]
            if isinstance(exception, bytes | bytearray):  # (what a Serialized holds: the pickle)
                import pickle

                exception = pickle.loads(exception)  # noqa: S301 - the scheduler's own pickle
        except Exception:  # noqa: BLE001 - its type is not known then
            return "Exception"
    return type(exception).__name__ if isinstance(exception, BaseException) else "Exception"
