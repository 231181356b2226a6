"""The WHERE parts of an update, found by the scan that counts them under the query limits
before the update is applied (endpoint/sparql/updates.py)."""

from __future__ import annotations

import pytest
from pyoxigraph import NamedNode, Store

from provml.endpoint.sparql.updates import where_parts

E = "http://e.org/"


def test_every_operation_with_a_where_is_counted_over_its_own_dataset() -> None:
    update = f"""PREFIX e: <{E}>
    # a comment naming WHERE {{ is not an operation
    INSERT DATA {{ e:a e:b "WHERE {{ ?x }}" }} ;
    WITH e:g DELETE {{ ?s ?p ?o }} INSERT {{ ?s ?p 1 }} WHERE {{ ?s ?p ?o FILTER(?o = "}}") }} ;
    INSERT {{ GRAPH e:h {{ ?s e:p ?o }} }} USING e:g1 USING NAMED <{E}g2> WHERE {{
        {{ SELECT ?s WHERE {{ ?s ?p ?o }} }} GRAPH ?g {{ ?s e:q ?o }} }} ;
    DELETE WHERE {{ GRAPH e:h {{ ?s ?p ?o }} }} ;
    CLEAR GRAPH e:h ; LOAD <http://example.org/doc> INTO GRAPH e:z
    """
    parts = where_parts(update)
    assert [(p.default_graph, p.named_graphs) for p in parts] == [
        ([NamedNode(E + "g")], None),
        ([NamedNode(E + "g1")], [NamedNode(E + "g2")]),
        (None, None),
    ]
    assert 'FILTER(?o = "}")' in parts[0].query
    store = Store()
    for part in parts:  # each is a query that parses, counting one row
        assert part.query.startswith(f"PREFIX e: <{E}>")
        rows = list(store.query(part.query))  # type: ignore[arg-type]
        assert len(rows) == 1


def test_data_only_updates_have_nothing_to_count() -> None:
    assert where_parts(f"INSERT DATA {{ <{E}a> <{E}b> <{E}c> }}; DROP ALL") == []


def test_an_update_that_would_repeat_its_prologue_into_each_operation_is_refused() -> None:
    """Each operation and WHERE part is counted with the PREFIX and BASE declarations before
    it: 1,000 declarations before 1,000 operations (168 KB) spelt out ≈ 140 MB (regex audit,
    18th session). Past four times the text and 16 MiB: refused, naming what to send."""
    from provml.endpoint.limits import InputRefused
    from provml.endpoint.sparql.updates import operations, where_parts

    prologue = " ".join(f"PREFIX p{i}: <http://e.org/{'x' * 100}/{i}/>" for i in range(1_000))
    update = prologue + " ; ".join(f"INSERT {{ <s> <p> {i} }} WHERE {{ }}" for i in range(1_000))
    for split in (where_parts, operations):
        with pytest.raises(InputRefused, match="fewer operations a request"):
            split(update)
    few = prologue + " INSERT { <s> <p> 1 } WHERE { } ; INSERT { <s> <p> 2 } WHERE { }"
    assert len(where_parts(few)) == 2 and len(operations(few)) == 2


def test_the_tokens_of_a_large_update_are_read_one_at_a_time() -> None:
    """A list of an update's tokens held ≈ 240 bytes a token: 4 MB of ``1,`` took 1 GB to
    split (regex audit, 18th session)."""
    import subprocess
    import sys

    # (VmHWM, the peak of this process's own memory: ru_maxrss keeps the forking parent's)
    script = ("import re; from provml.endpoint.sparql.updates import operations, where_parts;"
              "u = 'INSERT DATA { <a:a> <a:b> ' + '1,' * 2_000_000 + '1 } ; "
              "DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }';"
              "assert len(where_parts(u)) == 1 and len(operations(u)) == 2;"
              "status = open('/proc/self/status').read();"
              "print(int(re.search(r'VmHWM:\\s+(\\d+)', status)[1]) // 1024)")
    peak_mb = int(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                 text=True).stdout)
    assert peak_mb < 300, peak_mb
