# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv in the repository root if it is missing and installs
# what it needs; the stamp files re-run the install when setup.py changes.
# The demo installs the library alone; the tests add their extras (PyTorch,
# transformers, JAX), which the demo does not need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 2
export KERAS_BACKEND ?= tensorflow

.PHONY: demo test install clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[test]"
	touch $(TEST_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m demo --output_dir demo_output

test: $(TEST_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf demo_output .pytest_cache
