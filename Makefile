# One-command set-up: `make run` starts MoodReel, `make test` passes the tests (both install on first use).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install install-test system-deps run test test-fast lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first and pinned, so pip takes the CPU wheel rather than a CUDA build.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test system-deps

# Debian packages the browser tests need (headless Chromium and its driver), and a Hangul font
# for the Korean mood card.
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
		|| [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver \
			fonts-noto-cjk >/dev/null; \
	fi

run: install
	$(VENV)/bin/moodreel serve

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Everything (unit + integration: mongod, the chat stand-ins, Chromium), with line coverage.
test: install-test lint
	$(PY) -m pytest --cov --cov-report=term:skip-covered

# The unit tests only: no mongod, no stand-ins, no browser; about a minute.
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest tests/unit -q

bench: install
	$(PY) -m bench

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
