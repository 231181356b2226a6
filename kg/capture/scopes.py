"""Capture objects: a workflow execution, its tasks and stages, and their cycles (epochs, batches).

Why it is long: the three scope classes share one base and the name/id checks of the wire
format; split apart, each would import the others' private pieces (a workflow's end claims and
writes the end of its tasks and cycles left open through their private ``_end``).

Each object is a context manager: entering emits a ``*_begin`` event with what it ``used``,
leaving emits the ``*_end`` event with what it ``generated`` and its status (``errored`` with
the exception's type and message when one escapes; the exception is re-raised). Emitting is a
dict put on the client's queue: microseconds, no I/O on the caller's thread. The events follow
``docs/events.md``; end events repeat the fields translation needs, so any bag translates alone.

Objects are made by a :class:`provml.Client` (``client.workflow(...)``), never directly.
``begin()`` / ``end()`` are public for callbacks that cannot use ``with`` (framework hooks).
A workflow's end first ends, ``errored``, the tasks and cycles of it begun with ``begin()`` and
still open (a hook's stage and epoch that an exception left without their end call), innermost
first; what a ``with`` block entered, its block ends (:meth:`Workflow.end`).
"""

from __future__ import annotations

import itertools
import logging
import operator
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Self

from provml.capture.redact import (
    redact_cut,
    redact_name,
    redact_named,
    redact_names,
    redact_values,
)
from provml.capture.values import Value, to_values
from provml.kinds import TASK_TYPES

_time = time.time
log = logging.getLogger("provml.capture.scopes")
#: the longest a task's end waits, in a child of ``os.fork``, for its events to be sent or on disk
CHILD_FLUSH_S = 30.0
#: how many ends found the clock before their begin (:func:`_clock_went_back`)
clock_steps = 0

__all__ = ["CYCLE_FIELDS", "Cycle", "LEFT_OPEN", "Task", "Workflow", "TASK_TYPES"]

#: what the flusher queues: an event dict, or a cycle's compact record (see Cycle)
Put = Callable[[dict[str, Any] | tuple[Any, ...]], None]
Values = Iterable[Value] | Mapping[str, Any] | None


def _clock_went_back(began: float, now: float) -> float:
    """The time an end is recorded at when the system clock has gone back past its begin (an
    NTP step, a virtual machine's clock set after a resume): its begin's, so that nothing ends
    before it begins — the shapes refuse such an execution, and its whole batch with it. The
    first such end of the process is logged as a warning."""
    global clock_steps
    clock_steps += 1
    if clock_steps == 1:
        log.warning("the system clock went back %.3f s while a scope was open (an NTP step, a "
                    "resumed virtual machine?): its end is recorded at its begin, so that it "
                    "does not end before it begins; later ones are not logged", began - now)
    return began


def _end_time(began: float) -> float:
    """Now, for the end of a scope that began at ``began``; never before it."""
    now = _time()
    return now if now >= began else _clock_went_back(began, now)


_ID_CHARS = re.compile(r"[A-Za-z0-9._~-]+")
_NOT_ID = re.compile(r"[^A-Za-z0-9._~-]+")
_NAME_MAX = 200
_DOTS = (".", "..")  # ids that are no segment of a path of their own (RFC 3986 dot-segments)
_ids: dict[str, str] = {}  # name -> id part, so a batch's cycle pays one dict lookup
_CACHE_MAX = 10_000  # names a cache holds; a full one is emptied (names in use come back)


def check_name(name: object, what: str) -> str:
    """``name`` if it is a name the wire format accepts (a string of 1–200 characters).

    :raises ValueError: naming ``what`` and the problem.
    """
    if not isinstance(name, str) or not 0 < len(name) <= _NAME_MAX:
        shown = repr(name) if not isinstance(name, str) else f"of {len(name)} characters"
        raise ValueError(f"{what} name must be a string of 1-{_NAME_MAX} characters, not {shown}")
    return name


