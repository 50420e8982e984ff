# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the project when missing; the stamp file makes reruns quick.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.void-farm-installed
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test test-slow test-farm test-all bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	# torch first (served from this machine's disk), then sam2 which builds against it.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	SAM2_BUILD_CUDA=0 $(BIN)/pip install -q --no-build-isolation sam2==1.1.0
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/void-farm demo --out demo_out

# `make test` leaves out the tests marked slow (the flow end to end on a real Ray) and farm;
# CI (.ci/run) runs `make test`, then `make test-slow`, then `make test-farm`.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The farm tier starts real services (Prefect server, two Ray nodes, PostgreSQL lineage) and
# headless Chromium (Debian's `chromium`); screenshots land in .ci/out/. CI runs it last, as
# root, in a network namespace with loopback alone (tests/farm/isolated).
test-farm: $(STAMP)
	tests/farm/isolated $(BIN)/python -m pytest -q -m farm tests/farm

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -m 'not farm'

bench: $(STAMP)
	$(BIN)/python benchmarks/shot_speed.py --frames 60
	$(BIN)/python benchmarks/classical_quality.py --frames 48 --click
	$(BIN)/python benchmarks/orchestration.py
	$(BIN)/python benchmarks/hdr_plate.py

clean:
	rm -rf demo_out .pytest_cache
