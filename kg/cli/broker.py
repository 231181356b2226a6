"""The broker's operator commands: ``dead-letters`` (``list``, ``show``, ``retry``, ``drop``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from provml.cli.common import CouldNotRun

__all__ = ["dead_letters_group"]

BROKER = click.option("--broker", required=True, metavar="URL",
                      help="Redis URL, e.g. redis://127.0.0.1:6379/0.")


@contextmanager
def _redis(url: str) -> Iterator[Any]:
    """A connection to the broker; its failures (and a missing redis package) exit 2."""
    try:
        import redis

        from provml.capture.broker import connect
        from provml.capture.redact import safe_url
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise CouldNotRun(f"the dead letters need the redis package: pip install 'provml[redis]' ({exc})") from exc
    from provml.ingest.dead_letters import NotFound, NotRetryable

    try:
        client = connect(url)
    except ValueError as exc:  # redis-py's own words name the part of the URL, not its password
        raise CouldNotRun(f"the broker URL {safe_url(url)} is not one: {exc}") from exc
    try:
        yield client
    except redis.RedisError as exc:
        raise CouldNotRun(f"the broker {safe_url(url)} cannot be used: {exc}") from exc
    except (NotFound, NotRetryable) as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        client.close()


@click.group("dead-letters")
def dead_letters_group() -> None:
    """The bags the broker's workers and writer rejected (the stream provml:dead): look at
    them, send them back once fixed, drop them (docs/deployment.md)."""


@dead_letters_group.command("list")
@BROKER
@click.option("--limit", type=click.IntRange(0, None), default=None, help="At most this many, oldest first.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one line each; json: one JSON object a line.")
def list_command(broker: str, limit: int | None, fmt: str) -> None:
    """The dead letters, oldest first: id, who rejected it, events, the error."""
    from provml.capture.broker import DEAD
    from provml.ingest.dead_letters import pages

    listed = retryable = 0
    with _redis(broker) as redis:
        for page in pages(redis, limit=limit):  # printed as read: a long stream is never held whole
            for d in page:
                listed += 1
                retryable += d.retryable
                click.echo(json.dumps(d.summary()) if fmt == "json" else _line(d))
        total = int(redis.xlen(DEAD))
    if fmt == "text":
        click.echo(f"{total} dead letter{'s' if total != 1 else ''} in {DEAD}"
                   + (f", {listed} listed ({retryable} with a bag to send back)" if total else ""), err=True)


def _line(d: Any) -> str:
    """A dead letter's line of ``list``: id, stage, size, error."""
    if not d.bag:
        size = "no bag"
    elif d.events is not None:
        size = f"{d.events} events"
    else:
        size = f"{len(d.bag) / 1e6:.1f} MB" if len(d.bag) > 1024 * 1024 else "not JSON"
    message = " ".join(d.message.split())
    return f"{d.dead_id}  {d.stage:<6}  {size:<10}  {d.error}: {message[:120] + '…' if len(message) > 120 else message}"


@dead_letters_group.command("show")
@BROKER
@click.argument("dead_id", metavar="ID")
def show_command(broker: str, dead_id: str) -> None:
    """One dead letter in full, as JSON: its report (the SHACL report, for the shapes) and its bag."""
    from provml.ingest.dead_letters import find

    with _redis(broker) as redis:
        [letter] = find(redis, [dead_id])
    click.echo(json.dumps(letter.to_dict(), indent=2, ensure_ascii=False))


def _chosen(ids: tuple[str, ...], every: bool) -> Callable[[Any], Iterator[list[Any]]]:
    """What ``retry`` and ``drop`` act on, a page at a time: the ids named (one page, all
    found or none acted on), or ``--all``."""
    if bool(ids) == every:
        raise click.UsageError("name the dead letters (their ids, from `provml dead-letters list`) or give --all")

    def letters(redis: Any) -> Iterator[list[Any]]:
        from provml.ingest.dead_letters import find, pages

        if every:
            yield from pages(redis)
        else:
            yield find(redis, ids)

    return letters


@dead_letters_group.command("retry")
@BROKER
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "every", is_flag=True, help="Every dead letter that holds a bag.")
def retry_command(broker: str, ids: tuple[str, ...], every: bool) -> None:
    """Send bags back to provml:events (after a fix: a worker mended, a shape relaxed), each
    moved atomically; workers take them as any other bag, and one still bad comes back here
    under a new id. Exit 2, nothing sent, when an id is unknown or names an entry without a bag."""
    from provml.capture.broker import EVENTS
    from provml.ingest.dead_letters import retry

    chosen = _chosen(ids, every)
    chosen_n = moved_n = events = bagless = 0
    with _redis(broker) as redis:
        for page in chosen(redis):  # (--all: a page's bags are sent back before the next is read)
            letters = [d for d in page if d.retryable] if every else page
            bagless += len(page) - len(letters)
            moved = retry(redis, letters)
            chosen_n += len(letters)
            moved_n += len(moved)
            events += sum(d.events or 0 for d in moved)
    click.echo(f"sent {moved_n} bag{'s' if moved_n != 1 else ''} ({events} events) back to {EVENTS}")
    if moved_n < chosen_n:
        click.echo(f"{chosen_n - moved_n} already gone (sent back or dropped meanwhile)", err=True)
    if bagless:
        click.echo(f"left {bagless} that hold no bag: look at them with `provml dead-letters show`, "
                   "then drop them", err=True)


@dead_letters_group.command("drop")
@BROKER
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "every", is_flag=True, help="Every dead letter (needs --yes).")
@click.option("--yes", is_flag=True, help="Confirm --all: the bags are gone for good.")
def drop_command(broker: str, ids: tuple[str, ...], every: bool, yes: bool) -> None:
    """Delete dead letters for good (their bags are not stored anywhere else). Exit 2, nothing
    deleted, when an id is unknown."""
    from provml.capture.broker import DEAD
    from provml.ingest.dead_letters import drop

    chosen = _chosen(ids, every)
    if every and not yes:
        raise CouldNotRun("--all deletes every dead letter and its bag for good: add --yes to confirm")
    with _redis(broker) as redis:
        dropped = sum(drop(redis, page) for page in chosen(redis))
    click.echo(f"dropped {dropped} dead letter{'s' if dropped != 1 else ''} from {DEAD}")
