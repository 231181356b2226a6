"""Where ``provml import mlflow`` reads from: the tracking URI a path or URI names, the
check that it is an MLflow tracking store before MLflow's client opens it (a client made on a
wrong path creates what it is pointed at), and how hard an HTTP tracking server is tried
(:mod:`provml.interop.mlflow_import` reads the runs).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

__all__ = ["ENVIRONMENT", "check_source", "environment", "tracking_uri"]

#: how hard the import tries an HTTP tracking server, where the environment does not say
#: (MLflow's own defaults, 7 retries from 2 s doubling and 120 s a request, made an unreachable
#: server fail after ≈ 250 s: a probe, twenty-sixth session); MLflow 3 reads its file store only
#: when told
ENVIRONMENT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_ALLOW_FILE_STORE": "true"}
#: the tables that make a SQLite database an MLflow tracking store
_TABLES = frozenset({"experiments", "runs"})


def tracking_uri(where: str) -> str:
    """The tracking URI for ``where``: a URI as given, a ``.db`` / ``.sqlite`` file as SQLite,
    a directory as a file store (``mlruns/``).

    >>> tracking_uri("sqlite:///x.db")
    'sqlite:///x.db'
    """
    if "://" in where or where.startswith("sqlite:"):
        return where
    path = Path(where)
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        if not path.is_file():
            raise FileNotFoundError(f"{where}: no such SQLite file")
        return f"sqlite:///{path.resolve()}"
    if not path.is_dir():
        raise FileNotFoundError(f"{where}: neither a tracking URI, a .db file nor an mlruns/ directory")
    return path.resolve().as_uri()


def check_source(uri: str) -> None:
    """Refuse a tracking store on this machine that MLflow would create or change rather than
    read: MLflow's stores make what they are pointed at (the tables of an empty or missing
    ``.db`` file, a ``.trash`` folder in any directory), so a wrong path was "imported" with exit
    0 and nothing stored, and the file or folder changed (a probe, twenty-sixth session).

    :raises FileNotFoundError: the SQLite file or the directory does not exist.
    :raises ValueError: the file is no SQLite database, or no MLflow one (no ``experiments`` and
        ``runs`` tables); the directory holds no experiment (``<id>/meta.yaml``); an in-memory
        database.
    """
    if uri.startswith("sqlite:"):
        path = _sqlite_path(uri)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such SQLite file (MLflow would create an empty one)")
        import sqlite3

        try:
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as error:
            raise ValueError(f"{path}: not a SQLite database ({error}); give an MLflow tracking "
                             "store: a .db file MLflow wrote, an mlruns/ directory or a tracking URI") from None
        if missing := sorted(_TABLES - tables):
            raise ValueError(f"{path}: a SQLite database, but not an MLflow tracking store (no "
                             f"{' or '.join(missing)} table{'s' if len(missing) > 1 else ''})")
    elif uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        directory = Path(unquote(urlparse(uri).path))
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: no such directory")
        if not any(directory.glob("*/meta.yaml")):
            raise ValueError(f"{directory}: not an MLflow file store (no experiment in it: no "
                             "<experiment id>/meta.yaml); give the mlruns/ directory MLflow wrote")


def _sqlite_path(uri: str) -> Path:
    """The file of a ``sqlite:`` URI (``sqlite:///relative.db``, ``sqlite:////absolute.db``).

    >>> _sqlite_path("sqlite:////tmp/x.db"), _sqlite_path("sqlite:///x.db?mode=ro")
    (PosixPath('/tmp/x.db'), PosixPath('x.db'))
    """
    rest = uri[len("sqlite:"):].split("?", 1)[0]
    rest = rest[2:] if rest.startswith("//") else rest
    rest = rest[1:] if rest.startswith("/") else rest
    rest = rest[len("file:"):] if rest.startswith("file:") else rest
    if rest in ("", ":memory:"):
        raise ValueError(f"{uri}: an in-memory SQLite database holds no runs; give the file MLflow wrote")
    return Path(rest)


_ONE_AT_A_TIME = threading.Lock()


@contextmanager
def environment(settings: dict[str, str]) -> Iterator[None]:
    """``settings`` in ``os.environ`` where it has none of them, for the time of the import
    (MLflow reads its settings there, at each request). The environment is the process's: one
    import at a time holds it (two at once took the settings away from each other part-way: a
    review, twenty-seventh session); other threads see them while it runs."""
    with _ONE_AT_A_TIME:
        added = [name for name in settings if name not in os.environ]
        os.environ.update({name: settings[name] for name in added})
        try:
            yield
        finally:
            for name in added:
                os.environ.pop(name, None)