def id_part(name: str) -> str:
    """The id segment of a task or cycle name: the name itself when it holds only
    ``A-Z a-z 0-9 . _ ~ -``, else each run of other characters (spaces, slashes, accents …)
    replaced by ``-`` — the name itself is recorded unchanged.

    >>> id_part("epoch"), id_part("load data"), id_part("val/epoch é")
    ('epoch', 'load-data', 'val-epoch-')

    :raises ValueError: ``name`` is not a string of 1–200 characters.
    """
    part = _ids.get(name)  # type: ignore[arg-type]
    if part is None:
        check_name(name, "a task or cycle")
        part = name if _ID_CHARS.fullmatch(name) else _NOT_ID.sub("-", name)
        if part in _DOTS:  # a path's "." or "..": an IRI would resolve it to another resource
            part = "-" * len(part)
        if len(_ids) >= _CACHE_MAX:
            _ids.clear()  # full: emptied, to fill again with the names in use
        _ids[name] = part
    return part


_recorded: dict[str, str] = {}  # a task's or cycle's name -> the name recorded


def recorded_name(name: str, what: str) -> str:
    """A task's or cycle's name as it is recorded, and its id made from: ``name`` checked
    (:func:`check_name`), with secrets redacted (:func:`provml.capture.redact.redact_name`:
    ``load token=[redacted]``, id ``load-token-redacted-``); each name once (a batch's cycle
    pays one dictionary look-up).

    >>> recorded_name("load password=hunter2", "a task"), recorded_name("epoch", "a cycle")
    ('load password=[redacted]', 'epoch')

    :raises ValueError: ``name`` is not a string of 1–200 characters.
    """
    clean = _recorded.get(name)
    if clean is None:
        clean = redact_name(check_name(name, what))
        id_part(clean)
        if len(_recorded) >= _CACHE_MAX:
            _recorded.clear()  # (as ``_ids``)
        _recorded[name] = clean
    return clean


def run_id_taken(run_id: str) -> str:
    """The refusal of a run id a client has begun a run with before: a second begin under one
    IRI merged the two runs (two starts, two ends, a value with both runs' numbers), without a
    word (an audit, twenty-first session)."""
    return (f"run id {run_id!r} was already used by this client: give each run its own (or "
            "none: one is made from the name and the time)")


def check_id(id: str, what: str) -> str:
    """An explicit id: only ``A-Z a-z 0-9 . _ ~ -`` (it becomes part of IRIs as it is).

    :raises ValueError: naming the id and the characters allowed.
    """
    if not isinstance(id, str) or not 0 < len(id) <= _NAME_MAX or not _ID_CHARS.fullmatch(id) \
            or id in _DOTS:
        raise ValueError(
            f"{what} {id!r} must be 1-{_NAME_MAX} characters of A-Z a-z 0-9 . _ ~ -, not . or .. "
            "(names may hold anything; ids become IRIs as they are)"
        )
    return id


def _iteration(iteration: object) -> int:
    try:
        value = operator.index(iteration)  # type: ignore[arg-type]
    except TypeError:
        value = -1
    if value < 0:
        raise ValueError(f"a cycle's iteration must be an integer >= 0, not {iteration!r}")
    return int(value)


#: the error of a task or cycle still open when its workflow ends (:meth:`Workflow.end`)
LEFT_OPEN = {"type": "NotEnded", "message": "its workflow ended before it: no end was called for "
                                            "it (an exception or an interrupt left it open?)"}


def _error(exc_type: type[BaseException], exc: BaseException | None) -> dict[str, str]:
    return {"type": exc_type.__name__, "message": redact_cut(str(exc), 2000) if exc is not None else ""}


