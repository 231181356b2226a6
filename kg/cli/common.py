"""What the ``provml`` commands share: the exit-2 error, the store options and opening the
knowledge graph they name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from provml.knowledge import KnowledgeGraph

__all__ = ["FORMAT", "REMOTE", "REMOTE_HELP", "STORE", "CouldNotRun", "open_kg_or_exit"]


class CouldNotRun(click.ClickException):
    """A command could not run (unreadable input, locked store, ...): exit 2, no traceback."""

    exit_code = 2


REMOTE_HELP = ("A remote SPARQL store instead of --store: URL (Oxigraph server), LAYOUT+URL "
               "(virtuoso+http://host:8890, provml+http://host:7878, fuseki+URL, graphdb+URL) or "
               "'query=URL;update=URL;store=URL'. Credentials: $PROVML_REMOTE_TOKEN "
               "(and $PROVML_REMOTE_USER for HTTP Basic).")
REMOTE = click.option("--remote", default=None, envvar="PROVML_REMOTE", show_envvar=True,
                      help=REMOTE_HELP)
STORE = click.option("--store", type=click.Path(file_okay=False, path_type=Path),
                     help="On-disk store directory [default: $PROVML_STORE, else .provml/store].")
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="Report format.")


def open_kg_or_exit(store: Path | None, *, create: bool = True, remote: str | None = None) -> KnowledgeGraph:
    """Open the knowledge graph of ``--store`` (or the default) or ``--remote``, turning
    failures into exit 2.

    ``create=True`` (the commands that store data: ``load``, ``import``) makes a store in a
    folder that holds none (missing, empty, or beside other files). ``create=False`` (the commands that read or upkeep a store) opens an
    existing store only: a missing folder, or one that holds no store, is refused before anything
    is written into it, and a store held by another process gets the advice for a reader."""
    from provml.errors import Error, StoreLocked
    from provml.knowledge import default_store_path, open_kg

    if remote is not None:
        if store is not None:
            raise CouldNotRun("give --store or --remote, not both")
        try:
            return open_kg(remote=remote)
        except (Error, OSError, ValueError) as exc:
            raise CouldNotRun(str(exc)) from exc
    path = store or default_store_path()
    if not create:
        _refuse_no_store(path)
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return open_kg(path)
    except StoreLocked as exc:
        raise CouldNotRun(str(exc) if create else _locked_for_reader(path)) from exc
    except (Error, OSError) as exc:
        raise CouldNotRun(str(exc)) from exc


def _refuse_no_store(path: Path) -> None:
    """Exit 2 unless ``path`` is the folder of an on-disk store (RocksDB's ``CURRENT`` file in it),
    writing nothing: opening the folder would make a new, empty store in it."""
    if not path.exists():
        raise CouldNotRun(f"no store at {path}: load data first (provml load ... --store {path}) "
                          "or pass the --store of an existing store")
    if not path.is_dir():
        raise CouldNotRun(f"no store at {path}: it is a file, not a store folder; pass the --store "
                          "of an existing store")
    if (path / "CURRENT").is_file():
        return
    try:
        empty = not any(path.iterdir())
    except OSError as exc:
        raise CouldNotRun(f"cannot read the folder {path}: {exc.strerror}") from exc
    if empty:
        raise CouldNotRun(f"no store at {path}: the folder is empty (nothing was written to it). Load "
                          f"data into it first (provml load ... --store {path}) or pass the --store of "
                          "an existing store")
    raise CouldNotRun(f"no store at {path}: the folder holds files but no store (no RocksDB CURRENT "
                      "file), and nothing was written to it. Pass the --store of an existing store, or "
                      "load data into a new folder (provml load ... --store NEW)")


def _locked_for_reader(path: Path) -> str:
    """What to do when another process holds the store that a reading command opens: read through
    the server that holds it where the command takes ``--remote``, else wait for it."""
    context = click.get_current_context(silent=True)
    takes_remote = context is not None and any(p.name == "remote" for p in context.command.params)
    read = ("read it through the server that holds it with --remote provml+http://127.0.0.1:7878 "
            "(provml serve's default address; give yours), or run this again when that process is done"
            if takes_remote else "stop the process that holds it (a provml serve of this store, say) "
            "or run this again when it is done")
    return (f"the store {path} is in use by another process (a running provml serve, or a program "
            f"capturing into it; one process opens a store at a time): {read}.")
