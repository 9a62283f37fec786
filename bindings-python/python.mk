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

## bench: our wheel built in release into its own venv (the test venv keeps the debug build), and
## the published wheel from PyPI into another, for bench/driver.py and bench/published/driver.py.
PY_BENCH_VENV := target/python-bench-venv
PY_PUBLISHED_VENV := target/python-bench-published-venv
# pyarrow for --format taxi-arrow (the pyarrow Tables the driver passes): the test virtualenv's pin.
PY_BENCH_PYARROW := $(shell grep -m1 '^pyarrow==' $(PY_DIR)/requirements-dev.txt)

.PHONY: python-bench-build python-bench-published

# The old wheel goes first: the install below takes the one wheel in target/wheels-release.
python-bench-build: $(PY_VENV)/.installed
	rm -f target/wheels-release/zerobus_ingest-*.whl
	cd $(PY_DIR) && PATH="$(abspath $(PY_VENV))/bin:$$PATH" maturin build --release -q -o ../target/wheels-release
	test -x $(PY_BENCH_VENV)/bin/python || $(PYTHON) -m venv $(PY_BENCH_VENV)
	$(PY_BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps --force-reinstall \
		target/wheels-release/zerobus_ingest-*-abi3-*.whl
	$(PY_BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check "$(PY_BENCH_PYARROW)"

# requirements.txt pins the published SDK with its [arrow] extra and the pyarrow that allows.
$(PY_PUBLISHED_VENV)/.installed: $(PY_DIR)/bench/published/requirements.txt
	$(PYTHON) -m venv $(PY_PUBLISHED_VENV)
	$(PY_PUBLISHED_VENV)/bin/python -m pip install -q --disable-pip-version-check -r $<
	@touch $@

python-bench-published: $(PY_PUBLISHED_VENV)/.installed

BENCH_ARGS += --surface "python=$(PY_BENCH_VENV)/bin/python $(PY_DIR)/bench/driver.py"
BENCH_ARGS += --surface "published-python=$(PY_PUBLISHED_VENV)/bin/python $(PY_DIR)/bench/published/driver.py"
BENCH_PREREQS += python-bench-build python-bench-published
