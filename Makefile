# Quick start on a fresh machine:  make demo   (set up + audit the bundled fixtures)
#                                  make test   (set up + run the tests)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Two stamps: the package alone (what `make demo` needs) and the package with the test extras.
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: setup setup-test demo test test-simulations reports bench fixtures clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,ray]'
	touch $(STAMP) $(TEST_STAMP)

setup: $(STAMP)

setup-test: $(TEST_STAMP)

demo: setup
	$(VENV)/bin/audit-engine demo --out demo-out

test: setup-test
	$(PY) -m pytest -q

# The coverage and false-positive-rate simulations (tests marked `simulation`; tests/conftest.py
# lists them): left out of `make test` to keep the unit suite short, run by CI after it.
test-simulations: setup-test
	$(PY) -m pytest -q -m simulation

reports: setup
	$(PY) -m audit_engine.report.gallery --out reports

# Reruns every benchmark, one at a time, and rewrites its <!-- bench:NAME --> section of
# BENCHMARKS.md (hand-written text and other generated sections are kept); one of them:
# `$(PY) benchmarks/run_all.py --only lime`, the list: `--list`.
bench: setup-test
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run_all.py

# Rebuilding the committed fixtures needs torch (CPU) and skl2onnx.
fixtures: setup-test
	$(PY) -m pip install -q 'torch==2.13.0' skl2onnx
	$(PY) fixtures/build.py
	$(PY) fixtures/build_gate.py
	$(PY) fixtures/build_pathwise.py
	$(PY) fixtures/build_text.py
	$(PY) fixtures/build_data.py

clean:
	rm -rf $(VENV) demo-out test-output .pytest_cache
