# sfn-approvals developer commands. Each target sets up what it needs on a fresh machine.
#   make sandbox   the whole approval loop offline (moto + Slack stand-in), in a browser
#   make test      the test suite
#   make lint      ruff (lint + format check) and mypy

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup sandbox test lint format clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

# `make sandbox PORT=8811` when 8800 is taken (PORT=0: any free port).
sandbox: PORT ?= 8800
sandbox: setup
	@$(PY) -m bot.local --port $(PORT)

# pytest exits 5 when it collects nothing: that is a failure here, not a pass.
test: setup
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy bot

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .serverless node_modules

# --- deployment: package the stack offline and lint its template (docs/deploy.md) ---------
# `serverless package` needs no AWS account: dummy credentials keep the SDK from looking for
# real ones (and from probing the EC2 metadata endpoint); telemetry is off. pip fetches the
# Lambda's manylinux wheels from PyPI (serverless.yml, custom.pythonRequirements).
SLS_OFFLINE_ENV := -u AWS_PROFILE -u AWS_SESSION_TOKEN \
	AWS_ACCESS_KEY_ID=offline-package AWS_SECRET_ACCESS_KEY=offline-package \
	AWS_EC2_METADATA_DISABLED=true SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off

.PHONY: package

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Writes .serverless/ (the zips and cloudformation-template-update-stack.json), then cfn-lint.
package: setup node_modules/.installed
	env $(SLS_OFFLINE_ENV) SLS_PYTHON_BIN=$(abspath $(PY)) npx --no serverless package --stage ci
	$(VENV)/bin/cfn-lint .serverless/cloudformation-template-update-stack.json
# --- end deployment -------------------------------------------------------------------------
