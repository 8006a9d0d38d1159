PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast run bench demo-data lint imports format check-java clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (AWS Glue 5.0's Python)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .  # the project itself, editable (pyproject.toml)
	touch $(STAMP)

check-java:
	@$(PY) -c "from ecommerce_join_data import require_java; require_java()"

test: venv check-java
	$(PY) -m pytest $(PYTEST_ARGS)

# unit + functional: no Spark (so no Java) and no local AWS; under 2 minutes.
test-fast: venv
	$(PY) -m pytest -m "unit or functional" $(PYTEST_ARGS)

run: venv check-java
	RESET="$(RESET)" CONSOLE_ADDRESS="$(or $(CONSOLE_ADDRESS),127.0.0.1)" bash localaws/run.sh

bench: venv check-java
	$(PY) -m bench $(BENCH_ARGS)

demo-data: venv
	$(PY) -m services.demo_data $(DEMO_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m tests.support.import_graph

# The first-party import graph: cycles, layer breaches, the largest modules.
imports: venv
	$(PY) -m tests.support.import_graph

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache out spark-warehouse bench/data bench/results demo-data
