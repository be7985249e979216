# Two commands: `make run` starts the bot on embedded defaults, `make test` runs every check.
# Both create .venv and install the pinned dependencies first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lint typecheck unit redis-server postgresql chromium media-tools console-assets clean

run: $(STAMP)
	$(BIN)/virtualrep serve

test: $(STAMP) redis-server postgresql chromium media-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "virtualrep needs Python >= 3.11 (found " + sys.version.split()[0] + ")")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The Redis leg of the test suite starts its own redis-server on a free loopback port.
redis-server:
	@bash deploy/ensure-redis-server.sh

# The PostgreSQL leg of the records suite starts its own cluster on a free loopback port.
postgresql:
	@bash deploy/ensure-postgresql.sh

# Voice and image tests: ffmpeg, espeak-ng, sox with AMR, a CJK font, OpenCV's libGL.
media-tools:
	@bash deploy/ensure-media-tools.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# --- console (console/) ---------------------------------------------------------------------------
# The console's browser tests drive Debian's Chromium (installed with apt when missing).
chromium:
	@bash deploy/ensure-chromium.sh

# The console's htmx, vendored from the npm registry (no CDN at run time).
HTMX_VERSION := 2.0.11
console-assets:
	cd $$(mktemp -d) && npm pack --silent htmx.org@$(HTMX_VERSION) && tar xzf htmx.org-$(HTMX_VERSION).tgz && cp package/dist/htmx.min.js $(CURDIR)/console/static/htmx.min.js