class _Scope:
    """What workflows, tasks and cycles share: the queue, the run, the generated values."""

    __slots__ = ("_put", "_queue", "_gate", "_wf", "id", "_generated", "_token", "_ended",
                 "_inner", "_forced")

    _put: Put
    #: the flusher's queue and gate: cycles append their records directly (``Flusher.gate``)
    _queue: deque[Any]
    _gate: Any
    _wf: Workflow
    id: str
    _generated: list[Value] | None
    _token: Token[Any] | None
    _ended: bool
    #: the cycle open inside this scope in a ``with`` block (``client.track`` nests there)
    _inner: Cycle | None
    #: its workflow's end claims, or has claimed, its end (:meth:`Workflow.end`); a batch's
    #: cycle leaves it unset (read with ``getattr``, off the hot path)
    _forced: bool

    def generated(self, *values: Value) -> None:
        """Record values generated by this execution (sent with its end event); secrets in
        them are redacted (:mod:`provml.capture.redact`)."""
        if self._generated is None:
            self._generated = redact_values(list(values))
        else:
            self._generated.extend(redact_values(list(values)))

    def task(
        self,
        name: str,
        *,
        type: str = "generic",
        used: Values = None,
        id: str | None = None,
        persona: Mapping[str, str] | None = None,
        implementation: Mapping[str, str] | None = None,
    ) -> Task:
        """A task execution (a data transformation) inside this scope; use it with ``with``.

        :param name: the transformation's name (its prospective node).
        :param type: ``generic``, ``training``, ``validation``, ``evaluation``,
            ``feature_extraction``, ``inference`` or ``deployment``.
        :param used: values it used: a list of value helpers or ``{name: value}``.
        :param id: the execution's id in the run (default: ``name`` with characters other
            than ``A-Z a-z 0-9 . _ ~ -`` replaced by ``-``, made unique).
        :param persona: ``provml.persona(...)`` of who ran it.
        :param implementation: ``provml.implementation(...)`` for learning stages.
        :raises ValueError: an unknown ``type``; a name that is not 1–200 characters; an ``id``
            with characters other than ``A-Z a-z 0-9 . _ ~ -``.
        """
        if type not in TASK_TYPES:
            raise ValueError(f"task type {type!r} is not one of {', '.join(TASK_TYPES)}")
        name = recorded_name(name, "a task")  # (its id is made from it)
        parent = None if self is self._wf else self.id
        return Task(self._wf, name, type, to_values(used), id, parent, persona, implementation)

    def stage(
        self,
        name: str,
        *,
        kind: str = "training",
        used: Values = None,
        id: str | None = None,
        persona: Mapping[str, str] | None = None,
        implementation: Mapping[str, str] | None = None,
    ) -> Task:
        """A learning stage: a task whose type is ``kind`` (``training``, ``validation``,
        ``evaluation``, ``inference``, ...). Same parameters as :meth:`task`."""
        return self.task(
            name, type=kind, used=used, id=id, persona=persona, implementation=implementation
        )

    def begin(self) -> Self:
        """Emit this scope's begin event (``with`` does this)."""
        raise NotImplementedError

    def end(
        self,
        *,
        status: str = "finished",
        error: Mapping[str, str] | None = None,
        generated: Values = None,
    ) -> None:
        """Emit this scope's end event with its status, error and generated values (``with``
        does this); a second call does nothing, and one after its workflow's end ended it
        (:meth:`Workflow.end`) is logged, not recorded.

        A scope begun with ``begin()`` is in its workflow's open scopes (``_open``) until
        whoever takes it out of them first — this call or the workflow's end, in another thread
        — ends it: ``dict.pop`` is atomic, so one end is written, never two (a ``with`` scope
        is never there: its pop finds nothing, as it did before)."""
        if self._ended or (self._wf._open.pop(id(self), None) is None
                           and getattr(self, "_forced", False)):
            if getattr(self, "_forced", False):
                self._ended_late(status)
            return
        self._end(status, error, generated)

    def _end(self, status: str, error: Mapping[str, str] | None, generated: Values) -> None:
        """Emit the end event, once its caller has claimed the end (:meth:`end`)."""
        self._ended = True
        if generated is not None:
            self.generated(*to_values(generated))
        event = self._end_event()
        event["status"] = status
        if error is not None:
            # every value redacted, nested ones too, under its key's name (a nested dict kept
            # its secrets: an audit, twenty-first session)
            event["error"] = {k: redact_named(str(k), v) for k, v in error.items()}
        if self._generated:
            event["generated"] = self._generated
        self._put(event)
        self._after_end()

    def _end_event(self) -> dict[str, Any]:
        """The end event's own fields (kind, time, ids); :meth:`end` adds the rest."""
        raise NotImplementedError

    def _after_end(self) -> None:
        """What follows the end event (a workflow asks its client to flush)."""

    def _ended_late(self, status: str) -> None:
        """An end called after its workflow's end ended this scope ``errored`` (NotEnded): its
        status and generated values are not recorded — a second end of one execution made
        ingest refuse the run's whole batch. A warning, not a debug line: the record now says
        the execution never ended while it did, with what it generated, and the script can be
        fixed (end the workflow after the threads and hooks it holds)."""
        log.warning("provml: %s %r of run %s ended (%s) after its workflow's end had ended it "
                    "errored (NotEnded): this end is not recorded (end the workflow after it)",
                    type(self).__name__.lower(), self.id, self._wf.run_id, status)

    def __enter__(self) -> Self:
        self.begin()
        self._enter_ctx()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit_ctx()
        if exc_type is None:
            self.end()
        else:
            self.end(status="errored", error=_error(exc_type, exc))

    def _enter_ctx(self) -> None:
        self._token = self._wf._client._current.set(self)

    def _exit_ctx(self) -> None:
        token = self._token
        if token is not None:
            self._token = None
            try:  # noqa: SIM105 (the hot path: no context-manager object per exit)
                self._wf._client._current.reset(token)
            except ValueError:  # left in another context (generators, callbacks)
                pass


