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
    failures into exit 2."""
    from provml.errors import Error
    from provml.knowledge import default_store_path, open_kg

    if remote is not None:
        if store is not None:
            raise CouldNotRun("give --store or --remote, not both")
        try:
            return open_kg(remote=remote)
        except (Error, OSError, ValueError) as exc:
            raise CouldNotRun(str(exc)) from exc
    path = store or default_store_path()
    if not create and not path.exists():
        raise CouldNotRun(f"no store at {path}: load data first (provml load ...) or pass --store")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return open_kg(path)
    except (Error, OSError) as exc:
        raise CouldNotRun(str(exc)) from exc
