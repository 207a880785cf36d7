PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint bench clean

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,plot]'
	touch $(STAMP)

# pytest-xdist: one worker per core of the CI box (2); PYTEST_WORKERS=0 runs in one process.
# worksteal: a worker that runs out of tests takes pending ones from the other, so the few
# long end-to-end tests do not leave one core idle at the end.
PYTEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal

# mypy --strict on the pure core (policy, config, the shared value types and the wording);
# the rest is type-checked without strict (boto3 has no type stubs here).
STRICT := dynamic_dynamodb/policy dynamic_dynamodb/config dynamic_dynamodb/dimensions.py \
	dynamic_dynamodb/windows.py dynamic_dynamodb/notify.py

lint: $(STAMP)
	$(VENV)/bin/ruff check dynamic_dynamodb tests bench demo
	$(VENV)/bin/mypy --strict $(STRICT)
	$(VENV)/bin/mypy dynamic_dynamodb

demo: $(STAMP)
	$(PY) demo/run_demo.py

bench: $(STAMP)
	$(PY) bench/api_calls.py
	$(PY) bench/decision_quality.py
	$(PY) bench/simulate_speed.py
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) build *.egg-info backtest-report

# Install the package and the dynamic-dynamodb command into $(PYTHON)'s environment (2.5.1's
# `make install`); for a virtualenv, activate it first or pass PYTHON=/path/to/venv/bin/python.
.PHONY: install
install:
	$(PYTHON) -m pip install .
