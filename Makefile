# microcred — the two commands of the quick start are `make up` and `make test`.
# Each bootstraps what it needs, idempotently: uv (pinned, in .cache/), the Python environment
# (from the committed uv.lock), and Apache Kafka's jars (from Maven Central, via deploy/kafka/pom.xml).

SHELL := /bin/bash
UV_VERSION := 0.13.8
BOOTSTRAP := .cache/bootstrap
UV := $(BOOTSTRAP)/bin/uv
VENV := .venv
MICROCRED := $(VENV)/bin/microcred
# Python comes from the machine (3.11); uv must not try to download one.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11

PACKAGES := microcred_shared microcred_intake microcred_review microcred_accounting \
	microcred_issuer microcred_notifier rule_based_reviewer

.PHONY: up down status test lint format demo install clean help bench chaos chromium vc-verifier

help:
	@echo "make up      run the platform on the embedded stack (Kafka, SecantusDB, SeaweedFS, SMTP sink)"
	@echo "make test    run the whole test suite on real servers"
	@echo "make lint    ruff, mypy and pip-audit"
	@echo "make demo    walk one learner through the running platform (writes demo-output/)"
	@echo "make down    stop everything 'make up' started in the background"
	@echo "make chaos   kill and restart every component while evidence flows; prints what was lost or duplicated"
	@echo "make bench   benchmarks (bench/README.md): intake's memory during a 50 MiB upload, a 10,000-decision ledger run, signing and verifying rates, the end-to-end pipeline, one vs two instances per service"

$(UV):
	@python3 -m venv $(BOOTSTRAP)
	@$(BOOTSTRAP)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml shared/pyproject.toml $(wildcard services/*/pyproject.toml) $(wildcard examples/*/pyproject.toml)
	@$(UV) sync --frozen --all-packages --quiet
	@touch $@

.cache/kafka/libs/.pom-sha256: deploy/kafka/pom.xml | $(VENV)/.synced
	@$(MICROCRED) infra fetch

install: $(VENV)/.synced .cache/kafka/libs/.pom-sha256

# The browser tests: Debian's Chromium (never a browser Playwright downloads) and axe-core.
AXE_CORE_VERSION := 4.14.1
AXE_CORE := .cache/node/.axe-core-$(AXE_CORE_VERSION)

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

$(AXE_CORE):
	@npm install --prefix .cache/node --save-exact --no-audit --no-fund --loglevel=error axe-core@$(AXE_CORE_VERSION)
	@touch $@

# The issuer's tests verify its credentials with verifiers someone else wrote (Digital Bazaar's
# VC library for Data Integrity proofs, jose for VC-JWTs): npm packages pinned by the committed
# package.json and package-lock.json, installed with `npm ci` into their own prefix.
VC_VERIFIER_SRC := services/issuer/tests/thirdparty
VC_VERIFIER := .cache/node/vc-verifier
VC_VERIFIER_STAMP := $(VC_VERIFIER)/.installed

$(VC_VERIFIER_STAMP): $(VC_VERIFIER_SRC)/package.json $(VC_VERIFIER_SRC)/package-lock.json
	@mkdir -p $(VC_VERIFIER)
	@cp $(VC_VERIFIER_SRC)/package.json $(VC_VERIFIER_SRC)/package-lock.json $(VC_VERIFIER)/
	@npm ci --prefix $(VC_VERIFIER) --no-audit --no-fund --loglevel=error
	@touch $@

vc-verifier: $(VC_VERIFIER_STAMP)

up: install
	@$(MICROCRED) up

down: install
	@$(MICROCRED) down

status: install
	@$(MICROCRED) status

demo: install
	@$(MICROCRED) demo --out demo-output

test: install chromium $(AXE_CORE) $(VC_VERIFIER_STAMP)
	@$(VENV)/bin/pytest

bench: install
	@$(VENV)/bin/python bench/upload_memory.py
	@$(VENV)/bin/python bench/ledger_run.py
	@$(VENV)/bin/python bench/signing.py
	@$(VENV)/bin/python bench/pipeline.py --learners 100 --issuance 300
	@$(VENV)/bin/python bench/scaling.py

# Fault injection (microcred_shared.testing.chaos): ten learners per fault, every fault in turn;
# the test suite runs the same with three (tests/chaos). Exits non-zero on anything lost or
# duplicated, or a fault that did not recover.
chaos: install
	@$(VENV)/bin/python -m microcred_shared.testing.chaos --output bench/results/chaos.json

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy $(addprefix -p ,$(PACKAGES))
	@for tests in shared/tests services/*/tests examples/*/tests tests bench; do $(VENV)/bin/mypy $$tests || exit 1; done
	@# Known vulnerabilities (PyPI's advisories) in the locked environment; what could not be
	@# checked is said, and fails with MICROCRED_AUDIT_REQUIRED=1 (microcred_shared.testing.audit).
	@$(VENV)/bin/python -m microcred_shared.testing.audit

format: install
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .cache .data demo-output .pytest_cache .mypy_cache .ruff_cache
