# Two commands: `make run` starts the bot on embedded defaults, `make test` runs every check.
# Both create .venv and install the pinned dependencies first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lint typecheck unit test-packages console-assets clean

run: $(STAMP)
	$(BIN)/virtualrep serve

test: $(STAMP) test-packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n auto --dist loadfile

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "virtualrep needs Python >= 3.11 (found " + sys.version.split()[0] + ")")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# What the tests start or drive (installed with apt when missing): redis-server and a PostgreSQL
# cluster on free loopback ports, Debian's Chromium for the console, the media tools.
test-packages:
	@bash deploy/ensure-packages.sh redis postgresql chromium media

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# --- console (console/) ---------------------------------------------------------------------------
# The console's htmx, vendored from the npm registry (no CDN at run time).
HTMX_VERSION := 2.0.11
console-assets:
	cd $$(mktemp -d) && npm pack --silent htmx.org@$(HTMX_VERSION) && tar xzf htmx.org-$(HTMX_VERSION).tgz && cp package/dist/htmx.min.js $(CURDIR)/console/static/htmx.min.js
