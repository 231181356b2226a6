"""``provml dead-letters`` against a real ``redis-server``, a real worker and writer and a real
on-disk store: the bags the pipeline rejected are listed and shown; a bag the writer rejected for
a bad quads entry is written once sent back; a bag still bad comes back under a new id; unknown
ids, bag-less entries and ``--all`` without ``--yes`` change nothing; junk in the stream (anyone
who can write to Redis) is listed, not a crash.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from redis_server import RedisServer
from test_broker import Running, data, events_of, expected, wait_until_caught_up
from test_broker_poison import _handed_over, _nqz, _write_all

from provml.capture.broker import DEAD, EVENTS, RedisSink, connect
from provml.cli import main
from provml.ingest.dead_letters import find, read, retry
from provml.knowledge import open_kg


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def cli(url: str, *args: str) -> Result:
    command, *rest = args
    return CliRunner().invoke(main, ["dead-letters", command, "--broker", url, *rest])


def listed(url: str) -> list[dict[str, Any]]:
    result = cli(url, "list", "--format", "json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def streams(url: str) -> tuple[list[Any], list[Any]]:
    redis = connect(url)
    try:
        return redis.xrange(DEAD), redis.xrange(EVENTS)
    finally:
        redis.close()


BROKEN_FORMAT = [{"v": 1, "kind": "workflow_begin", "run": "r2"}]  # no t, no workflow
BROKEN_SHAPES = [{"v": 1, "kind": "workflow_begin", "t": 1.0, "run": "r3", "workflow": "wf"},
                 {"v": 1, "kind": "workflow_end", "t": 0.5, "run": "r3", "workflow": "wf", "status": "finished"}]


def test_rejected_bags_are_listed_and_shown_and_a_bad_one_sent_back_comes_back(
        redis_server: RedisServer, tmp_path: Path) -> None:
    url = redis_server.url
    good = events_of("r1", n_batches=2)
    sink = RedisSink(url)
    for bag in (good, BROKEN_FORMAT, BROKEN_SHAPES):
        sink.send([json.dumps(e) for e in bag])
    sink.close()
    sent = [i.decode() for i, _f in streams(url)[1]]
    kg = open_kg(tmp_path / "store")
    running = Running(url, kg)
    try:
        wait_until_caught_up(url)
        letters = listed(url)
        assert [(d["source_id"], d["stage"], d["error"], d["events"], d["retryable"]) for d in letters] == [
            (sent[1], "worker", "EventError", 1, True), (sent[2], "worker", "ValidationFailed", 2, True)]
        text = cli(url, "list")
        assert text.exit_code == 0 and letters[1]["dead_id"] in text.stdout and "ValidationFailed" in text.stdout
        assert "2 dead letters in provml:dead, 2 listed (2 with a bag to send back)" in text.stderr
        limited = cli(url, "list", "--limit", "0")
        assert limited.exit_code == 0 and not limited.stdout and "2 dead letters in provml:dead, 0 listed" in limited.stderr
        shown = cli(url, "show", letters[1]["dead_id"])
        assert shown.exit_code == 0, shown.output
        full = json.loads(shown.stdout)
        assert full["bag"] == BROKEN_SHAPES and full["report"]["report"]["results"]  # the SHACL report
        assert any("ends" in r["message"] for r in full["report"]["report"]["results"])

        sent_back = cli(url, "retry", letters[1]["dead_id"])
        assert sent_back.exit_code == 0, sent_back.output
        assert "sent 1 bag (2 events) back to provml:events" in sent_back.stdout
        wait_until_caught_up(url)
    finally:
        running.close()
    again = listed(url)  # still bad: rejected again, under a new id; the other one untouched
    assert [d["error"] for d in again] == ["EventError", "ValidationFailed"]
    assert again[0] == letters[0] and again[1]["dead_id"] != letters[1]["dead_id"]
    assert again[1]["source_id"] not in sent  # (a new bag in provml:events)
    assert data(kg) == expected(good)
    kg.close()


def test_a_bag_the_writer_rejected_for_a_bad_quads_entry_is_written_once_sent_back(
        redis_server: RedisServer, tmp_path: Path) -> None:
    url = redis_server.url
    bags = [events_of(f"run{i}", n_batches=3) for i in range(3)]
    ids = _handed_over(url, bags, 1, _nqz)  # a faulty worker's entry for bag 1
    kg = open_kg(tmp_path / "store")
    _write_all(url, kg)
    [letter] = listed(url)
    assert (letter["source_id"], letter["stage"], letter["error"]) == (ids[1], "writer", "zlib.error")
    assert data(kg) == expected(bags[0] + bags[2])

    result = cli(url, "retry", "--all")
    assert result.exit_code == 0, result.output
    assert f"sent 1 bag ({len(bags[1])} events) back" in result.stdout
    assert not streams(url)[0]
    running = Running(url, kg)  # mended workers
    try:
        wait_until_caught_up(url)
    finally:
        running.close()
    assert data(kg) == expected([e for bag in bags for e in bag])
    assert not streams(url)[0]
    kg.close()


def test_unknown_ids_bagless_entries_and_all_without_yes_change_nothing(
        redis_server: RedisServer, tmp_path: Path) -> None:
    url = redis_server.url
    redis = connect(url)
    bag = json.dumps(BROKEN_FORMAT).encode()
    with_bag = redis.xadd(DEAD, {"id": "1-0", "bag": bag, "report": json.dumps({"error": "EventError", "message": "m"})}).decode()
    bagless = redis.xadd(DEAD, {"id": "2-0", "bag": b"", "report": json.dumps(
        {"error": "JSONDecodeError", "message": "ids", "stage": "writer", "entry": "2-0"}),
        "entry:nqz": b"x", "entry:ids": b"[not json"}).decode()
    before = streams(url)
    for args in (("retry", with_bag, "9-9"), ("retry", with_bag, "not an id"), ("retry", bagless),
                 ("drop", with_bag, "9-9"), ("drop", "--all"), ("show", "9-9")):
        result = cli(url, *args)
        assert result.exit_code == 2, (args, result.output)
        assert streams(url) == before, args
    assert "9-9" in cli(url, "retry", with_bag, "9-9").output
    assert "no bag to send back" in cli(url, "retry", bagless).output
    assert "--yes" in cli(url, "drop", "--all").output
    assert cli(url, "retry").exit_code == 2 and cli(url, "retry", with_bag, "--all").exit_code == 2

    [entry] = [d for d in listed(url) if d["dead_id"] == bagless]
    assert entry["entry_fields"] == ["ids", "nqz"] and entry["events"] is None and not entry["retryable"]
    result = cli(url, "retry", "--all")  # sends the bag back, leaves the entry and says so
    assert result.exit_code == 0 and "sent 1 bag (1 events)" in result.stdout
    assert "left 1 that hold no bag" in result.stderr
    assert [d["dead_id"] for d in listed(url)] == [bagless]
    [(_id, fields)] = streams(url)[1]
    assert fields[b"bag"] == bag and fields[b"n"] == b"1"
    result = cli(url, "drop", bagless)
    assert result.exit_code == 0 and "dropped 1 dead letter " in result.stdout
    assert not streams(url)[0]
    redis.close()


def test_a_letter_sent_back_twice_at_once_is_appended_once(redis_server: RedisServer) -> None:
    url = redis_server.url
    redis = connect(url)
    dead = [redis.xadd(DEAD, {"id": f"{n}-0", "bag": json.dumps(BROKEN_FORMAT), "report": "{}"}).decode()
            for n in range(1, 201)]
    letters = find(redis, dead)
    moved: list[int] = []
    threads = [threading.Thread(target=lambda: moved.append(len(retry(connect(url), letters)))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(moved) == 200 and redis.xlen(EVENTS) == 200 and not redis.xlen(DEAD)
    assert retry(redis, letters) == []  # all gone: nothing appended again
    assert redis.xlen(EVENTS) == 200
    redis.close()


def test_junk_in_the_dead_letter_stream_is_listed_not_a_crash(redis_server: RedisServer) -> None:
    url = redis_server.url
    redis = connect(url)
    redis.xadd(DEAD, {"report": b"\xff\xfe not json"})
    redis.xadd(DEAD, {"id": b"\xc3", "bag": b"\x00\xff", "report": b"[1, 2]"})
    redis.xadd(DEAD, {"something": "else"})
    letters = read(redis)
    assert [(d.error, d.events, d.retryable) for d in letters] == [
        ("unreadable report", None, False), ("unreadable report", None, True), ("", None, False)]
    assert len(listed(url)) == 3
    text = cli(url, "list")
    assert text.exit_code == 0 and "not JSON" in text.stdout and "no bag" in text.stdout
    for d in letters:
        shown = cli(url, "show", d.dead_id)
        assert shown.exit_code == 0 and json.loads(shown.stdout)["dead_id"] == d.dead_id
    redis.close()


def test_a_bag_nested_too_deep_can_be_listed_shown_and_dropped(redis_server: RedisServer) -> None:
    """A bag nested past Python's recursion limit, dead-lettered as it should be, made every
    ``dead-letters`` command fail with a RecursionError traceback, ``drop`` included: it could
    not be removed (a probe, twenty-seventh session)."""
    url = redis_server.url
    redis = connect(url)
    deep = b"[" * 5000 + b"]" * 5000
    dead = redis.xadd(DEAD, {"id": "1-0", "bag": deep, "report": b"[" * 5000 + b"]" * 5000}).decode()
    redis.xadd(DEAD, {"id": "2-0", "bag": b"[]", "report": json.dumps({"error": "E", "message": "m"})})
    assert [d["events"] for d in listed(url)] == [None, 0]
    shown = cli(url, "show", dead)
    assert shown.exit_code == 0 and json.loads(shown.stdout)["bag"] == deep.decode()
    dropped = cli(url, "drop", dead)
    assert dropped.exit_code == 0, dropped.output
    assert [i.decode() for i, _ in redis.xrange(DEAD)] != [dead] and redis.xlen(DEAD) == 1
    redis.close()


@pytest.mark.parametrize("command", [("dead-letters", "list"), ("ingest-worker", "--store", "STORE", "--connect-timeout-s", "0.3")])
def test_a_broker_password_is_never_printed(tmp_path: Path, command: tuple[str, ...],
                                           caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable broker is named in the error (exit 2) and the log without its password."""
    from servers import free_port

    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"  # nothing listens there
    args = [str(tmp_path / "store") if a == "STORE" else a for a in command]
    result = CliRunner().invoke(main, [*args, "--broker", url])
    assert result.exit_code == 2, result.output
    assert "127.0.0.1" in result.output and "s3cret" not in result.output
    assert "s3cret" not in caplog.text