class Workflow(_Scope):
    """One execution of a workflow (``run_id``); made by ``client.workflow(...)``."""

    __slots__ = ("_client", "name", "run_id", "_begin", "_ids", "_spec", "_open")

    #: its tasks and cycles begun with ``begin()`` and not ended (id -> scope), in the order
    #: begun: :meth:`end` ends them; whoever pops a scope from it ends it (:meth:`_Scope.end`)
    _open: dict[int, Task | Cycle]

    def __init__(
        self, client: Any, begin_event: dict[str, Any], *, spec: Mapping[str, Any] | None = None
    ) -> None:
        self._client = client
        self._spec = spec
        self._put = client._flusher.put
        self._queue = client._flusher.queue
        self._gate = client._flusher.gate
        self._wf = self
        self.name = begin_event["workflow"]
        self.run_id = begin_event["run"]
        self.id = self.run_id
        self._begin = begin_event
        self._generated = None
        self._token = None
        self._ended = False
        self._forced = False
        self._inner = None
        self._ids: dict[str, itertools.count[int]] = {}  # name -> the counter of its tasks
        self._open = {}

    def _unique(self, wanted: str) -> str:
        # a counter per name, taken with one next(): threads making tasks of one name at once
        # read and wrote a count and got the same id (a probe: 8 threads, 12,000 tasks, 163 ids
        # begun twice or thrice; provml load refused the batches that held them)
        counter = self._ids.get(wanted) or self._ids.setdefault(wanted, itertools.count(1))
        count = next(counter)
        return wanted if count == 1 else f"{wanted}-{count}"

    def begin(self) -> Workflow:
        """Emit ``workflow_begin`` (``with`` does this).

        :raises ValueError: this client has begun a run under this run id before.
        """
        begun = self._client._run_ids
        if self.run_id in begun:
            raise ValueError(run_id_taken(self.run_id))
        begun.add(self.run_id)  # (when it begins: a workflow made and never entered takes none)
        self._client._open_workflows[id(self)] = self
        self._begin["t"] = _time()
        self._client._flusher.begins()
        self._put(self._begin)
        if self._spec is not None:
            self.spec(self._spec)
        return self

    def spec(self, spec: Mapping[str, Any]) -> None:
        """Emit a ``spec`` event: the prospective workflow specification, so the spool is
        self-contained.

        :raises provml.ingest.spec.SpecError: the spec is malformed (checked here, at the call,
            not later by the sink).
        """
        from provml.ingest.spec import WorkflowSpec  # the first spec of a process pays the import

        spec = WorkflowSpec.from_dict(spec).to_dict()
        self._put(
            {"v": 1, "kind": "spec", "t": _time(), "run": self.run_id, "workflow": self.name,
             "spec": dict(spec)}
        )

    def end(
        self,
        *,
        status: str = "finished",
        error: Mapping[str, str] | None = None,
        generated: Values = None,
    ) -> None:
        """Emit ``workflow_end`` (``with`` does this), after ending each task and cycle of this
        run begun with ``begin()`` and still open — a framework hook's stage and epoch that an
        exception left without their end call — ``errored`` with :data:`LEFT_OPEN`, innermost
        first (they stayed running for ever), with a warning naming them; a second call does
        nothing.

        A scope entered with ``with`` is left to its block, which ends it with its own status
        and values, even after this end (a task running in another thread, a block that exits
        with an exception later): ended here, its real end was lost. The end of a scope that
        raises (a generated value that cannot be read) is logged and the scope ended without
        its values; the ``workflow_end`` is always emitted."""
        if self._ended:
            return
        try:
            self._end_left_open()
        finally:
            super().end(status=status, error=error, generated=generated)

    def _end_left_open(self) -> None:
        """End, ``errored`` (:data:`LEFT_OPEN`), each scope this call takes from ``_open``."""
        ended = []
        for scope in reversed(list(self._open.values())):  # (a child is begun after its parent)
            scope._forced = True  # before the claim: an end() that finds it taken logs itself
            if self._open.pop(id(scope), None) is None:  # its own end() took it first
                scope._forced = False
                continue
            ended.append(f"{type(scope).__name__.lower()} {scope.id}")
            try:
                scope._end("errored", LEFT_OPEN, None)
            except Exception:  # noqa: BLE001 - the others, and the workflow's end, go on
                log.warning("provml: ending %s of run %s, left open, failed: ended without its "
                            "generated values", ended[-1], self.run_id, exc_info=True)
                scope._generated = None
                try:
                    scope._end("errored", LEFT_OPEN, None)
                except Exception:  # noqa: BLE001
                    log.error("provml: %s of run %s, left open, could not be ended", ended[-1],
                              self.run_id, exc_info=True)
        if ended:
            log.warning("provml: workflow %s (run %s) ended with %d task(s) and cycle(s) begun "
                        "and not ended; ended errored (NotEnded): %s", self.name, self.run_id,
                        len(ended), ", ".join(ended))

    def _end_event(self) -> dict[str, Any]:
        began = self._begin.get("t")
        return {"v": 1, "kind": "workflow_end", "t": _time() if began is None else _end_time(began),
                "run": self.run_id, "workflow": self.name}

    def _after_end(self) -> None:
        self._client._open_workflows.pop(id(self), None)
        self._client._workflow_ended()



