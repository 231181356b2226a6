"""The ``provml`` command line: a thin shell over the library.

Exit codes follow pySHACL: 0 success / conforms, 1 does not conform or rejected, 2 could not run.
Heavy modules are imported inside the commands that need them.
"""

from __future__ import annotations

import click

from provml._version import __version__

__all__ = ["main"]


class CouldNotRun(click.ClickException):
    """A command could not run (unreadable input, locked store, ...): exit 2, no traceback."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="provml")
def main() -> None:
    """provml: workflow provenance of scientific ML as a PROV-ML knowledge graph."""
