# gridgeo — two commands: `make demo` (set up everything, build the demo, serve it) and
# `make test` (set up the same way, run the tests). Everything else here serves those two.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GG := $(BIN)/gridgeo
STAMP := $(VENV)/.installed
# numba's cache of the compiled kernels (gridgeo/warmup.py): made again when their code changes
WARM := $(VENV)/.kernels
KERNEL_SRC := $(wildcard gridgeo/locate/*.py gridgeo/tracks/*.py gridgeo/warmup.py)
export GRIDGEO_HOME ?= $(CURDIR)/.gridgeo
# Debian packages beyond PostgreSQL/PostGIS: headless Chromium for the browser tests and CJK
# fonts for maps and screenshots (Playwright drives the system Chromium; it never downloads one).
TEST_DEBS ?= chromium fonts-noto-cjk fonts-wqy-microhei poppler-utils zbar-tools
DEMO_DEBS ?= fonts-noto-cjk fonts-wqy-microhei poppler-utils
# wrk drives the bounded load test (benchmarks/load_service.py); the noticeboards' benchmark needs
# the CJK fonts and poppler of the demo
BENCH_DEBS ?= wrk $(DEMO_DEBS)

.PHONY: demo test lint format bench mutate sysdeps venv kernels db clean help

help:
	@echo "make demo   set up everything, build and partition the demo district, serve it on :8000"
	@echo "make test   set up everything and run the test suite"
	@echo "make lint   ruff check + format check;  make bench   run benchmarks/ side by side"
	@echo "make mutate mutation testing of the rule modules (MUTATE_SECONDS budget)"

sysdeps:
	@GRIDGEO_EXTRA_DEBS="$(EXTRA_DEBS)" bash scripts/system-deps.sh

demo: EXTRA_DEBS = $(DEMO_DEBS)
test: EXTRA_DEBS = $(TEST_DEBS)
bench: EXTRA_DEBS = $(BENCH_DEBS)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (first run takes a few minutes)…"
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,fast]'
	@touch $(STAMP)

venv: $(STAMP)

# Compile the kernels once here rather than in the first request, command or test.
$(WARM): $(STAMP) $(KERNEL_SRC)
	@$(BIN)/python -m gridgeo.warmup
	@touch $(WARM)

kernels: $(WARM)

db: sysdeps venv
	@$(GG) db up

demo: db kernels
	@$(GG) demo run
	@$(GG) serve --no-start-db

# Bytecode caches on even where the environment turns them off (PYTHONDONTWRITEBYTECODE): without
# them every test module is rewritten by pytest and every gridgeo module compiled again in each
# of the suite's processes (measured: collection alone 33 → 19 s of CPU).
test: db kernels
	@env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	 if [ $$rc -eq 5 ]; then echo "make test: pytest ran no tests" >&2; exit 1; fi; exit $$rc

lint: venv
	@$(BIN)/ruff check gridgeo tests benchmarks data scripts
	@$(BIN)/ruff format --check gridgeo tests benchmarks data scripts

format: venv
	@$(BIN)/ruff check --fix gridgeo tests benchmarks data scripts
	@$(BIN)/ruff format gridgeo tests benchmarks data scripts

bench: db
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,fast,bench]'
	@$(BIN)/python benchmarks/run_all.py

clean:
	-@test -x $(GG) && $(GG) db down
	rm -rf $(VENV) .gridgeo data/build

# Mutation testing of the rule modules ([tool.mutmut] in pyproject.toml), bounded in time:
# what is not reached in MUTATE_SECONDS is reported as not run, never as killed.
MUTATE_SECONDS ?= 1800
mutate: venv
	@rm -rf mutants
	@timeout $(MUTATE_SECONDS) $(BIN)/mutmut run --max-children 2 >/dev/null 2>&1; \
	 $(BIN)/mutmut export-cicd-stats >/dev/null 2>&1; $(BIN)/python scripts/mutation_score.py
