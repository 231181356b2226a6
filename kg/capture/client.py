"""The capture client: configuration, the sink, the flusher thread, and the factory of workflows.

Why it is long: it is the public capture API (options, workflows, ``track``, signal and exit
handling, stats), each documented where it is defined.

>>> import tempfile
>>> spool = tempfile.mkdtemp()
>>> with Client(spool_dir=spool, online=False) as client:
...     with client.workflow("demo") as wf:
...         with wf.task("add", used={"a": 1, "b": 2}) as t:
...             t.generated(value("sum", 3))
>>> from provml.capture.spool import read_events, spool_files
>>> [e["kind"] for e in read_events(spool_files(spool)[0])]
['workflow_begin', 'task_begin', 'task_end', 'workflow_end']
"""

from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from provml.capture import metadata
from provml.capture.flusher import Flusher, FlushStats
from provml.capture.redact import redact_cut, redact_name, redact_names, redact_text
from provml.capture.scopes import (
    Cycle,
    Task,
    Values,
    Workflow,
    check_id,
    check_name,
    current_scope,
    run_id_taken,
)
from provml.capture.sinks import HttpSink, Sink, StoreSink
from provml.capture.spool import default_spool_dir
from provml.capture.values import Value, to_values, value
from provml.closing import Closing
from provml.kinds import WORKFLOW_TYPES

__all__ = ["Client", "SETTINGS"]

log = logging.getLogger("provml.capture.scopes")

F = TypeVar("F", bound=Callable[..., Any])

#: the paper's six settings (§6.2): bag size, diskful, online
SETTINGS: dict[str, tuple[int, bool, bool]] = {
    "A": (1, False, True),
    "B": (1, True, True),
    "C": (1, True, False),
    "D": (50, False, True),
    "E": (50, True, True),
    "F": (50, True, False),
}

_SLUG = re.compile(r"[^A-Za-z0-9._~-]+")


