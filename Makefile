# modalbench: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# the venv is (re)installed only when pyproject.toml (or the C source of the HIGGS fast path) changes
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml 2>/dev/null | cut -c1-16)
PYTEST_ARGS ?=

.PHONY: demo test style typecheck lint bench install browser clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py loaders/_decimal_rows.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(VENV)/bin/modalbench demo

# headless Chromium for the leaderboard page test (Debian package; installed when missing and we are root)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium not installed; the browser test will be skipped"; fi; }

test: $(STAMP) browser style typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff (lint + format), run by `make test`
style: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy on the package, run by `make test`; mypy reads the installed layout through a symlink tree (.typecheck/)
typecheck: $(STAMP)
	$(PY) tools/typecheck_tree.py
	$(VENV)/bin/mypy -p modalbench

# style + typecheck
lint: style typecheck

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks .typecheck
