"""The built wheel carries the runtime files, and `import provml` stays light."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["flask", "pyshacl", "owlready2", "rdflib", "torch", "sklearn", "tensorflow", "keras", "lightning",
         "jsonschema", "fastjsonschema", "yaml", "werkzeug", "granian", "rbloom"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools reuses ./build/, where files deleted since would linger
    source = tmp_path_factory.mktemp("source") / "provml"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "node_modules", "ui-assets", "__pycache__", "*.egg-info",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", "test-artifacts", "var", ".provml", "results"))
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (whl,) = out.glob("provml-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_contains_runtime_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = [
        "provml/__init__.py", "provml/py.typed", "provml/vocab.py", "provml/cli/__init__.py",
        "provml/events/schemas/events-v1.json",
        "provml/ontology/provml.ttl", "provml/ontology/catalog-v001.xml",
        "provml/ontology/imports/prov-o.ttl", "provml/ontology/imports/README.md",
        "provml/ontology/domains/oil-gas.ttl",
        "provml/shapes/provml-shapes.ttl",
        "provml/query/queries/q1.rq", "provml/query/queries/q7.rq", "provml/query/queries/lineage.rq",
        "provml/endpoint/app.py",
    ]
    missing = [n for n in expected if n not in names]
    assert not missing, f"missing from the wheel: {missing}"
    assert not any(n.startswith(("kg/", "endpoint/", "tests/")) for n in names), "folder names leaked"


@pytest.mark.slow
def test_wheel_contains_every_module(wheel: Path) -> None:
    """A subpackage left out of pyproject's package list would be missing from the wheel."""
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {"kg": "provml", "endpoint": "provml/endpoint"}
    modules = [f"{prefix}/{path.relative_to(ROOT / folder).as_posix()}"
               for folder, prefix in sources.items() for path in (ROOT / folder).rglob("*.py")
               if "node_modules" not in path.parts and "ui-assets" not in path.parts]
    assert len(modules) > 90
    missing = sorted(m for m in modules if m not in names)
    assert not missing, f"missing from the wheel (add the package to pyproject.toml): {missing}"


def test_import_provml_is_light() -> None:
    code = (
        "import sys, json, provml\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(proc.stdout) == []


def test_capture_client_is_light() -> None:
    """Creating a client and capturing a workflow to a spool loads nothing heavy either."""
    code = (
        "import sys, json, tempfile, provml\n"
        "d = tempfile.mkdtemp()\n"
        "with provml.Client(spool_dir=d, online=False) as c:\n"
        "    with c.workflow('w') as wf:\n"
        "        with wf.task('t', used=[provml.hyperparameter('lr', 0.1)]) as t:\n"
        "            t.generated(provml.evaluation('acc', 0.5))\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_public_api() -> None:
    import provml

    promised = {"__version__", "Client", "workflow_spec", "data", "learning_dataset", "model", "prediction",
                "hyperparameter", "model_hyperparameter", "evaluation", "value", "parameter", "persona",
                "implementation", "domain_ref", "dataset_characteristic", "learning_task", "feature_set"}
    missing = {name for name in promised if not hasattr(provml, name)}
    assert missing <= {"workflow_spec"}, missing
    assert set(provml.__all__) >= promised - {"workflow_spec"}


def test_heavier_names_are_lazy_attributes() -> None:
    """``provml.open_kg`` and friends work, but only load the pipeline when first touched."""
    code = (
        "import sys, json, provml\n"
        "before = 'provml.knowledge' in sys.modules\n"
        "names = sorted(n for n in ('open_kg', 'KnowledgeGraph', 'run_query') if n in dir(provml))\n"
        "kg = provml.open_kg(); kg.close()\n"
        "print(json.dumps([before, 'provml.knowledge' in sys.modules, names,\n"
        "                  provml.open_kg is __import__('provml.knowledge').knowledge.open_kg]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(proc.stdout) == [False, True, ["KnowledgeGraph", "open_kg", "run_query"], True]
    import provml

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        provml.nope  # noqa: B018
