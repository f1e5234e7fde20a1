# Set-up and everyday commands. A fresh machine needs only Python 3.11 and pip.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME := $(CURDIR)/.followup-demo
export DAGSTER_DISABLE_TELEMETRY := true
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: demo test test-durations test-fast dashboard benchmark benchmark-reading benchmark-hostile lock clean

# The virtual environment, installed exactly from the lock file, then the project itself. pip's
# own bytecode compilation runs on one core; compileall afterwards uses every core (BENCHMARKS.md).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (found %d.%d)" % sys.version_info[:2])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null || true   # as pip, never fail on a file that does not compile
	cd dbt && ../$(BIN)/dbt parse --quiet --project-dir "$(CURDIR)/dbt" --profiles-dir .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/followup demo --home $(DEMO_HOME)

# Three workers (pytest-xdist) for two cores: many tests wait on a process they started (the
# webserver, the daemon, PostgreSQL, LibreOffice, Chromium, a killed run), and a third worker uses
# the core they leave idle. Each test file runs on one worker, the files of the demo run together
# (conftest.py).
TEST_WORKERS ?= 3

# The suite starts a few hundred Python processes (workers, runs, the reader's children, Dagster's
# servers): each would compile the project's own modules again, and each worker pytest's rewritten
# test modules, where Python is told not to keep bytecode (PYTHONDONTWRITEBYTECODE, set on some
# machines and CI images). The suite keeps it, in the checkout's __pycache__ folders (git ignores
# them): a worker's collection ~14 -> ~7 s of CPU (BENCHMARKS.md, session 16).
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest

test: $(STAMP)
	$(PYTEST) -q -n $(TEST_WORKERS) --dist loadfile

# Record how long each test file (or group of files sharing a run) takes, in tests/durations.json:
# the longest are handed to the workers first (tests/conftest.py). Worth redoing when files change.
test-durations: $(STAMP)
	FOLLOWUP_RECORD_TEST_DURATIONS=1 $(PYTEST) -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(PYTEST) -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

# The coordinators' dashboards on the demo's data home: Dagster's webserver and daemon, as on a
# server (followup serve), on http://127.0.0.1:3000 until Ctrl-C.
dashboard: $(STAMP)
	$(BIN)/followup serve --home $(DEMO_HOME)

# Timings of the three benchmark cases against the DuckDB floor (BENCHMARKS.md); data in /tmp.
benchmark: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCHMARK_ARGS)

# The costliest files within every reading limit, timed (BENCHMARKS.md, "Reading limits").
benchmark-reading: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider benchmarks/test_reading_limits.py

# The hostile inbox at the default reading limits and the sizes testers used, under its memory
# cap (BENCHMARKS.md, "Hostile inbox"); `make test` runs it at a tenth of the row limit.
benchmark-hostile: $(STAMP)
	FOLLOWUP_HOSTILE_AT_SCALE=1 $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/end_to_end/test_hostile_inbox.py

# Re-pin every dependency after changing pyproject.toml (needs the registry).
lock:
	rm -rf /tmp/followup-lock && $(PYTHON) -m venv /tmp/followup-lock
	/tmp/followup-lock/bin/pip install --quiet ".[test]"
	/tmp/followup-lock/bin/pip freeze --exclude-editable | grep -v '^followup' > requirements.lock

clean:
	rm -rf $(VENV) dbt/target dbt/logs