class Task(_Scope):
    """A task (or learning stage) execution; made by ``wf.task(...)`` / ``wf.stage(...)``."""

    __slots__ = ("name", "type", "parent", "_used", "_persona", "_implementation", "_began")

    def __init__(
        self,
        wf: Workflow,
        name: str,
        type: str,
        used: list[Value],
        id: str | None,
        parent: str | None,
        persona: Mapping[str, str] | None,
        implementation: Mapping[str, str] | None,
    ) -> None:
        self._wf = wf
        self._put = wf._put
        self._queue = wf._queue
        self._gate = wf._gate
        self.name = name
        self.type = type
        self.id = wf._unique(check_id(id, "task id") if id is not None else id_part(name))
        self.parent = parent
        self._used = used
        self._persona = redact_names(persona) if persona is not None else None
        self._implementation = redact_names(implementation) if implementation is not None else None
        self._generated = None
        self._token = None
        self._ended = False
        self._forced = False
        self._inner = None
        self._began: float | None = None

    def begin(self) -> Task:
        """Emit ``task_begin`` (``with`` does this). A task begun here, not by ``with``, is
        ended by its workflow's end if it is still open then (:meth:`Workflow.end`)."""
        self._emit_begin()
        self._wf._open[id(self)] = self
        return self

    def __enter__(self) -> Task:
        self._emit_begin()  # (not among the workflow's open scopes: this block ends it)
        self._enter_ctx()
        return self

    def _emit_begin(self) -> None:
        wf = self._wf
        event: dict[str, Any] = {
            "v": 1, "kind": "task_begin", "t": (began := _time()), "run": wf.run_id,
            "workflow": wf.name, "task": self.id, "name": self.name, "type": self.type,
        }
        if self.parent is not None:
            event["parent"] = self.parent
        if self._used:
            event["used"] = self._used
        if self._persona is not None:
            event["persona"] = dict(self._persona)
        if self._implementation is not None:
            event["implementation"] = dict(self._implementation)
        self._put(event)
        self._began = began
        wf._client._open_tasks[id(self)] = self

    def _after_end(self) -> None:
        client = self._wf._client
        client._open_tasks.pop(id(self), None)
        if client._child:  # a child of os.fork: written as it ends (a pool ends its workers with SIGTERM)
            client._flusher.flush(wait=True, timeout_s=CHILD_FLUSH_S)

    def _end_event(self) -> dict[str, Any]:
        wf = self._wf
        event: dict[str, Any] = {
            "v": 1, "kind": "task_end", "t": _time() if self._began is None else _end_time(self._began),
            "run": wf.run_id, "workflow": wf.name, "task": self.id, "name": self.name, "type": self.type,
        }
        if self.parent is not None:
            event["parent"] = self.parent
        return event

    def cycle(self, name: str, iteration: int, *, used: Values = None) -> Cycle:
        """One iteration of a loop in this task (an epoch, a batch); use it with ``with``.

        Its id is ``<this id>/<name>-<iteration>``, e.g. ``train/epoch-3`` (see :func:`id_part`
        for names with other characters).

        :raises ValueError: a name that is not 1–200 characters; an iteration that is not an
            integer >= 0.
        """
        return Cycle(self, name, iteration, used, self.name, self.type, self.id)



