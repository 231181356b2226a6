"""Threads of the server process that cannot reach the network.

The server process evaluates SPARQL itself in two places: updates (it owns the store
read-write; the worker processes hold read-only views) and queries over a local store whose
queries are not isolated in worker processes (an in-memory store, ``--isolate-queries thread``).
The scan before evaluation (:func:`provml.endpoint.limits.scan_sparql`) refuses the ``SERVICE``
and ``LOAD`` the operator did not allow, but it is a tokenizer, not Oxigraph's parser: audits found
texts it read otherwise than Oxigraph, which then called the URL (``docs/endpoint.md``). The
query worker processes have a second guard, a network namespace of their own
(:mod:`provml.endpoint.sparql.isolation`); a namespace cannot be entered by one thread of a
process that runs many, so the server process's own evaluation gets another one:

unless the operator allows remote targets (``--allow-remote``), that evaluation runs on threads
that cannot open a socket. Each loads, as it starts, a seccomp filter (libseccomp, through
``pyseccomp``) that makes ``socket()`` fail with ``EAFNOSUPPORT``, of every address family:
``AF_UNIX`` too, since glibc asks local resolver daemons (nscd, systemd-resolved) over it
before DNS, which would carry a host name out (a review, twenty-first session). A filter binds
the thread that loads it and nothing else, so the server's other threads keep the network (the
broker's Redis client, a remote store's HTTP client, the HTTP server). Oxigraph's HTTP client
runs on the evaluating thread, so a ``SERVICE`` or ``LOAD`` the scan missed fails there, its
host name unresolved, and the client gets a 400 that says so (:meth:`OfflineThreads.call`;
the server log a warning: the scan has a gap to close); the update is one transaction, so the
store is left unchanged. ``SERVICE SILENT`` and ``LOAD SILENT`` fail silently, as SPARQL
defines: nothing is reached, and nothing is said.

>>> offline = OfflineThreads("provml-doc", threads=1)
>>> offline.why_not is None or isinstance(offline.why_not, str)
True
>>> offline.call(sum, [1, 2, 3])
6
>>> offline.shutdown()
"""

from __future__ import annotations

import errno
import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from provml.capture.redact import redact_text
from provml.endpoint.limits import InputRefused
from provml.endpoint.sparql.outcomes import QueryRejected, QueryTimeout

__all__ = ["OfflineThreads", "cut_network", "network_refused", "run_on"]

log = logging.getLogger("provml.endpoint")

T = TypeVar("T")

#: what ``socket()`` answers on an offline thread: no file operation of the store gives it, so
#: an error that carries it came from a connection attempt (:func:`network_refused`)
REFUSED_ERRNO = errno.EAFNOSUPPORT

#: how pyoxigraph words the errors of a refused socket (it passes no ``errno`` attribute): an
#: I/O error's text with the errno in parentheses ("Address family not supported by protocol
#: (os error 97)"), and a host name that could not be looked up, without its resolver's sockets
_REFUSED_TEXTS = (f"(os error {REFUSED_ERRNO})", "failed to lookup address information")

#: errors the client caused: raised without a note of the thread's traceback
_CLIENT_ERRORS = (InputRefused, SyntaxError, QueryTimeout, QueryRejected)

#: how much of a refused text the warning logs
_LOGGED_CHARS = 300

REFUSAL = ("the request tried to reach the network (a SERVICE or LOAD that the check before "
           "evaluation did not recognise as one): this endpoint makes no outbound requests "
           "unless its operator lists the URL prefix (--allow-remote); nothing was written")


def cut_network() -> str | None:
    """Forbid the calling thread, and only it (and the threads it starts after), to open a
    socket: ``socket()`` fails with ``EAFNOSUPPORT`` (and io_uring with ``ENOSYS``) from now on,
    for the thread's life (a seccomp filter cannot be removed; it also sets the thread's
    ``no_new_privs``). Returns why it could not (not Linux, no libseccomp, a kernel without
    seccomp), or None."""
    try:
        import pyseccomp
    except Exception as error:  # noqa: BLE001 - ImportError, or libseccomp not found (OSError...)
        return f"libseccomp is not available ({error})"
    try:
        rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        rules.add_rule(pyseccomp.ERRNO(REFUSED_ERRNO), "socket")
        for ring in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
            # io_uring opens and connects sockets without socket(); "not implemented" makes
            # any library that tries it fall back to plain calls
            rules.add_rule(pyseccomp.ERRNO(errno.ENOSYS), ring)
        rules.load()
    except Exception as error:  # noqa: BLE001 - the kernel refused the filter
        return f"the seccomp filter could not be loaded ({error})"
    return None


