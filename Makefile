# Two commands on a fresh machine: `make site` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
# git-annex (from its PyPI wheel) and openem live in the venv; datalad finds them on PATH.
export PATH := $(BIN):$(PATH)

NPM ?= npm
# npm packages (package.json): Mol* (molstar), whose prebuilt viewer `openem build` copies into the site, and
# axe-core for the browser tests' accessibility checks.
NPM_STAMP := node_modules/.openem-npm-stamp

.PHONY: examples site serve test validate lint clean npm

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

npm: $(NPM_STAMP)  ## the npm packages (Mol*, axe-core), from package-lock.json; without npm the site has no 3D viewer
$(NPM_STAMP): package.json package-lock.json
	@if command -v $(NPM) >/dev/null 2>&1; then \
		$(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the site is built without the 3D map viewer (Mol*); install Node.js and npm to add it"; fi

examples: $(STAMP)  ## the example entries' DataLad datasets, published into the store (store/)
	$(BIN)/python examples/build.py

site: examples npm  ## validate and build the example catalogue, its store included, into site/ (for SITE_URL if given)
	$(BIN)/openem build $(if $(SITE_URL),--site-url $(SITE_URL))

serve: examples npm  ## live preview on http://127.0.0.1:8000 (rebuilds only what an edit changed), store included
	$(BIN)/mkdocs serve --dirty

validate: $(STAMP)
	$(BIN)/openem validate

test: $(STAMP) npm  ## the whole test suite, browser tests included
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check openem_build tests benchmarks

clean:
	rm -rf site store .venv .pytest_cache node_modules
