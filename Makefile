# Grievance Hub: `make run` serves the embedded default; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint format bench lock sdl clean fuzz audit

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/hub demo

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

CPGRAMS_DIR ?= ../shared/data/cpgrams
# the lifecycle benches: seeded once (dropped and re-created), then read and escalated
BENCH_GRIEVANCES ?= 1000000
BENCH_LIFECYCLE_URL ?= postgres://postgres@127.0.0.1:5432/hub_bench_lifecycle

bench: setup
	$(BIN)/hub bench filing
	if [ -d "$(CPGRAMS_DIR)" ]; then $(BIN)/hub bench routing --taxonomy-dir "$(CPGRAMS_DIR)" --train "$(CPGRAMS_DIR)/grievances_dev.csv" --eval "$(CPGRAMS_DIR)/grievances_dev.csv"; else echo "routing bench skipped: no $(CPGRAMS_DIR)"; fi
	$(BIN)/hub bench seed --recreate --grievances $(BENCH_GRIEVANCES) --database-url $(BENCH_LIFECYCLE_URL)
	status=0; \
	$(BIN)/hub bench lifecycle --database-url $(BENCH_LIFECYCLE_URL) || status=$$?; \
	$(BIN)/hub bench escalation --due $(BENCH_GRIEVANCES) --database-url $(BENCH_LIFECYCLE_URL) || status=$$?; \
	exit $$status

# Generated GraphQL operations (hypothesis-graphql, from the committed SDL) against hub serve
# in production mode on loopback; `make test` sends 150 of them, derandomized. Here a fresh
# seed each run (printed; HUB_FUZZ_SEED=N replays it).
FUZZ_EXAMPLES ?= 1200
FUZZ_SEED ?= random

fuzz: setup
	HUB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) HUB_FUZZ_SEED=$(FUZZ_SEED) $(BIN)/pytest tests/test_fuzz.py

# An outside GraphQL audit tool (Clairvoyance, in its own venv so that its pinned
# dependencies never meet the project's) against hub serve in production mode on loopback;
# fails when it finds anything. Why this tool: tests/fuzzing/audit.py.
AUDIT_VENV := .venv-audit
AUDIT_TOOL := clairvoyance==2.5.5

$(AUDIT_VENV)/.installed:
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet "$(AUDIT_TOOL)"
	touch $@

audit: setup $(AUDIT_VENV)/.installed
	$(BIN)/python -m tests.fuzzing.audit --tool-venv $(AUDIT_VENV)

# Rewrite schema/schema.graphql from the code (a test fails when they drift).
sdl: setup
	$(BIN)/python -c "from schema import SDL_PATH, sdl; SDL_PATH.write_text(sdl())"

# Re-pin every dependency: a fresh venv, the newest allowed versions, frozen.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) var build *.egg-info
