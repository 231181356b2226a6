"""The commands that read: named queries, ``query``, ``export``, ``stats``, ``ontology info``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from provml.cli.common import REMOTE, STORE, CouldNotRun, open_kg_or_exit

__all__ = ["export_command", "ontology", "queries_command", "query_command", "stats_command"]


@click.group()
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


@click.command("queries")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def queries_command(fmt: str) -> None:
    """List the named queries with their parameters."""
    import json

    from provml.query.named import list_queries

    queries = list_queries()
    if fmt == "json":
        click.echo(json.dumps([q.to_dict() for q in queries], indent=2))
        return
    for q in queries:
        paper = f" [{q.paper}]" if q.paper else ""
        click.echo(f"{q.name}{paper}: {q.title}")
        for p in q.parameters:
            extra = f", default {p.default}" if p.default else ""
            click.echo(f"    --param {p.name}=<{p.type}>{extra}  {p.description}")


@click.command("query")
@click.argument("name")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A query parameter (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@STORE
@REMOTE
def query_command(name: str, params: tuple[str, ...], fmt: str, store: Path | None,
                  remote: str | None) -> None:
    """Run a named query (see `provml queries`) or a SPARQL file (FILE.rq)."""
    from pyoxigraph import QueryResultsFormat

    from provml.errors import Error
    from provml.query.named import load_query_file, run_query
    from provml.query.tables import render_table

    pairs = {key: value for key, _, value in (p.partition("=") for p in params)}
    target: Any = name
    if name.endswith((".rq", ".sparql")):
        if not Path(name).is_file():
            raise CouldNotRun(f"{name}: no such query file")
        try:
            target = load_query_file(name)
        except Error as exc:
            raise CouldNotRun(str(exc)) from exc
        except OSError as exc:
            raise CouldNotRun(f"cannot read {name}: {exc.strerror}") from exc
    kg = open_kg_or_exit(store, create=False, remote=remote)
    try:
        result = run_query(kg, target, pairs)
        if fmt == "table":
            click.echo(render_table(result, base=kg.base))
        else:
            out = result.serialize(format=QueryResultsFormat.JSON if fmt == "json" else QueryResultsFormat.CSV)
            # (color=True: click takes colour codes out of text for a file or a pipe, and CSV lost them)
            click.echo((out or b"").decode(), nl=False, color=True)
    except (Error, SyntaxError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        kg.close()


@click.command("export")
@click.option("--graph", default=None, help="Only this named graph (IRI).")
@click.option("--format", "fmt", type=click.Choice(["turtle", "ntriples", "trig", "nquads", "jsonld",
                                                    "jsonld-expanded", "rdfxml", "prov-json",
                                                    "prov-n", "prov-xml", "ro-crate"]),
              default="trig", show_default=True,
              help="RDF format (jsonld is compacted with the ontologies' prefixes as its context); "
                   "PROV-JSON, PROV-N, PROV-XML (the instance graphs, one bundle each); or an "
                   "RO-Crate directory (or .zip) given with -o.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Write to this file instead of standard output (ro-crate: a directory or .zip).")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="ro-crate: where relative data locations are found (copied into the crate). "
                   "Default: the current directory.")
@STORE
@REMOTE
def export_command(graph: str | None, fmt: str, output: Path | None, root: Path | None,
                   store: Path | None, remote: str | None) -> None:
    """Export the store (or one graph) as RDF; triple formats without --graph give the union.
    See docs/interop.md for what the PROV and RO-Crate exports hold."""
    from pyoxigraph import NamedNode

    from provml.errors import Error
    from provml.query.inventory import export

    if graph == "":
        raise CouldNotRun("--graph needs a graph IRI; leave it out to export the whole store")
    if fmt.startswith(("prov-", "ro-")) and graph is not None:
        raise CouldNotRun(f"--graph does not apply to {fmt}: it exports every instance graph")
    if fmt == "ro-crate" and output is None:
        raise CouldNotRun("ro-crate writes a directory (or a .zip): give it with -o")
    try:
        target = None if graph is None else NamedNode(graph)
    except ValueError as exc:
        raise CouldNotRun(f"--graph {graph!r} is not an IRI ({exc}): give the graph's full IRI") from exc
    if output is not None and remote is None:
        _refuse_output_in_store(output, store)
    kg = open_kg_or_exit(store, create=False, remote=remote)
    try:
        if fmt == "ro-crate":
            from provml.interop.rocrate_export import export_ro_crate

            assert output is not None
            try:
                export_ro_crate(kg, output, root=root)
            except OSError as exc:
                raise CouldNotRun(f"cannot write {output}: {exc}") from exc
            click.echo(f"wrote the RO-Crate {output}", err=True)
            return
        if fmt.startswith("prov-"):
            from provml.interop.prov_export import export_prov

            data = export_prov(kg, fmt)
        else:
            data = export(kg, format=fmt, graph=target)
    except (Error, OSError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        kg.close()
    if output:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise CouldNotRun(f"cannot write {output}: {exc.strerror or exc}") from exc
    else:
        click.echo(data, nl=False)


def _refuse_output_in_store(output: Path, store: Path | None) -> None:
    """Exit 2 when ``output`` is (or is inside) the store's folder: a file written there can
    break the store (``-o STORE/CURRENT`` made RocksDB refuse it: a hostile probe,
    twenty-seventh session)."""
    from provml.knowledge import default_store_path

    try:
        folder = (store or default_store_path()).resolve()
        target = output.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: writing there fails, and says so
        return
    if target == folder or target.is_relative_to(folder):
        raise CouldNotRun(f"cannot write {output}: it is inside the store {folder}; write the "
                          "export somewhere else")


@click.command("stats")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@STORE
@REMOTE
def stats_command(fmt: str, store: Path | None, remote: str | None) -> None:
    """Triples, graphs, runs and instances per PROV-ML class."""
    import json

    from provml.query.inventory import stats

    kg = open_kg_or_exit(store, create=False, remote=remote)
    try:
        s = stats(kg)
    finally:
        kg.close()
    click.echo(json.dumps(s.to_dict(), indent=2) if fmt == "json" else s.text())
