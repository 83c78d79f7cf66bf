# sfn-approvals developer commands. Each target sets up what it needs on a fresh machine.
#   make sandbox   the whole approval loop offline (moto + Slack stand-in), in a browser
#   make test      the test suite
#   make lint      ruff (lint + format check) and mypy

# Python 3.13, the Lambda runtime's (serverless.yml): the venv, the tests and the packaged
# bytecode all use it. PYTHON=/path/to/python3.13 overrides the search, which tries
# `python3.13` on PATH (a pyenv shim runs only where that version is selected), then pyenv's
# installed 3.13.x, then the system's.
PYTHON_VERSION := 3.13
comma  := ,
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python$(PYTHON_VERSION) \
	$${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION) \
	/usr/local/bin/python$(PYTHON_VERSION) /usr/bin/python$(PYTHON_VERSION); do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma) ,$(PYTHON_VERSION))))' \
	2>/dev/null && { command -v "$$p"; break; }; done)
endif
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=
# `make test` runs the suite in parallel (pytest-xdist), three workers, a test file per worker
# at a time: a file's module fixtures (the sandbox, Chromium, the deploy builds) are set up once.
# Three, not one per core: much of the suite waits (SQS visibility timeouts, Slack rate limits,
# npm and pip), so on the 2-core machine a third worker fills the gaps (measured 2026-12-06 at
# load < 1 before each run: 3 min 26 s with 2 workers, 2 min 22 s and 2 min 29 s with 3). Files go out in collection
# order (the long end-to-end ones first). PYTEST_XDIST="-n 0" runs it in one process.
PYTEST_XDIST ?= -n 3 --dist loadfile --no-loadscope-reorder

.PHONY: setup sandbox test mutants lint format clean

# The stamp names the version: a venv of another Python is rebuilt (--clear), not reused.
$(VENV)/.installed-$(PYTHON_VERSION): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "make: no Python $(PYTHON_VERSION) found (python$(PYTHON_VERSION) on PATH, pyenv, /usr/bin): install it or pass PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; exit 1; }
	@"$(PYTHON)" -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v == "$(PYTHON_VERSION)" else "make: PYTHON=$(PYTHON) is Python " + v + "; this project runs on Python $(PYTHON_VERSION) (the Lambda runtime)")'
	"$(PYTHON)" -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed-$(PYTHON_VERSION)

# `make sandbox PORT=8811` when 8800 is taken (PORT=0: any free port).
sandbox: PORT ?= 8800
sandbox: setup
	@$(PY) -m bot.local --port $(PORT)

# pytest exits 5 when it collects nothing: that is a failure here, not a pass.
# The wall time of the run is printed last.
test: setup
	@start=$$(date +%s); $(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS); rc=$$?; \
	took=$$(( $$(date +%s) - start )); \
	echo "make test: $$((took / 60)) min $$((took % 60)) s (pytest exit $$rc)"; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Mutation check: the fast subset of benchmarks.mutants (each mutant of a safety condition must
# be killed by a test; a survivor or a stale mutation fails). The full run: python -m benchmarks.mutants
mutants: setup
	$(PY) -m benchmarks.mutants --fast

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

.PHONY: package checkov

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Writes .serverless/ (the zips and cloudformation-template-update-stack.json), then cfn-lint.
# The venv's Python 3.13 compiles the bytecode (infra/serverless/bytecode.js); without a
# Python 3.13, docs/deploy.md has the slower fallback (SLS_BYTECODE=off).
TEMPLATE := .serverless/cloudformation-template-update-stack.json
package: setup node_modules/.installed
	env $(SLS_OFFLINE_ENV) SLS_PYTHON_BIN=$(abspath $(PY)) npx --no serverless package --stage ci
	$(VENV)/bin/cfn-lint $(TEMPLATE)

# checkov on the packaged template, against .checkov.baseline (the accepted findings, each
# with its reason): any other finding fails. Its own venv (inside .venv, so git, ruff and
# `make clean` treat it as the project's), as checkov pins its own versions of boto3 & co.
# --skip-download and BC_SKIP_MAPPING: no call to Prisma Cloud (offline).
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := $(VENV)/checkov
$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION): $(VENV)/.installed-$(PYTHON_VERSION)
	$(PY) -m venv --clear $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

checkov: $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	@test -f $(TEMPLATE) || { echo "make checkov: no $(TEMPLATE); run make package first" >&2; exit 1; }
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download \
		--compact --baseline .checkov.baseline -f $(TEMPLATE)
	@echo "checkov: no finding beyond .checkov.baseline"
# --- end deployment -------------------------------------------------------------------------
