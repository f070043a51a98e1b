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
export KERAS_BACKEND ?= tensorflow

.PHONY: demo test install clean

# pip's own output goes to $(INSTALL_LOG) and is shown only when the install fails.
INSTALL_LOG := $(VENV)/install.log
PIP_INSTALL = $(PY) -m pip install -q

# setup.py reads the console scripts from keras_albert_cli.py.
$(STAMP): setup.py keras_albert_cli.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))' || \
	  { echo "$(VENV) runs Python $$($(PY) -c 'import platform; print(platform.python_version())'); keras-albert needs 3.11 or 3.12." \
	    "Remove it and run again with one of those, e.g.: rm -rf $(VENV) && make $(MAKECMDGOALS) PYTHON=python3.11"; exit 1; }
	@echo "Installing keras-albert into $(VENV) (pip's log: $(INSTALL_LOG))"
	@($(PIP_INSTALL) --upgrade pip && $(PIP_INSTALL) -e .) > $(INSTALL_LOG) 2>&1 || (cat $(INSTALL_LOG); exit 1)
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	@echo "Installing the test extras (pip's log: $(INSTALL_LOG))"
	@$(PIP_INSTALL) -e ".[test]" >> $(INSTALL_LOG) 2>&1 || (cat $(INSTALL_LOG); exit 1)
	@touch $(TEST_STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(PY) -m demo --output_dir demo_output

# A pytest that dies (a native crash) names the test it was running.
RUNNING_TEST := $(VENV)/running-test
test: $(TEST_STAMP)
	@rm -f $(RUNNING_TEST)
	KERAS_ALBERT_RUNNING_TEST_FILE=$(abspath $(RUNNING_TEST)) $(PY) -m pytest -q -p no:cacheprovider tests \
	  || { status=$$?; test -s $(RUNNING_TEST) && echo "pytest died (exit $$status) while running $$(cat $(RUNNING_TEST))"; exit $$status; }

clean:
	rm -rf demo_output .pytest_cache
