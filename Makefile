# The two commands a newcomer needs:  make local   and   make test
.PHONY: setup local test lint typecheck unit e2e bench layer synth lock lock-upgrade i18n clean

VENV := .venv/bin

setup:
	@scripts/setup.sh

local: ## set up and run the whole flow on this machine
	@scripts/setup.sh --no-browser
	$(VENV)/emrex-emc local $(ARGS)

test: setup lint typecheck ## set up and run every test (lint, types, unit, moto, CDK, browser)
	$(VENV)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

unit: setup ## every test but the browser ones (quicker while you work)
	$(VENV)/python -m pytest -n 2 --dist loadgroup --ignore=tests/e2e $(PYTEST_ARGS)

e2e: setup ## the browser tests only (headless Chromium against the local stack)
	$(VENV)/python -m pytest -n 2 --dist loadgroup tests/e2e $(PYTEST_ARGS)

lint:
	$(VENV)/ruff check functions infra tests benchmarks layers i18n
	$(VENV)/ruff format --check functions infra tests benchmarks layers i18n

typecheck:
	$(VENV)/mypy

bench: setup ## benchmarks against references measured in the same run
	$(VENV)/python -m benchmarks $(ARGS)

layer: setup
	$(VENV)/python layers/build.py

synth: setup layer
	npx cdk synth --quiet

i18n: setup ## after changing a page text: update the .po catalogs, compile them, regenerate the CLDR names (Babel)
	$(VENV)/python -m i18n.build

lock: ## update uv.lock after editing pyproject.toml (moves only the pins that must move)
	scripts/uv lock

lock-upgrade: ## every Python dependency (dev tools and the layer's too) to its newest allowed version, then test
	scripts/uv lock --upgrade
	$(MAKE) test

clean:
	rm -rf cdk.out layers/build test-artifacts .pytest_cache .mypy_cache .ruff_cache