def new_run_id(name: str) -> str:
    """A run id: the workflow name, the UTC time and a random suffix.

    >>> new_run_id("force 2020")[:11]
    'force-2020-'
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{_SLUG.sub('-', name)[:100]}-{stamp}-{secrets.token_hex(3)}"


def _spec_dict(spec: Any) -> dict[str, Any]:
    """A spec given as WorkflowSpec, mapping or file path, as the dict a ``spec`` event carries."""
    from provml.ingest.spec import WorkflowSpec, load_spec

    if isinstance(spec, (str, os.PathLike)):
        spec = load_spec(os.fspath(spec))
    elif isinstance(spec, Mapping):
        spec = WorkflowSpec.from_dict(spec)
    if not isinstance(spec, WorkflowSpec):
        raise TypeError(f"spec must be a WorkflowSpec, a mapping or a file path, not {type(spec).__name__}")
    return spec.to_dict()


class Client(Closing):
    """Captures provenance events and delivers them asynchronously, in bags, without loss.

    :param store: an on-disk Oxigraph store directory: events are stored in this process.
    :param endpoint: an endpoint URL: events are POSTed to ``{endpoint}/api/events``.
    :param broker: a Redis URL (``redis://host:6379/0``): bags are appended to a Redis stream for
        ``provml ingest-worker`` (:mod:`provml.capture.broker`; needs the ``redis`` extra).
    :param token: the endpoint's bearer token.
    :param spool_dir: diskful: every event is appended to a JSON-lines spool here before it
        is sent (also where pending and rejected events go).
    :param online: False: write the spool only (needs ``spool_dir``); load it later with
        ``provml load``.
    :param bag_size: queued records per bag sent to the sink (the paper's queue size: 1 or
        50); a record is an event, or a batch's begin and end (two events, one record).
    :param max_queue: records held in memory; more spill to disk (never block, never drop).
    :param env_allowlist: environment variables recorded in the workflow's metadata (secrets
        are dropped even when listed).
    :param flush_interval_s: a partial bag waits at most this long (above 0, at most a day).
    :param wait_on_end: when a workflow ends, wait until its events are sent or on disk.
    :param install_signal_handler: flush on SIGTERM (only if no handler is installed yet).
    :raises ValueError: an impossible combination (both ``store`` and ``endpoint``; offline
        without ``spool_dir``; nowhere to send).
    """

    def __init__(
        self,
        *,
        store: str | os.PathLike[str] | None = None,
        endpoint: str | None = None,
        broker: str | None = None,
        token: str | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        online: bool = True,
        bag_size: int = 50,
        max_queue: int = 10_000,
        env_allowlist: Iterable[str] = (),
        flush_interval_s: float = 1.0,
        wait_on_end: bool = False,
        install_signal_handler: bool = True,
    ) -> None:
        if sum(x is not None for x in (store, endpoint, broker)) > 1:
            raise ValueError("give one of store=, endpoint= or broker=")
        if not online and spool_dir is None:
            raise ValueError("offline capture (online=False) needs spool_dir=")
        if online and store is None and endpoint is None and broker is None and spool_dir is None:
            raise ValueError("nowhere to send events: give store=, endpoint=, broker= or spool_dir=")
        sink: Sink | None = None
        if online and store is not None:
            sink = StoreSink(store)
        elif online and endpoint is not None:
            sink = HttpSink(endpoint, token=token)
        elif online and broker is not None:
            from provml.capture.broker import RedisSink

            sink = RedisSink(broker)
        self.online = sink is not None
        self.diskful = spool_dir is not None
        self.bag_size = bag_size
        # (a name alone, "HOME", was taken letter by letter and recorded nothing: a probe)
        self.env_allowlist = (env_allowlist,) if isinstance(env_allowlist, str) else tuple(env_allowlist)
        self.wait_on_end = wait_on_end
        self.name = f"provml-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
        directory = Path(spool_dir) if spool_dir is not None else default_spool_dir()
        self._current: ContextVar[Workflow | Task | Cycle | None] = ContextVar(
            f"provml_scope_{id(self)}", default=None
        )
        self._commit: str | None | bool = False  # False: not looked up yet
        self._flusher = Flusher(
            sink=sink,
            spool_dir=directory,
            diskful=self.diskful,
            bag_size=bag_size,
            max_queue=max_queue,
            flush_interval_s=flush_interval_s,
            name=self.name,
            enrich=self._add_commit,
        )
        self._closed = False
        self._run_ids: set[str] = set()  # the run ids begun (Workflow.begin): each once
        #: tasks begun and not ended (id -> task): close() and flush() find the cycles open in
        #: them, whose begin a ``with`` block holds until the cycle's end (Cycle.begin_now)
        self._open_tasks: dict[int, Task] = {}
        #: workflows begun and not ended (id -> workflow): a forked child leaves them to its parent
        self._open_workflows: dict[int, Workflow] = {}
        self._atexit = _weak_close(self)
        atexit.register(self._atexit)
        self._child = False  # a child of os.fork: each task's end waits for its events (Task._after_end)
        self._closing_on: int | None = None  # the thread in close(), for the SIGTERM handler
        self._after_close: Callable[[], None] | None = None  # a SIGTERM that came during it
        _LIVE.add(self)  # (a child of os.fork gives it a flusher of its own: after_fork)
        self._previous_handler: Any = None
        if install_signal_handler:
            self._install_sigterm()

    @classmethod
    def setting(
        cls,
        letter: str,
        *,
        store: str | os.PathLike[str] | None = None,
        endpoint: str | None = None,
        broker: str | None = None,
        token: str | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Client:
        """A client in one of the paper's settings A–F (bag 1|50 × diskless|diskful ×
        online|offline).

        :raises ValueError: unknown letter; a diskful setting without ``spool_dir``.

        >>> Client.setting("D", spool_dir=None, store=None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: ...
        """
        if letter not in SETTINGS:
            raise ValueError(f"setting {letter!r} is not one of {', '.join(SETTINGS)}")
        bag, diskful, online = SETTINGS[letter]
        if diskful and spool_dir is None:
            raise ValueError(f"setting {letter} is diskful: give spool_dir=")
        if online and store is None and endpoint is None and broker is None:
            raise ValueError(f"setting {letter} is online: give store=, endpoint= or broker=")
        return cls(
            store=store,
            endpoint=endpoint,
            broker=broker if online else None,
            token=token,
            spool_dir=spool_dir if diskful else None,
            online=online,
            bag_size=bag,
            **options,
        )

    # -- capture -----------------------------------------------------------------------------

    def workflow(
        self,
        name: str,
        *,
        type: str = "generic",
        study: str | None = None,
        persona: Mapping[str, str] | None = None,
        used: Values = None,
        tags: Iterable[str] = (),
        run_id: str | None = None,
        meta: bool = True,
        spec: Any = None,
    ) -> Workflow:
        """A workflow execution; use it with ``with`` (begin on enter, end and flush on exit).

        :param name: the workflow's name (its prospective node).
        :param type: ``generic`` or ``learning`` (a learning experiment).
        :param study: the study / project it belongs to.
        :param persona: ``provml.persona(...)``.
        :param used: values it used (value helpers or ``{name: value}``).
        :param tags: free-text tags.
        :param run_id: the execution id (default: name + UTC time + random suffix).
        :param meta: record host, process, packages, job, git commit and allow-listed env.
        :param spec: the workflow's prospective specification (docs/specs.md): a
            :class:`provml.ingest.spec.WorkflowSpec`, its dict, or a YAML/JSON file path; sent as a
            ``spec`` event right after the begin, so roles and descriptions travel with the run.
        :raises ValueError: an unknown type; a name or study that is not 1–200 characters; a
            ``run_id`` with characters other than ``A-Z a-z 0-9 . _ ~ -``, or one this client
            has begun a run with before.
        :raises provml.ingest.spec.SpecError: the spec is malformed.
        """
        if type not in WORKFLOW_TYPES:
            raise ValueError(f"workflow type {type!r} is not one of {', '.join(WORKFLOW_TYPES)}")
        name = redact_name(check_name(name, "a workflow"))  # (its run id is made from it)
        if study is not None:
            study = redact_name(check_name(study, "a study"))
        if run_id is not None:
            check_id(run_id, "run id")
            if run_id in self._run_ids:
                # a second begin under one IRI merged the two runs: two starts, two ends, a
                # value with both runs' numbers, without a word (an audit, 21st session)
                raise ValueError(run_id_taken(run_id))
        event: dict[str, Any] = {
            "v": 1, "kind": "workflow_begin", "t": time.time(),
            "run": run_id or new_run_id(name), "workflow": name, "type": type,
        }
        if study is not None:
            event["study"] = study
        if persona is not None:
            event["persona"] = dict(redact_names(persona))
        if meta:
            event["meta"] = self._meta()
        values = to_values(used)
        if values:
            event["used"] = values
        tag_list = [redact_text(tag) for tag in tags]
        if tag_list:
            event["tags"] = tag_list
        return Workflow(self, event, spec=_spec_dict(spec) if spec is not None else None)

    def _meta(self) -> dict[str, Any]:
        # the git commit is added on the flusher thread (_add_commit): no subprocess here
        return metadata.collect(env_allowlist=self.env_allowlist, with_git=False)

    def _add_commit(self, event: dict[str, Any]) -> None:
        """Add the script's git commit to a ``workflow_begin`` event's ``meta`` (called on the
        flusher thread, so ``git rev-parse`` never runs on the caller's; looked up once)."""
        meta = event.get("meta")
        if not isinstance(meta, dict) or "git_commit" in meta:
            return
        if self._commit is False:
            self._commit = metadata.git_commit()
        if isinstance(self._commit, str):
            meta["git_commit"] = self._commit

    def track(
        self,
        name: str | None = None,
        *,
        used_names: Iterable[str] | None = None,
        generated_name: str | None = "result",
        type: str = "generic",
    ) -> Callable[[F], F]:
        """Decorate a function: each call is a task whose arguments are ``used`` and whose
        return value is ``generated``. Inside an open workflow / task / cycle of this client the
        task nests there; otherwise the call is a workflow of its own.

        :param name: the task's name (default: the function's name).
        :param used_names: record only these arguments (default: all).
        :param generated_name: the name of the return value (None: not recorded).
        :param type: the task type.
        """
        wanted = set(used_names) if used_names is not None else None

        def decorate(fn: F) -> F:
            signature = inspect.signature(fn)
            task_name = name or fn.__name__

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                used = [
                    value(k, jsonable(v))
                    for k, v in bound.arguments.items()
                    if (wanted is None or k in wanted) and v is not None
                ]
                scope = current_scope(self._current)
                if scope is None:
                    with self.workflow(task_name) as wf:
                        return _run_task(wf, task_name, type, used, generated_name, fn, args, kwargs)
                return _run_task(scope, task_name, type, used, generated_name, fn, args, kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate

    # -- delivery ----------------------------------------------------------------------------

    def _workflow_ended(self) -> None:
        self._flusher.flush(wait=self.wait_on_end)

    def flush(self, *, timeout_s: float | None = None) -> bool:
        """Wait until every event captured so far is sent or safely on disk.

        :returns: False if ``timeout_s`` passed first, or if events are held in memory because
            the disk refuses them (``stats().held``; they are retried, and the log says why).
        """
        self._begin_now()
        return self._flusher.flush(wait=True, timeout_s=timeout_s)

    def _begin_now(self) -> None:
        """The cycles open in ``with`` blocks queue their begin if they hold it (a batch queues
        its begin and end as one record at its end): what was captured so far is written."""
        for task in list(self._open_tasks.values()):
            scope = getattr(task, "_inner", None)
            while scope is not None:
                scope.begin_now()
                scope = getattr(scope, "_inner", None)  # set once a cycle is entered in it

    def close(self, *, timeout_s: float | None = 60.0) -> bool:
        """Flush, retry pending events once more, stop the flusher thread (idempotent).

        :param timeout_s: how long to keep delivering to the sink; what it has not accepted by
            then is written to the pending file (``pending_path``) instead — kept, not lost.

        Events captured after close (a scope ended late, a new workflow) are written to the
        pending file on the capturing thread, with a warning (``stats().late``).

        :returns: False when the flusher thread did not finish (a sink request still hanging),
            or events could be written nowhere (``stats().lost``, logged); True otherwise.
        """
        outer, self._closing_on = self._closing_on, threading.get_ident()
        try:
            self._begin_now()
            if self._closed:  # again (or at exit): a cycle entered since put its begin on the
                return self._flusher.close(timeout_s=timeout_s)  # queue; it goes to pending here
            self._closed = True
            return self._flusher.close(timeout_s=timeout_s)
        finally:
            self._closing_on = outer
            if outer is None and self._after_close is not None:
                then, self._after_close = self._after_close, None
                then()

    def stats(self) -> FlushStats:
        """Counters of events processed, spooled, sent, pending, rejected and spilled."""
        return self._flusher.stats()

    @property
    def spool_path(self) -> Path | None:
        """The diskful spool file (None when diskless)."""
        return self._flusher.spool_path

    @property
    def pending_path(self) -> Path:
        """Where events wait while the sink is unavailable."""
        return self._flusher.pending_path

    @property
    def rejected_path(self) -> Path:
        """Where bags the sink refused are kept, with its report."""
        return self._flusher.rejected_path


    # -- os.fork -----------------------------------------------------------------------------

    def _forked(self) -> None:
        """This process is a child of ``os.fork`` (:func:`after_fork`): events captured here
        go out through a flusher thread of this process, under a name of its own."""
        parent = self.name
        self.name = f"provml-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
        # the scopes open at the fork are the parent's to end: a child that left their with
        # blocks (sys.exit) wrote errored ends, and the parent's real ends then conflicted with
        # them (its last bag refused). Still open here, they take the child's own tasks and cycles
        for scope in self._scopes_open():
            scope._ended = True
            if isinstance(scope, Cycle):
                scope._t0 = None  # (its begin, held until its end, is the parent's to write)
        self._open_tasks, self._open_workflows = {}, {}
        self._child = True
        _INHERITED.extend(self._flusher.forked(self.name))
        log.debug("provml: client %s of the parent process is %s in process %d", parent, self.name, os.getpid())

    def _scopes_open(self) -> list[Workflow | Task | Cycle]:
        """The workflows, tasks and cycles begun in this process and not ended."""
        found: dict[int, Any] = {}
        roots: list[Any] = [*self._open_workflows.values(), *self._open_tasks.values()]
        roots += [scope for wf in self._open_workflows.values() for scope in wf._open.values()]
        for scope in roots:
            while scope is not None and id(scope) not in found:
                found[id(scope)] = scope
                scope = getattr(scope, "_inner", None)  # the cycle entered in it (with)
        return list(found.values())

    # -- SIGTERM -----------------------------------------------------------------------------

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if previous not in (signal.SIG_DFL, None) and not getattr(previous, "_provml", False):
            return  # the application handles SIGTERM; atexit still flushes if it exits
        ref = weakref.ref(self)

        def handler(signum: int, frame: FrameType | None) -> None:
            client = ref()
            if client is not None and client._closing_on == threading.get_ident():
                # the signal interrupted a close() on this thread (at exit, say: a process
                # pool's worker ends as its pool terminates it): a close here waited 70 s for a
                # join whose lock the interrupted frame held; that close finishes, then this goes on
                client._after_close = functools.partial(_go_on, previous, signum, frame)
                client._flusher.hurry(SIGTERM_CLOSE_S)  # as a close of its own would: no longer than that
                return
            if client is not None:
                client.close(timeout_s=SIGTERM_CLOSE_S)
            _go_on(previous, signum, frame)

        handler._provml = True  # type: ignore[attr-defined]
        signal.signal(signal.SIGTERM, handler)


#: how long the SIGTERM handler keeps delivering before the rest goes to the pending file
SIGTERM_CLOSE_S = 10.0


def _go_on(previous: Any, signum: int, frame: FrameType | None) -> None:
    """What SIGTERM did before the client's handler: the handler it replaced, or the default."""
    if callable(previous):
        previous(signum, frame)
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


#: the clients of this process, for :func:`after_fork`
_LIVE: weakref.WeakSet[Client] = weakref.WeakSet()
#: what a forked child inherited from its parent's clients and must never use or close (a
#: sink's connection, the parent's open files, an embedded store's handle)
_INHERITED: list[Any] = []


def after_fork() -> None:
    """In the child of ``os.fork`` (``multiprocessing``'s fork start method, PyTorch's
    ``DataLoader`` workers, a daemon): the flusher thread was not copied, so events captured
    here sat in the copied queue and were lost without a word; each client gets a flusher of
    its own (:meth:`provml.capture.flusher.Flusher.forked`). The child's events are written
    when it ends as Python ends a process (``atexit``: ``sys.exit``, the end of the script),
    when ``multiprocessing`` ends one of its processes (its finalizers, registered here), and
    on SIGTERM where the parent installed the client's handler."""
    for client in list(_LIVE):
        try:
            client._forked()
        except Exception:  # noqa: BLE001 - never break the fork; say what is lost
            log.exception("provml: a client could not follow the fork into process %d; events it captures "
                          "here are not written", os.getpid())
    if _LIVE and "multiprocessing" in sys.modules:
        from multiprocessing import util

        # (a process multiprocessing starts clears the finalizers it inherits, then runs these)
        util.register_after_fork(_LIVE, _finalize_at_exit)


def before_fork() -> None:
    """In the parent, before ``os.fork``: what the clients' flusher threads import on first use
    (the fast encoder, a sink's client library) imported now, on the forking thread. A module
    a flusher thread was importing at the fork stayed half-imported in the child, its lock held
    by a thread the fork did not copy, and every bag the child wrote was rejected (a stress
    test: orjson); an import under way elsewhere is waited for here."""
    if not _LIVE:
        return
    try:
        from provml.capture import encoding

        encoding.warm()
        for client in list(_LIVE):
            for name in getattr(client._flusher.sink, "imports", ()):
                importlib.import_module(name)
    except Exception:  # noqa: BLE001 - never break the fork; the child imports it itself then
        log.debug("provml: an import before a fork failed", exc_info=True)


def _finalize_at_exit(_clients: Any) -> None:
    from multiprocessing import util

    util.Finalize(None, _close_all, exitpriority=100)


def _close_all() -> None:
    for client in list(_LIVE):
        client.close(timeout_s=10.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=before_fork, after_in_child=after_fork)


def _weak_close(client: Client) -> Callable[[], None]:
    ref = weakref.ref(client)

    def close() -> None:
        c = ref()
        if c is not None:
            c.close(timeout_s=10.0)

    return close


def _run_task(
    scope: Workflow | Task | Cycle,
    task_name: str,
    type: str,
    used: list[Value],
    generated_name: str | None,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    with scope.task(task_name, type=type, used=used) as task:
        result = fn(*args, **kwargs)
        if generated_name is not None and result is not None:
            task.generated(value(generated_name, jsonable(result)))
        return result


def jsonable(obj: Any, *, limit: int = 100) -> Any:
    """A JSON-friendly rendering of an argument or result for the provenance record: scalars
    as they are, small lists and dicts of scalars as they are, numpy/torch scalars as numbers,
    anything else as a short ``repr`` (redacted, then cut to 200 characters: cut first, a secret
    could end inside it, past what any pattern recognises).

    >>> jsonable([1, "a"]), jsonable(3.5), jsonable(object())[:8]
    ([1, 'a'], 3.5, '<object ')
    """
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, list | tuple) and len(obj) <= limit:
        items = [jsonable(x, limit=limit) for x in obj]
        if all(x is None or isinstance(x, bool | int | float | str) for x in items):
            return items
    if isinstance(obj, Mapping) and len(obj) <= limit:
        out = {str(k): jsonable(v, limit=limit) for k, v in obj.items()}
        if all(v is None or isinstance(v, bool | int | float | str) for v in out.values()):
            return out
    item = getattr(obj, "item", None)
    if callable(item) and getattr(obj, "ndim", 1) == 0:
        try:
            result = item()
            if isinstance(result, bool | int | float | str):
                return result
        except (TypeError, ValueError, RuntimeError):
            pass
    return redact_cut(repr(obj), 200)