def test_ids_in_two_spellings_big_bags_and_bad_urls(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """One letter named twice (``5`` is ``5-0``) is sent back once; bags go back in scripts of
    a bounded size (each bag alone here), all of them; an id beyond a stream id's range names
    nothing, and a URL that is not one is an error, both exit 2 (review, 17th session)."""
    from provml.ingest import dead_letters

    url = redis_server.url
    redis = connect(url)
    body = json.dumps(BROKEN_FORMAT * 2000).encode()  # ≈ 0.1 MB a bag
    ids = [redis.xadd(DEAD, {"id": f"{n}-0", "bag": body, "report": "{}"}).decode() for n in range(1, 13)]
    assert ids[0].endswith("-0")  # (a stream's first entry)
    result = cli(url, "retry", ids[0], ids[0].removesuffix("-0"))
    assert result.exit_code == 0 and "sent 1 bag (2000 events)" in result.stdout, result.output
    monkeypatch.setattr(dead_letters, "_SCRIPT_BYTES", 1)
    result = cli(url, "retry", "--all")
    assert result.exit_code == 0 and "sent 11 bags" in result.stdout, result.output
    assert redis.xlen(EVENTS) == 12 and not redis.xlen(DEAD)
    too_big = cli(url, "show", "99999999999999999999-0")
    assert too_big.exit_code == 2 and "no dead letter" in too_big.output
    for bad in ("redis://127.0.0.1:notaport/0", "nothing://x"):
        result = CliRunner().invoke(main, ["dead-letters", "list", "--broker", bad])
        assert result.exit_code == 2 and "Traceback" not in result.output, (bad, result.output)
    redis.close()


def test_a_bag_that_is_no_utf8_is_kept_escaped_and_a_retry_is_refused_again() -> None:
    """A bag whose bytes are no UTF-8 was kept with U+FFFD in their place, and ``retry`` then
    stored the altered text (a probe, twenty-sixth session); its bytes are kept as ``\\xNN``
    escapes now, which are no JSON: the bag is refused again until it is mended."""
    from provml.ingest.dead_letters import kept

    body = b'[{"v": 1, "kind": "workflow_begin", "t": 1, "run": "b12", "workflow": "v\xffz"}]'
    text = kept(body)
    assert b"v\\xffz" in text and "\ufffd".encode() not in text
    with pytest.raises(ValueError):
        json.loads(text)
