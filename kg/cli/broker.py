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

        from provml.capture.broker import connect, safe_url
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise CouldNotRun(f"the dead letters need the redis package: pip install 'provml[redis]' ({exc})") from exc
    from provml.ingest.dead_letters import NotFound, NotRetryable

    client = connect(url)
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
    from provml.ingest.dead_letters import read

    with _redis(broker) as redis:
        letters = read(redis, limit=limit)
    for d in letters:
        if fmt == "json":
            click.echo(json.dumps(d.summary()))
            continue
        size = f"{d.events} events" if d.events is not None else ("no bag" if not d.bag else "not JSON")
        message = " ".join(d.message.split())
        click.echo(f"{d.dead_id}  {d.stage:<6}  {size:<10}  {d.error}: "
                   f"{message[:120] + '…' if len(message) > 120 else message}")
    if fmt == "text":
        retryable = sum(d.retryable for d in letters)
        click.echo(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''} in {DEAD}"
                   f"{' listed' if limit is not None else ''} ({retryable} with a bag to send back)"
                   if letters else f"no dead letters in {DEAD}", err=True)


@dead_letters_group.command("show")
@BROKER
@click.argument("dead_id", metavar="ID")
def show_command(broker: str, dead_id: str) -> None:
    """One dead letter in full, as JSON: its report (the SHACL report, for the shapes) and its bag."""
    from provml.ingest.dead_letters import find

    with _redis(broker) as redis:
        [letter] = find(redis, [dead_id])
    click.echo(json.dumps(letter.to_dict(), indent=2, ensure_ascii=False))


def _chosen(ids: tuple[str, ...], every: bool) -> Callable[[Any], list[Any]]:
    """What ``retry`` and ``drop`` act on: the ids named, or ``--all``."""
    if bool(ids) == every:
        raise click.UsageError("name the dead letters (their ids, from `provml dead-letters list`) or give --all")

    def letters(redis: Any) -> list[Any]:
        from provml.ingest.dead_letters import find, read

        return read(redis) if every else find(redis, ids)

    return letters


@dead_letters_group.command("retry")
@BROKER
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "every", is_flag=True, help="Every dead letter that holds a bag.")
def retry_command(broker: str, ids: tuple[str, ...], every: bool) -> None:
    """Send bags back to provml:events (after a fix: a spec registered, a worker mended), each
    moved atomically; workers take them as any other bag, and one still bad comes back here
    under a new id. Exit 2, nothing sent, when an id is unknown or names an entry without a bag."""
    from provml.capture.broker import EVENTS
    from provml.ingest.dead_letters import retry

    chosen = _chosen(ids, every)
    with _redis(broker) as redis:
        letters = chosen(redis)
        bagless = [d for d in letters if not d.retryable] if every else []
        letters = [d for d in letters if d.retryable] if every else letters
        moved = retry(redis, letters)
    events = sum(d.events or 0 for d in moved)
    click.echo(f"sent {len(moved)} bag{'s' if len(moved) != 1 else ''} ({events} events) back to {EVENTS}")
    if len(moved) < len(letters):
        click.echo(f"{len(letters) - len(moved)} already gone (sent back or dropped meanwhile)", err=True)
    if bagless:
        click.echo(f"left {len(bagless)} that hold no bag: look at them with `provml dead-letters show`, "
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
        dropped = drop(redis, chosen(redis))
    click.echo(f"dropped {dropped} dead letter{'s' if dropped != 1 else ''} from {DEAD}")
