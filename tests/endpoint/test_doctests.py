"""The docstring examples of the endpoint core run (through the imported package)."""

from __future__ import annotations

import doctest
import importlib
import tempfile
from pathlib import Path

import pytest

MODULES = ["app", "auth", "config", "context", "forms", "limits", "sparql.description", "errors", "sparql.evaluation",
           "sparql.isolation", "sparql.outcomes", "sparql.flushing", "sparql.cache", "fast_reads", "negotiation", "sparql.results", "server", "ui.comparison",
           "ui.overview", "linked_data.void", "linked_data.ontology_docs", "sending", "sparql.offline"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each also leaves nothing in the temporary directory: an example that built an app with
    its own temporary store and never closed it left the store behind (two a suite's run, found
    in /tmp in the 24th session)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    module = importlib.import_module(f"provml.endpoint.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no example"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("provml-endpoint-")]
