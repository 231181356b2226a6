"""The ``provml`` command line: a thin shell over the library.

One click group; its commands live beside this module by what they do — ``servers`` (``serve``,
``ingest-worker``), ``writing`` (``validate``, ``load``, ``migrate``, ``compact``), ``reading`` (``queries``,
``query``, ``export``, ``stats``, ``ontology info``), ``imports`` (``import …``),
``broker`` (``dead-letters``), and share ``common`` (the exit-2 error, ``--store`` / ``--remote``, opening the knowledge graph).

Exit codes follow pySHACL: 0 success / conforms, 1 does not conform or rejected, 2 could not run.
Heavy modules are imported inside the commands that need them.
"""

from __future__ import annotations

import click

from provml._version import __version__
from provml.cli.broker import dead_letters_group
from provml.cli.imports import import_group
from provml.cli.reading import (
    export_command,
    ontology,
    queries_command,
    query_command,
    stats_command,
)
from provml.cli.servers import ingest_worker_command, serve_command
from provml.cli.writing import compact_command, load_command, migrate_command, validate_command

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="provml")
def main() -> None:
    """provml: workflow provenance of scientific ML as a PROV-ML knowledge graph."""


for _command in (ontology, serve_command, ingest_worker_command, validate_command, load_command,
                 queries_command, query_command, export_command, migrate_command, import_group,
                 stats_command, compact_command, dead_letters_group):
    main.add_command(_command)
