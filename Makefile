# jobfleet-exporter: `make demo` to see it, `make test` to prove it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench tools lock image clean stable-metrics slo-rules

$(STAMP): pyproject.toml exporter/__init__.py  # the version lives in the latter
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: run the exporter against the built-in simulators; metrics at http://127.0.0.1:9760/metrics
demo: $(STAMP)
	$(BIN)/jobfleet-exporter --demo

## tools: install the system tools the end-to-end tests use (promtool, amtool, docker, helm)
tools:
	scripts/install-tools.sh

# pytest workers: one per CPU, and at least three, since the suite waits on servers and
# processes about a third of its time: on two cores a third worker keeps both busy
WORKERS := $(shell n=$$(nproc 2>/dev/null || echo 2); if [ "$$n" -lt 3 ]; then echo 3; else echo auto; fi)

## test: lint, then the whole suite: unit, component and process tests in parallel (one worker
## per CPU, at least three), then the end-to-end tests (real Ray, Prometheus, promtool, Docker)
## one at a time
test: $(STAMP) tools lint
	$(BIN)/python -m pytest -q -n $(WORKERS) --ignore=tests/e2e
	$(BIN)/python -m pytest -q tests/e2e

## test-fast: the unit and component tests (in-process, each under half a second), in parallel,
## for the inner loop: under a minute
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) -m "not slow and not e2e" --ignore=tests/e2e

## lint: ruff, and actionlint on the GitHub Actions workflows
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint .github/workflows/*.yml

## stable-metrics: rewrite tests/data/stable-metrics.yaml, the metrics contract, from the
## declarations in exporter/exposition/families.py (review the diff: it is an API change)
stable-metrics: $(STAMP)
	$(BIN)/python -m tests.stable_metrics --write

## slo-rules: rewrite rules/slo.example.yml, the rules of docs/slo.example.yaml's objectives
slo-rules: $(STAMP)
	$(BIN)/jobfleet-exporter --config.file docs/slo.example.yaml --slo.print-rules \
		> rules/slo.example.yml

## bench: measure scrape and poll cost (figures printed beside their baselines)
bench: $(STAMP)
	$(BIN)/python -m bench.run

## lock: re-pin the image's dependencies (requirements.lock) and build tools
## (requirements-build.lock), with hashes, from pyproject.toml and pip's configured index
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools==7.6.2
	$(PIP_COMPILE) --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --all-build-deps --only-build-deps --allow-unsafe \
		--output-file requirements-build.lock pyproject.toml

## image: build the container image (jobfleet-exporter:dev), labelled with the commit
image:
	docker build --tag jobfleet-exporter:dev \
		--build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
