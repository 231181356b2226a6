"""The ``provml`` command line: a thin shell over the library.

Exit codes follow pySHACL: 0 success / conforms, 1 does not conform or rejected, 2 could not run.
Heavy modules are imported inside the commands that need them.
"""

from __future__ import annotations

from pathlib import Path

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


@main.group()
def ontology() -> None:
    """The shipped PROV-ML ontology."""


@ontology.command("info")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)
@click.option(
    "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="An ontology file to describe instead of the shipped provml.ttl.",
)
def ontology_info_command(fmt: str, file: Path | None) -> None:
    """Ontology IRI, version, counts of classes and properties, and its imports as resolved
    through catalog-v001.xml (no network)."""
    import json

    from provml.ontology_info import ontology_info

    try:
        info = ontology_info(file)
    except (SyntaxError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    click.echo(json.dumps(info.as_dict(), indent=2) if fmt == "json" else info.text())
