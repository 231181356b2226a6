"""The WHERE parts of an update, found by the scan that counts them under the query limits
before the update is applied (endpoint/sparql/updates.py)."""

from __future__ import annotations

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
