"""The layer rules of docs/architecture.md, checked on the source: no import cycle, the endpoint
uses only the library's public modules, the library never imports the endpoint, and the bottom
layers (capture, events) import nothing heavier than the standard library at module level.

The import graph is read with :mod:`ast` from every module of ``provml`` (``kg/``) and
``provml.endpoint`` (``endpoint/``), counting imports at module level, inside functions and under
``TYPE_CHECKING``: an import is an edge to the module it names (``from a import b`` is an edge to
``a.b`` when that is a module, else to ``a``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"provml": ROOT / "kg", "provml.endpoint": ROOT / "endpoint"}

#: library modules that may import provml.endpoint, and why
ENDPOINT_IMPORTERS = {
    # `provml serve` starts the endpoint: the one command that needs it, imported when it runs
    "provml.cli.servers",
}


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The provml modules that ``name`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                if f"{module}.{alias.name}" in MODULES:
                    found.add(f"{module}.{alias.name}")
                elif module in MODULES:
                    found.add(module)
    found.discard(name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walker_sees_every_kind_of_import() -> None:
    """The graph is not empty-handed: known edges of each kind are found."""
    assert "provml.store.base" in GRAPH["provml.store.oxigraph"]  # module level
    assert "provml.ingest.spec" in GRAPH["provml.ingest.translation"]  # inside a function
    assert "provml.endpoint.server" in GRAPH["provml.cli.servers"]  # inside a command
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


def test_library_never_imports_the_endpoint() -> None:
    offenders = {
        name: sorted(m for m in targets if m.startswith("provml.endpoint"))
        for name, targets in GRAPH.items()
        if not name.startswith("provml.endpoint") and name not in ENDPOINT_IMPORTERS
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_cli_imports_the_endpoint_only_inside_serve() -> None:
    tree = ast.parse(MODULES["provml.cli.servers"].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            assert not any((n or "").startswith("provml.endpoint") for n in names)
    serve = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "serve_command")
    inner = [n for n in ast.walk(serve) if isinstance(n, ast.ImportFrom)]
    assert any((n.module or "").startswith("provml.endpoint") for n in inner)


def _private(name: str) -> bool:
    """``_x`` is private; ``__x__`` (``__version__``) is not."""
    return any(part.startswith("_") and not part.endswith("__") for part in name.split("."))


def test_endpoint_imports_no_private_library_module_or_name() -> None:
    bad: list[str] = []
    for name, path in MODULES.items():
        if not name.startswith("provml.endpoint"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                module = node.module
                if not module.startswith("provml") or module.startswith("provml.endpoint"):
                    continue
                if _private(module):
                    bad.append(f"{name}: {module}")
                bad += [f"{name}: {module}.{a.name}" for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Import):
                bad += [f"{name}: {a.name}" for a in node.names
                        if a.name.startswith("provml") and not a.name.startswith("provml.endpoint")
                        and _private(a.name)]
    assert bad == []


@pytest.mark.parametrize("layer", ["provml.capture", "provml.events", "provml.kinds"])
def test_bottom_layers_import_only_the_bottom_at_module_level(layer: str) -> None:
    """What a training script loads: capture and events import only stdlib and each other at
    module level (the store sink imports ingest inside the function that needs it)."""
    allowed = ("provml.capture", "provml.events", "provml.errors", "provml.closing",
               "provml.kinds", "provml._version")
    bad: list[str] = []
    for name, path in MODULES.items():
        if name != layer and not name.startswith(layer + "."):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("provml") and not module.startswith(allowed):
                bad.append(f"{name}: {module}")
    assert bad == []


#: a module longer than this says at its top why it is not split
LONG = 400


def test_every_long_module_says_why() -> None:
    unexplained = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LONG:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "Why it is long:" not in doc:
                unexplained.append(f"{name} ({text.count(chr(10))} lines)")
    assert unexplained == [], "split these or add 'Why it is long: ...' to their docstring"


#: the write calls of a pyoxigraph.Store
_RAW_WRITES = ("add", "extend", "bulk_extend", "bulk_load", "load", "update", "remove",
               "remove_graph", "clear", "clear_graph", "add_graph")


def test_only_the_store_layer_writes_through_raw() -> None:
    """Writes outside ``kg/store`` go through the store's methods, which move its
    ``generation`` (what the endpoint's query workers and caches compare before each read);
    a write through ``.raw`` would go unseen."""
    found = []
    for name, path in MODULES.items():
        if name.startswith("provml.store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _RAW_WRITES and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "raw"):
                found.append(f"{name}:{node.lineno} .raw.{node.func.attr}()")
    assert found == []
