"""A UTF-8 byte order mark split across two reads of a pipe is skipped (``parse_file``, what
``provml load`` and ``provml validate`` read RDF files with).

The check peeked three bytes, but a peek makes at most one read: from a pipe whose writer sent
``\\xef`` (or ``\\xef\\xbb``) first, it saw only those, and the parser refused the mark ("not a
valid subject"). Here a real OS pipe gets the mark in two writes; the second is written only once
the reader has taken the first out of the pipe (the pipe's count of unread bytes is 0), so the
reader's first read returns the first part alone whatever the machine's speed."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyoxigraph import Literal, NamedNode

from provml.errors import RdfSyntaxError
from provml.store.rdfio import parse_file

BOM = b"\xef\xbb\xbf"
TRIPLE = b'<http://ex.org/a> <http://ex.org/p> "x" .\n'


def _unread(fd: int) -> int:
    """The bytes written to the pipe ``fd`` and not yet read from it (``FIONREAD``)."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


@contextmanager
def _pipe_in_two_writes(first: bytes, rest: bytes) -> Iterator[tuple[Path, list[str]]]:
    """A pipe (its path under ``/dev/fd``) that receives ``first``, then — once the reader has
    read all of it — ``rest``, then its end. Yields the path and the writer's problems (none
    when the reader took ``first`` alone before ``rest`` was written)."""
    read_end, write_end = os.pipe()
    problems: list[str] = []

    def write() -> None:
        try:
            os.write(write_end, first)
            deadline = time.monotonic() + 60  # (a bound on a wait, not a measure of speed)
            while _unread(write_end) > 0:
                if time.monotonic() > deadline:
                    problems.append("the reader never read the first write")
                    return
                time.sleep(0.001)
            os.write(write_end, rest)
        except OSError as error:  # (the reader gone before the second write: a broken pipe)
            problems.append(f"the second write failed: {error}")
        finally:
            os.close(write_end)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        yield Path(f"/dev/fd/{read_end}"), problems
    finally:
        writer.join(timeout=120)
        os.close(read_end)
    assert not writer.is_alive()


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="needs /dev/fd (Linux, macOS)")
@pytest.mark.parametrize("split", [1, 2], ids=["ef|bbbf", "efbb|bf"])
@pytest.mark.parametrize("fmt", ["ntriples", "turtle", "nquads", "trig"])
def test_a_bom_split_across_two_pipe_reads_is_skipped(split: int, fmt: str) -> None:
    with _pipe_in_two_writes(BOM[:split], BOM[split:] + TRIPLE) as (path, problems):
        quads = parse_file(path, format=fmt)
    assert problems == []
    assert [(q.subject, q.predicate, q.object) for q in quads] == [
        (NamedNode("http://ex.org/a"), NamedNode("http://ex.org/p"), Literal("x"))]


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="needs /dev/fd (Linux, macOS)")
@pytest.mark.parametrize("split", [1, 2])
def test_the_start_of_a_bom_that_is_not_one_still_reaches_the_parser(split: int) -> None:
    """``\\xef\\xbb`` then a triple is no mark: the bytes read to find out are given to the parser
    with the rest, which refuses them (had they been dropped, the triple would have been read)."""
    with (_pipe_in_two_writes(b"\xef\xbb"[:split], b"\xef\xbb"[split:] + TRIPLE) as (path, problems),
          pytest.raises(RdfSyntaxError) as refused):
        parse_file(path, format="ntriples")
    assert problems == []
    assert refused.value.line == 1
