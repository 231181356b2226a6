"""Store: where the quads live — the ``Store`` protocol and its backends.

:mod:`~provml.store.base` (the protocol and shared helpers), :mod:`~provml.store.oxigraph`
(embedded Oxigraph, on disk or in memory) and :mod:`~provml.store.remote` (any SPARQL 1.1
server), each backend importing only the base; :func:`open_store` picks one.
:mod:`~provml.store.rdfio` reads RDF files and :mod:`~provml.store.update_dataset` restricts an
update's dataset.

>>> from pyoxigraph import Literal, NamedNode, Quad
>>> with open_store() as store:
...     store.add([Quad(NamedNode("http://example.com/s"), NamedNode("http://example.com/p"),
...                     Literal("1"), NamedNode("http://example.com/g"))])
...     [str(row["s"]) for row in store.query("SELECT ?s WHERE { ?s ?p ?o }")]
['<http://example.com/s>']
"""

from __future__ import annotations

from pathlib import Path

from provml.store.base import GraphName, QueryResult, Store, materialize, select
from provml.store.oxigraph import OxigraphStore
from provml.store.remote import RemoteStore

__all__ = ["GraphName", "OxigraphStore", "QueryResult", "RemoteStore", "Store", "materialize",
           "open_store", "select"]


def open_store(
    path: str | Path | None = None, *, remote: str | RemoteStore | None = None,
    read_only: bool = False,
) -> Store:
    """Open a store: on disk at ``path``, remote at the ``remote`` base URL, else in memory.

    :param path: an Oxigraph store directory (created when missing).
    :param remote: a :class:`RemoteStore`, or a spec for :meth:`RemoteStore.from_spec`: the
        base URL of an Oxigraph server (``http://host:7878``: ``/query``, ``/update`` and
        ``/store`` below it), ``LAYOUT+URL`` (``virtuoso+http://host:8890``,
        ``provml+http://host:7878`` ...) or ``query=URL;update=URL;store=URL``. Credentials
        come from ``$PROVML_REMOTE_TOKEN`` (a bearer token, or with ``$PROVML_REMOTE_USER`` the
        password of HTTP Basic credentials).
    :param read_only: open the on-disk store read-only (a snapshot; see :class:`OxigraphStore`).
    :raises ValueError: both ``path`` and ``remote``, or ``read_only`` with ``remote``.
    :raises StoreLocked: another process holds the on-disk store.

    >>> store = open_store()
    >>> store
    OxigraphStore('memory')
    >>> store.close()
    """
    if remote is not None:
        if path is not None:
            raise ValueError("give a path or a remote URL, not both")
        if read_only:
            raise ValueError(
                "read_only applies to on-disk stores; a remote store has its own rights"
            )
        if isinstance(remote, RemoteStore):
            return remote
        import os

        return RemoteStore.from_spec(remote, auth_token=os.environ.get("PROVML_REMOTE_TOKEN"),
                                     auth_user=os.environ.get("PROVML_REMOTE_USER"))
    return OxigraphStore(path, read_only=read_only)
