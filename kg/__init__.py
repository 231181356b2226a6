"""provml: workflow provenance for scientific machine learning, as a PROV-ML knowledge graph.

The front door. Importing it stays light: no Flask, pyshacl, owlready2 or ML framework.
"""

from __future__ import annotations

from provml._version import __version__

__all__ = ["__version__"]
