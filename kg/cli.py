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


@main.command("serve")
@click.option("--store", "store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="On-disk Oxigraph store directory (created when missing). Default: in memory.")
@click.option("--remote", default=None, help="Base URL of a remote SPARQL 1.1 store instead.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=7878, show_default=True, type=int, help="Port to bind.")
@click.option("--base-url", default=None, help="Public URL of this endpoint (sd:endpoint).")
@click.option("--token", default=None, envvar="PROVML_TOKEN", show_envvar=True,
              help="Bearer token every write needs.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Read the write token from this file.")
@click.option("--read-token", default=None, envvar="PROVML_READ_TOKEN", show_envvar=True,
              help="Bearer token reads need (default: reads are open).")
@click.option("--read-only", is_flag=True, help="Refuse every write.")
@click.option("--cors", "cors", multiple=True, help="Allow this origin cross-origin (repeatable; * for any).")
@click.option("--timeout-s", default=30.0, show_default=True, type=float, help="Query time limit (0: none).")
@click.option("--max-rows", default=100_000, show_default=True, type=int, help="Most result rows (0: no limit).")
@click.option("--max-body-mb", default=64.0, show_default=True, type=float, help="Largest request body.")
@click.option("--threads", default=8, show_default=True, type=int, help="Worker threads.")
def serve_command(store: Path | None, remote: str | None, host: str, port: int,
                  base_url: str | None, token: str | None, token_file: Path | None,
                  read_token: str | None, read_only: bool, cors: tuple[str, ...],
                  timeout_s: float, max_rows: int, max_body_mb: float, threads: int) -> None:
    """Serve the knowledge graph: SPARQL 1.1 Protocol, Graph Store, APIs (waitress; Ctrl-C stops)."""
    from provml.endpoint.server import serve
    from provml.errors import Error

    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    config = {"STORE": str(store) if store else None, "REMOTE": remote, "BASE_URL": base_url,
              "TOKEN": token, "READ_TOKEN": read_token, "READ_ONLY": read_only,
              "CORS_ORIGINS": cors, "TIMEOUT_S": timeout_s, "MAX_ROWS": max_rows,
              "MAX_BODY_MB": max_body_mb}
    try:
        serve(config, host=host, port=port, threads=threads)
    except (Error, OSError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc


@main.command("validate")
@click.argument("data", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--shapes", "shapes", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SHACL shapes file (repeatable). Default: the shapes provml ships.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report format.")
@click.option("--input-format", default=None,
              help="RDF format of every DATA file (turtle, nt, nq, trig, jsonld, rdfxml). "
                   "Default: from each file's suffix.")
def validate_command(data: tuple[Path, ...], shapes: tuple[Path, ...], fmt: str,
                     input_format: str | None) -> None:
    """Check RDF files against provml's SHACL shapes, with the types the PROV-ML ontology
    entails. Exit 0 when the data conforms, 1 when it does not, 2 when it could not run."""
    import json

    from provml.errors import RdfSyntaxError
    from provml.validation import validate_files

    try:
        report = validate_files(list(data), shapes=list(shapes) or None, input_format=input_format)
    except (RdfSyntaxError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    except OSError as exc:
        raise CouldNotRun(f"cannot read {exc.filename}: {exc.strerror}") from exc
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.describe())
    raise SystemExit(0 if report.conforms else 1)
