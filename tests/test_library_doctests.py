"""The docstring examples of the library run, through the imported package (the project's style rule: every example runs):
every module of provml (the ``kg/`` folder) and the ontology and shapes packages."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import provml

MODULES = sorted(
    {m.name for m in pkgutil.walk_packages(provml.__path__, "provml.")
     if not m.name.startswith(("provml.endpoint", "provml.capture.hooks.")) and m.name != "provml.__main__"}
    | {"provml.ontology", "provml.shapes"}
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} docstring example(s) fail"
