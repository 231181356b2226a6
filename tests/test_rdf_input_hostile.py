"""RDF files that made `provml validate` and `provml load` crash or hang (a probe, twenty-seventh
session): JSON-LD nested thousands deep (a segmentation fault in the parser), plain JSON nested
a thousand deep (a RecursionError traceback), a term longer than the parser's 16 MiB buffer
(a MemoryError traceback), a device named as an RDF/XML file (read until memory ran out), and
a UTF-8 byte order mark (refused as "not a valid subject"). Each command runs in a process of
its own, its address space capped: the code before crashed or grew without end."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

PROVML = [sys.executable, "-c", "import sys; from provml.cli import main; sys.exit(main())"]


def _provml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    def cap() -> None:  # 2 GiB of address space: a read without end fails instead of filling memory
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run([*PROVML, *args], cwd=cwd, capture_output=True, text=True, timeout=240,
                          preexec_fn=cap, env={**os.environ, "PYTHONFAULTHANDLER": ""})


def test_json_ld_nested_thousands_deep_is_refused_naming_the_file(tmp_path: Path) -> None:
    n = 4000
    (tmp_path / "deep.jsonld").write_text('{"@id": "http://ex.org/a", "http://ex.org/p": '
                                          + '{"http://ex.org/p": ' * n + '"x"' + "}" * n + "}")
    (tmp_path / "plain.jsonld").write_text('{"a": ' * 1000 + "1" + "}" * 1000)
    for name in ("deep.jsonld", "plain.jsonld"):
        checked = _provml("validate", name, cwd=tmp_path)
        assert checked.returncode == 2, (name, checked.returncode, checked.stderr[-500:])
        assert f"{name}: JSON nested deeper than 512" in checked.stderr and "Traceback" not in checked.stderr
    loaded = _provml("load", "--store", "s", "deep.jsonld", cwd=tmp_path)
    assert loaded.returncode == 1 and "rejected deep.jsonld" in loaded.stderr, loaded.stderr[-500:]
    # a JSON-LD file nested as deep as real data is read
    (tmp_path / "fine.jsonld").write_text('{"@id": "http://ex.org/a", "http://ex.org/p": '
                                          + '{"http://ex.org/p": ' * 20 + '"x"' + "}" * 20 + "}")
    assert _provml("validate", "fine.jsonld", cwd=tmp_path).returncode == 0


def test_a_term_longer_than_the_parser_takes_is_named_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "huge.nt").write_text('<http://ex.org/a> <http://ex.org/p> "' + "x" * 17_000_000 + '" .\n')
    checked = _provml("validate", "huge.nt", cwd=tmp_path)
    assert checked.returncode == 2 and "Traceback" not in checked.stderr, checked.stderr[-500:]
    assert "huge.nt: a term (literal or IRI) longer than the parser takes" in checked.stderr


def test_a_device_named_as_rdf_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "zero.rdf").symlink_to("/dev/zero")
    checked = _provml("validate", "zero.rdf", cwd=tmp_path)
    assert checked.returncode == 2 and "zero.rdf: a device, not a file of RDF" in checked.stderr, \
        (checked.returncode, checked.stderr[-500:])
    # provml load refuses it before anything is stored, the files before it included
    (tmp_path / "a.nt").write_text('<http://ex.org/a> <http://ex.org/p> "x" .\n')
    loaded = _provml("load", "--store", "s", "a.nt", "zero.rdf", cwd=tmp_path)
    assert loaded.returncode == 2 and "zero.rdf: a device" in loaded.stderr, loaded.stderr[-500:]
    exported = _provml("export", "--store", "s", "--format", "nquads", cwd=tmp_path)
    assert exported.returncode == 0 and "<http://ex.org/a>" not in exported.stdout, exported.stderr[-500:]


def test_rdf_read_from_a_pipe(tmp_path: Path) -> None:
    """``provml validate`` and ``load`` read a pipe as a file (process substitution, a FIFO):
    the byte order mark check read three bytes and sought back, which a pipe cannot (a review,
    twenty-seventh session)."""
    import threading

    fifo = tmp_path / "in.nt"
    os.mkfifo(fifo)
    triple = b'<http://ex.org/a> <http://ex.org/p> "x" .\n'

    def feed(data: bytes) -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(data)

    for data in (triple, b"\xef\xbb\xbf" + triple):
        for args in (("validate", "in.nt"), ("load", "--store", "s", "in.nt")):
            writer = threading.Thread(target=feed, args=(data,))
            writer.start()
            done = _provml(*args, cwd=tmp_path)
            writer.join(timeout=60)
            assert done.returncode == 0, (args, data[:3], done.stderr[-500:])


def test_the_python_apis_refuse_json_ld_nested_too_deep(tmp_path: Path) -> None:
    """The stores' ``load`` and ``KnowledgeGraph.ingest_rdf`` parsed JSON-LD 4,000 deep and the
    process died (SIGSEGV; a review, twenty-seventh session): refused before the parser."""
    n = 4000
    script = (
        "import sys\n"
        "from pyoxigraph import RdfFormat\n"
        "from provml.errors import RdfSyntaxError\n"
        "from provml.knowledge import open_kg\n"
        f"deep = (b'{{\"@id\": \"http://ex.org/a\", \"http://ex.org/p\": ' + b'{{\"http://ex.org/p\": ' * {n} "
        f"+ b'\"x\"' + b'}}' * {n} + b'}}')\n"
        "kg = open_kg(sys.argv[1])\n"
        "for load in (lambda: kg.store.load(deep, format=RdfFormat.JSON_LD), "
        "lambda: kg.ingest_rdf(deep, format=RdfFormat.JSON_LD)):\n"
        "    try:\n"
        "        load()\n"
        "    except RdfSyntaxError as error:\n"
        "        print('refused:', error)\n"
        "kg.close()\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s")], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert done.stdout.count("refused:") == 2 and "nested deeper than 512" in done.stdout


def test_a_byte_order_mark_before_turtle_or_n_triples_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "bom.nt").write_bytes(b'\xef\xbb\xbf<http://ex.org/a> <http://ex.org/p> "x" .\n')
    (tmp_path / "bom.ttl").write_bytes(b'\xef\xbb\xbf@prefix ex: <http://ex.org/> .\nex:a ex:p "x" .\n')
    for name in ("bom.nt", "bom.ttl"):
        checked = _provml("validate", name, cwd=tmp_path)
        assert checked.returncode == 0 and "conforms" in checked.stdout, (name, checked.stderr[-500:])
    loaded = _provml("load", "--store", "s", "bom.nt", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-500:]


def test_the_json_depth_scan_agrees_with_a_token_by_token_count() -> None:
    """``json_depth_over`` against an independent count (a Python loop over strings and brackets,
    as the scan was until this session) on random inputs of brackets, quotes, escapes and
    strings that do not end (where the first C-speed version took time n²: a review)."""
    import random
    import re

    from provml.store.rdfio import json_depth_over

    token = re.compile(rb'"(?:[^"\\]|\\.)*+"|(?P<bad>")|[\[\]{}]', re.DOTALL)

    def deepest(data: bytes) -> int:
        depth = most = 0
        for match in token.finditer(data):
            if match.lastgroup == "bad":  # no later string ends: the rest is brackets
                for char in data[match.end():]:
                    depth += 1 if char in b"[{" else -1 if char in b"]}" else 0
                    most = max(most, depth)
                return most
            char = match.group()[0]
            depth += 1 if char in b"[{" else -1 if char in b"]}" else 0
            most = max(most, depth)
        return most

    rnd = random.Random(27)
    for _ in range(20_000):
        data = bytes(rnd.choice(b'[]{}"\\a, \n') for _ in range(rnd.randint(0, 40)))
        limit = rnd.randint(0, 5)
        assert json_depth_over(data, limit) == (deepest(data) > limit), (data, limit)
    assert json_depth_over(b"[" * 70 + b'"' + b'\\"' * 500_000, 64)  # (a string with no end: brackets count)