def network_refused(error: BaseException) -> bool:
    """Whether ``error``, raised where no socket can be opened, is a refused one
    (:data:`REFUSED_ERRNO`), as pyoxigraph reports it for a ``SERVICE`` or ``LOAD`` (an
    ``OSError`` with the errno in its text, or a host name not looked up) or Python does
    (``errno`` set)."""
    if not isinstance(error, OSError):
        return False
    text = str(error)
    return error.errno == REFUSED_ERRNO or any(part in text for part in _REFUSED_TEXTS)


def _refusing(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, its refused socket raised as
    :class:`~provml.endpoint.limits.InputRefused` (and logged: the text passed the scan).
    Whatever it raises leaves this thread without its traceback: the frames hold pyoxigraph's
    iterators, which must be dropped on the thread that made them (pyo3 refuses otherwise); the
    traceback of an error that is not the client's is kept as the error's note."""
    try:
        return fn(*args, **kwargs)
    except BaseException as error:
        failed = error
        refused = network_refused(error)
    _detach(failed)
    if refused:
        texts = [a for a in args if isinstance(a, str)]
        log.warning("SPARQL that passed the scan before evaluation tried to reach the network "
                    "(refused; the scan has a gap to close): %r",
                    redact_text(texts[0])[:_LOGGED_CHARS] if texts else "?")
        raise InputRefused(REFUSAL)
    raise failed


def _detach(error: BaseException) -> None:
    """Drop the tracebacks of ``error`` and of every error it was raised from or during, as
    a note on ``error`` where it is not one the client caused."""
    if not isinstance(error, _CLIENT_ERRORS) and error.__traceback__ is not None:
        error.add_note("on the offline thread " + threading.current_thread().name + ":\n"
                       + "".join(traceback.format_tb(error.__traceback__)).rstrip())
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            pending += current.exceptions


#: whether this process has said that its threads keep the network
_TOLD = threading.Event()


class OfflineThreads:
    """A pool of ``threads`` threads, each without network (:func:`cut_network`) from its
    start; ``why_not`` says why a thread could not leave the network (then the scan before
    evaluation is the only guard, and the server log says so once)."""

    def __init__(self, name: str, *, threads: int) -> None:
        self.why_not: str | None = None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name,
                                        initializer=self._start)
        self._pool.submit(lambda: None).result()  # the first thread: why_not is known

    def _start(self) -> None:
        why = cut_network()
        if why is not None:
            self.why_not = why
            if not _TOLD.is_set():  # once a process: the reason is the same for every thread
                _TOLD.set()
                log.warning("SPARQL evaluated in the server process keeps the network (%s): "
                            "SERVICE and LOAD are refused by the check before evaluation only",
                            why)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Start ``fn(*args, **kwargs)`` on an offline thread. Its future raises
        :class:`~provml.endpoint.limits.InputRefused` where ``fn`` tried to open a network
        socket (:func:`network_refused`)."""
        return self._pool.submit(_refusing, fn, *args, **kwargs)

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on an offline thread, waited for.

        :raises InputRefused: it tried to open a network socket.
        """
        result: T = self.submit(fn, *args, **kwargs).result()
        return result

    def shutdown(self, *, wait: bool = False, cancel_futures: bool = True) -> None:
        """Stop the threads once their work is done (as ``ThreadPoolExecutor.shutdown``)."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def run_on(threads: OfflineThreads | None, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on ``threads`` (:meth:`OfflineThreads.call`), or here when None."""
    return fn(*args, **kwargs) if threads is None else threads.call(fn, *args, **kwargs)
