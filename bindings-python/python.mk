# Python binding (bindings-python/): a make fragment the root Makefile includes. Paths are
# relative to the repository root. Standalone: make -f bindings-python/python.mk python-test
#
#   python-venv   a virtualenv under the build tree (target/python-venv) with the tools of
#                 requirements-dev.txt, from PyPI; nothing is installed outside it
#   python-build  `pip install ./bindings-python` into it (maturin builds the abi3 extension;
#                 the dev profile, sharing the workspace's target directory)
#   python-test   pytest against `zerobus serve`, stubtest, mypy --strict on the examples, and
#                 the dlt example on 100,000 rows

PY_DIR := bindings-python
PY_VENV := target/python-venv
PY := $(PY_VENV)/bin/python
PYTHON ?= python3

.PHONY: python-venv python-build python-test python-typecheck python-dlt

$(PY_VENV)/.installed: $(PY_DIR)/requirements-dev.txt
	$(PYTHON) -m venv $(PY_VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r $(PY_DIR)/requirements-dev.txt
	@touch $@

python-venv: $(PY_VENV)/.installed

# --no-build-isolation: the venv's maturin builds it (found on PATH), so nothing is fetched again
# per build.
python-build: $(PY_VENV)/.installed
	PATH="$(abspath $(PY_VENV))/bin:$$PATH" MATURIN_PEP517_ARGS="--profile dev" $(PY) -m pip install -q --disable-pip-version-check \
		--no-deps --no-build-isolation --force-reinstall ./$(PY_DIR)

python-test: python-build python-typecheck python-dlt
	cargo build -p zerobus-cli
	$(PY) -m pytest -q $(PY_DIR)/tests

python-typecheck: python-build
	$(PY) -m mypy.stubtest zerobus
	$(PY) -m mypy --strict $(PY_DIR)/examples

python-dlt: python-build
	cargo build -p zerobus-cli
	$(PY) $(PY_DIR)/examples/dlt_pipeline.py --rows 100000 --check

CONFORMANCE_ARGS += --testee "python=$(PY) conformance/testees/python/testee.py"
CONFORMANCE_PREREQS += python-build
TEST_PREREQS += python-test