class Cycle(_Scope):
    """One iteration of a loop (epoch, batch …); made by ``task.cycle(...)`` / ``cycle.cycle``.

    The hot path of every batch: a cycle entered with ``with`` keeps its begin time and, when
    it ends with nothing nested in it, puts **one** small tuple ``(t_begin, t_end, fields, used,
    generated)`` on the queue — its ``cycle_begin`` and ``cycle_end`` events at once — instead
    of building two event dicts, where ``fields`` — run, workflow, id, name, iteration, parent,
    stage, stage type — is one tuple of strings and numbers made once per cycle. A cycle with
    something nested in it (an epoch's batches, a task) puts its begin ``(True, t, fields,
    used)`` when the first nested scope is made, so a parent's begin always precedes its
    children's events, and its end ``(False, t, fields, generated)`` at the end; so does a
    cycle begun with :meth:`begin`. The queue holds no reference to the cycle object, and
    tuples of plain values leave the garbage collector's books, so a long queue does not make
    collections costlier. The flusher thread renders the events
    (:func:`provml.capture.encoding.encode_bag`). An errored end, or ``end(...)`` called
    directly, puts the begin if it is still held, then a full event dict.
    """

    __slots__ = ("_used", "_key", "_up", "_t0", "_cid", "_began")

    def __init__(
        self,
        parent: Task | Cycle,
        name: str,
        iteration: int,
        used: Values,
        stage: str,
        stage_type: str,
        pid: str,
    ) -> None:
        wf = self._wf = parent._wf
        self._put = parent._put
        self._queue = parent._queue
        self._gate = parent._gate
        if iteration.__class__ is not int or iteration < 0:
            iteration = _iteration(iteration)
        # the name as recorded (checked, secrets redacted; the id is made when asked for: ``id``)
        name = _recorded.get(name) or recorded_name(name, "a task or cycle")
        self._cid: str | None = None
        self._up = parent
        self._generated = None
        self._ended = False
        self._used = to_values(used) if used is not None else ()
        self._t0: float | None = None  # entered with ``with``, its begin not yet queued
        # (``_began``, the begin's time once queued apart, is set by begin_now and begin only:
        # a batch's cycle pays for no attribute it does not use)
        # everything else a cycle knows is read from its key (properties below); its id is
        # not in it: made from the parent's id, the name and the iteration when asked for
        # (here, or by whoever reads the record: cycle_id)
        self._key = (wf.run_id, wf.name, name, iteration, pid, stage, stage_type)

    @property
    def id(self) -> str:
        """``<parent id>/<name>-<iteration>`` (see :func:`id_part` for names with other
        characters), made once, when first asked for."""
        cid = self._cid
        if cid is None:
            cid = self._cid = cycle_id(self._key)
        return cid

    @id.setter
    def id(self, value: str) -> None:
        raise AttributeError("a cycle's id is made from its parent, name and iteration")

    @property
    def name(self) -> str:
        """The loop's name (``epoch``, ``batch`` …)."""
        return self._key[2]  # type: ignore[no-any-return]

    @property
    def iteration(self) -> int:
        """The iteration number."""
        return self._key[3]  # type: ignore[no-any-return]

    @property
    def parent(self) -> str:
        """The id of the task or cycle this one runs in."""
        return self._key[4]  # type: ignore[no-any-return]

    @property
    def stage_name(self) -> str:
        """The name of the task (stage) this loop runs in."""
        return self._key[5]  # type: ignore[no-any-return]

    @property
    def stage_type(self) -> str:
        """The type of the task (stage) this loop runs in."""
        return self._key[6]  # type: ignore[no-any-return]

    def cycle(self, name: str, iteration: int, *, used: Values = None) -> Cycle:
        """A nested loop iteration (a batch inside an epoch): ``<this id>/<name>-<iteration>``."""
        if self._t0 is not None:  # the first nested cycle: this one's begin goes first
            self.begin_now()
        key = self._key
        return Cycle(self, name, iteration, used, key[5], key[6], self._cid or self.id)

    def task(self, name: str, **options: Any) -> Task:
        """A task nested in this iteration (``client.track`` makes them): see :meth:`Task.task`."""
        if self._t0 is not None:
            self.begin_now()
        return super().task(name, **options)

    def begin_now(self) -> None:
        """Queue this cycle's begin now if it was entered with ``with`` and still holds it
        (something is nested in it, or ``flush()`` / ``close()`` is called inside it)."""
        t0 = self._t0
        if t0 is not None and not self._ended:
            self._t0 = None
            self._began = t0
            self._queue.append((True, t0, self._key, self._used))

    def generated(self, *values: Value) -> None:
        """Record values generated by this iteration (sent with its end event). The hot path
        of every batch: the values are kept as given (the call's own tuple); secrets in them
        are redacted on the flusher thread before anything is written
        (:func:`provml.capture.encoding.redact_items`)."""
        if self._generated is None:
            self._generated = values  # type: ignore[assignment]
        else:
            self._generated = [*self._generated, *values]

    def begin(self) -> Cycle:
        """Emit ``cycle_begin`` (``with`` does this)."""
        self._put((True, began := _time(), self._key, self._used))
        self._began = began
        self._wf._open[id(self)] = self  # (its end may never come: Workflow.end ends it)
        return self

    def end(
        self,
        *,
        status: str = "finished",
        error: Mapping[str, str] | None = None,
        generated: Values = None,
    ) -> None:
        """Emit ``cycle_end`` (``with`` does this); a second call does nothing (see
        :meth:`_Scope.end`)."""
        if self._t0 is not None:
            self.begin_now()
        if status != "finished" or error is not None or self._ended:
            super().end(status=status, error=error, generated=generated)
            return
        # the compact form, as ``with`` puts it (framework hooks call this): the pop claims it
        if self._wf._open.pop(id(self), None) is None and getattr(self, "_forced", False):
            self._ended_late(status)  # (its workflow's end took it first)
            return
        self._ended = True
        if generated is not None:
            self.generated(*to_values(generated))
        queue = self._queue
        queue.append((False, self._end_time(), self._key, self._generated or ()))
        if len(queue) >= self._gate.at:
            self._gate.check()

    def _end(self, status: str, error: Mapping[str, str] | None, generated: Values) -> None:
        if self._generated:  # an event dict: redact here
            self._generated = redact_values(list(self._generated))
        super()._end(status, error, generated)

    def _end_time(self) -> float:
        began = getattr(self, "_began", None)  # (unset: the begin was never queued apart)
        return _time() if began is None else _end_time(began)

    def _end_event(self) -> dict[str, Any]:
        return cycle_event((False, self._end_time(), self._key, None))

    def __enter__(self) -> Cycle:
        # the hot path of every batch: the begin is held (its time), and queued with the end
        # as one record unless something nested in this cycle queues it first (begin_now)
        self._t0 = _time()
        self._up._inner = self  # where client.track nests; no context variable per batch
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._up._inner = None
        if exc_type is not None:
            self.end(status="errored", error=_error(exc_type, exc))
        elif not self._ended:  # the hot path of every batch: end() inlined
            self._ended = True  # straight onto the queue (no Python call), then the gate
            queue = self._queue
            t0 = self._t0
            if t0 is not None:  # begin and end in one record
                t1 = _time()
                if t1 < t0:
                    t1 = _clock_went_back(t0, t1)
                queue.append((t0, t1, self._key, self._used, self._generated or ()))
            else:  # its begin was queued apart (begin_now), at _began
                t1, began = _time(), self._began
                if t1 < began:
                    t1 = _clock_went_back(began, t1)
                queue.append((False, t1, self._key, self._generated or ()))
            if len(queue) >= self._gate.at:
                self._gate.check()


