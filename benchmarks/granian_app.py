"""The provml app for ``granian`` (a Rust HTTP server running WSGI apps), for
``benchmarks/endpoint.py`` only: ``granian --interface wsgi --factory granian_app:app`` with the
app's config as JSON in ``PROVML_BENCH_CONFIG``. Not a supported way to serve provml (see
docs/benchmarks.md: granian runs the app in a worker process of its own, with its own signal
handling and connection limits, outside what ``provml serve`` and its tests guarantee).
"""

from __future__ import annotations

import json
import os

from flask import Flask

from provml.endpoint.app import create_app


def app() -> Flask:
    """The app, built in granian's worker process."""
    return create_app(json.loads(os.environ["PROVML_BENCH_CONFIG"]))
