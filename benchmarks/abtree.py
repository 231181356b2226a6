"""The package as an older commit had it, for the A side of an A/B benchmark.

``git archive <rev>`` of the package's folders, laid out as they install (``kg`` as ``provml``,
``endpoint`` as ``provml/endpoint`` …, as ``pyproject.toml``'s ``package-dir`` says), in a folder
to put first on ``PYTHONPATH`` (ahead of the editable install)::

    with tempfile.TemporaryDirectory() as tmp:
        env["PYTHONPATH"] = str(base_tree("c61b20a", Path(tmp)))
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: each folder of the repository and where it is in the installed package
LAYOUT = {"kg": "provml", "endpoint": "provml/endpoint", "ontology": "provml/ontology",
          "shapes": "provml/shapes"}


def base_tree(rev: str, tmp: Path) -> Path:
    """The package of commit ``rev`` under ``tmp``; the folder to put on ``PYTHONPATH``."""
    archive = subprocess.run(["git", "archive", rev, *LAYOUT], cwd=ROOT, check=True,
                             capture_output=True).stdout
    base = tmp / "base"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(base / "src", filter="data")
    (base / "src" / "kg").rename(base / "provml")
    for folder, target in LAYOUT.items():
        if folder != "kg":
            (base / "src" / folder).rename(base / target)
    return base