#: the fields of a cycle's queued record, in order (its compact form: docs/events.md); the
#: cycle's id (the event's ``task``) is not among them: :func:`cycle_id` makes it
CYCLE_FIELDS = ("run", "workflow", "name", "iteration", "parent", "stage", "stage_type")


def cycle_id(key: tuple[Any, ...] | list[Any]) -> str:
    """A cycle's id from the fields of its record: ``<parent>/<name>-<iteration>``.

    >>> cycle_id(("r", "w", "val epoch", 3, "train", "train", "training"))
    'train/val-epoch-3'
    """
    return f"{key[4]}/{_ids.get(key[2]) or id_part(key[2])}-{key[3]}"


def cycle_fields(key: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    """The fields of a cycle's events from those of its record (its id added as ``task``)."""
    run, workflow, name, iteration, parent, stage, stage_type = key
    return {"run": run, "workflow": workflow, "task": cycle_id(key), "name": name,
            "iteration": iteration, "parent": parent, "stage": stage, "stage_type": stage_type}


def cycle_event(item: tuple[Any, ...]) -> dict[str, Any]:
    """The event dict of a cycle's queued ``(is_begin, t, fields, used | generated)`` tuple.

    >>> cycle_event((True, 1.5, ("r", "w", "epoch", 0, "s", "s", "training"), None))["task"]
    's/epoch-0'
    """
    begin, t, key, values = item
    event: dict[str, Any] = {"v": 1, "kind": "cycle_begin" if begin else "cycle_end", "t": t}
    event.update(cycle_fields(key))
    if not begin:
        event["status"] = "finished"
    if values:  # a list, as the event format has it (a batch keeps its call's tuple)
        event["used" if begin else "generated"] = list(values)
    return event


def cycle_line(
    item: tuple[Any, ...], dumps: Callable[[Any], bytes], heads: dict[Any, bytes]
) -> bytes:
    """The JSON text of a cycle's queued tuple (flusher thread): the shared fields are encoded
    once per cycle — at its begin, kept in ``heads`` until its end — and each event adds its
    kind, time, and used or generated values."""
    begin, t, key, values = item
    if begin:
        head = heads[key] = dumps(cycle_fields(key))[1:-1]
        if values:
            return b'{"v":1,"kind":"cycle_begin","t":%r,%b,"used":%b}' % (t, head, dumps(values))
        return b'{"v":1,"kind":"cycle_begin","t":%r,%b}' % (t, head)
    head = heads.pop(key, b"") or dumps(cycle_fields(key))[1:-1]
    if values:
        return b'{"v":1,"kind":"cycle_end","t":%r,%b,"status":"finished","generated":%b}' % (
            t, head, dumps(values))
    return b'{"v":1,"kind":"cycle_end","t":%r,%b,"status":"finished"}' % (t, head)


def current_scope(var: ContextVar[Any]) -> Workflow | Task | Cycle | None:
    """The innermost open scope in this context (used by ``client.track``): the workflow or
    task entered last in this context (a context variable), then the cycles open in it in
    ``with`` blocks (each scope points to the cycle open inside it: a batch sets one
    attribute instead of a context variable)."""
    scope: Workflow | Task | Cycle | None = var.get()
    while scope is not None and (inner := getattr(scope, "_inner", None)) is not None:
        scope = inner  # a cycle sets _inner only once something is entered inside it
    return scope
