# provml: the two set-up commands are `make demo` and `make test`; both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.provml-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint venv system-deps ui-deps clean test-fast

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# re-install when the project's metadata changes
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q "torch==2.13.0" || $(PIP) install -q torch
	$(PIP) install -q -e ".[dev,ml,examples]"
	touch $(STAMP)

venv: $(STAMP) system-deps ui-deps

# system packages the tests and the demo need, installed only when missing
system-deps:
	@command -v java >/dev/null 2>&1 || { echo "installing a Java runtime for the HermiT reasoner"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || { echo "installing redis-server for the broker tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@command -v virtuoso-t >/dev/null 2>&1 || { echo "installing Virtuoso Open Source 7 for the remote-store tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq virtuoso-opensource >/dev/null; }
	@{ ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so'; } || { echo "installing libseccomp for the endpoint's offline threads"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp2 >/dev/null; }
	@{ test -f /usr/share/java/owlapi-distribution.jar && command -v javac >/dev/null 2>&1; } || { \
	  echo "installing the OWL API and a JDK for the ontology check (tests/owlapi)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libowlapi-java default-jdk-headless >/dev/null; }

# the web UI's browser libraries (npm, pinned by package-lock.json) copied into the served static
# folder, and Debian chromium for the browser tests; each only when missing (docs/ui.md)
UI_ASSETS := endpoint/ui-assets
VENDOR := endpoint/static/vendor
$(VENDOR)/.installed: $(UI_ASSETS)/package.json $(UI_ASSETS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "installing Node.js and npm for the web UI's assets"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(UI_ASSETS) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	mkdir -p $(VENDOR)/yasgui $(VENDOR)/cytoscape
	cp $(UI_ASSETS)/node_modules/@zazuko/yasgui/build/yasgui.min.js $(UI_ASSETS)/node_modules/@zazuko/yasgui/build/yasgui.min.css $(VENDOR)/yasgui/
	cp $(UI_ASSETS)/node_modules/@zazuko/yasgui/package.json $(VENDOR)/yasgui/package.json  # its licence: MIT (no LICENSE file shipped)
	cp $(UI_ASSETS)/node_modules/cytoscape/dist/cytoscape.min.js $(UI_ASSETS)/node_modules/cytoscape/LICENSE $(VENDOR)/cytoscape/
	touch $@

ui-deps: $(VENDOR)/.installed
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# the FORCE 2020 case end to end, then `provml serve` on 127.0.0.1 (Ctrl-C stops); the store is kept
# in .provml/demo/ and reused: FRESH=1 starts afresh, QUICK=1 runs the small configuration
demo: venv
	$(PY) -m examples.force2020 $(if $(FRESH),--fresh) $(if $(QUICK),--quick) $(DEMO_ARGS)

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow and not browser"

lint: venv
	$(VENV)/bin/ruff check kg endpoint ontology shapes tests benchmarks
	$(PIP) install -q -e . --config-settings editable_mode=strict
	$(VENV)/bin/mypy
	$(PIP) install -q -e ".[dev]"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
