"""Fixtures of the web-UI tests: the fixture store (``ui_fixture``) served by the real app on a
real loopback socket (the server on a thread), and headless Debian chromium driven by Playwright
for Python — no browser download: ``executable_path=/usr/bin/chromium``.

Browser tests are marked ``browser``; they are skipped (with the reason) where chromium,
Playwright or the npm assets (``make ui-deps``) are missing. Screenshots go to
``test-artifacts/screenshots/``; page load times are printed (``-s`` or the captured output).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from ui_fixture import build_kg

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph

CHROMIUM = os.environ.get("PROVML_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
VENDOR = ROOT / "endpoint" / "static" / "vendor"


@pytest.fixture(scope="session")
def ui_kg() -> Iterator[KnowledgeGraph]:
    graph = build_kg()
    yield graph
    graph.close()


@pytest.fixture(scope="session")
def ui_app(ui_kg: KnowledgeGraph) -> Iterator[Flask]:
    app = create_app({"TOKEN": "ui-test-token", "TIMEOUT_S": 20}, kg=ui_kg)
    yield app
    app.extensions["provml.close"]()


@pytest.fixture(scope="session")
def ui_url(ui_kg: KnowledgeGraph) -> Iterator[str]:
    """The root URL of the app serving the fixture store over loopback."""
    from provml.endpoint.server import close_server, make_server

    server, app = make_server({"TOKEN": "ui-test-token", "TIMEOUT_S": 20}, host="127.0.0.1",
                              port=0, threads=4, kg=ui_kg)
    server.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    close_server(server, app)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM} (make ui-deps installs Debian chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")
    if not (VENDOR / "yasgui" / "yasgui.min.js").is_file():
        pytest.skip("the UI's npm assets are not installed: run make ui-deps")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    """A browser page on the app, recording requests that left loopback and console errors."""

    page: Any
    base: str
    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> dict[str, float]:
        """Go to ``path``, wait for the load event, print and return the navigation timing (ms)."""
        self.page.goto(self.base + path, wait_until="load")
        return self.timing(path)

    def timing(self, label: str) -> dict[str, float]:
        t = self.page.evaluate(
            """() => { const n = performance.getEntriesByType('navigation')[0];
                       return {ttfb: n.responseStart - n.startTime,
                               dom: n.domContentLoadedEventEnd - n.startTime,
                               load: n.loadEventEnd - n.startTime}; }""")
        print(f"page load {label}: ttfb {t['ttfb']:.0f} ms, DOMContentLoaded {t['dom']:.0f} ms, "
              f"load {t['load']:.0f} ms")
        return dict(t)

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _visit(browser: Any, ui_url: str, *, javascript: bool) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  java_script_enabled=javascript)
    page = context.new_page()
    visit = Visit(page, ui_url)

    def route(r: Any) -> None:
        if r.request.url.startswith(ui_url) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            visit.external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: visit.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.errors.append(str(e)))
    yield visit
    context.close()
    assert visit.external == [], f"the UI tried to reach outside the app: {visit.external}"


@pytest.fixture
def visit(browser: Any, ui_url: str) -> Iterator[Visit]:
    """A fresh browser page (JavaScript on); fails the test if anything outside the app was
    requested (assets must be local)."""
    yield from _visit(browser, ui_url, javascript=True)


@pytest.fixture
def visit_nojs(browser: Any, ui_url: str) -> Iterator[Visit]:
    """A fresh browser page with JavaScript off."""
    yield from _visit(browser, ui_url, javascript=False)
