# Kommerce: every developer and CI entry point. `make help` lists the targets.
# Two commands set up a fresh machine: `make run` (the platform) and `make test` (the suite).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
KOMMERCE := $(BIN)/kommerce
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv tools run up down status test test-unit test-integration test-cluster bench bench-admission bench-events bench-auth bench-logins bench-search bench-reservations bench-checkout bench-payments \
        lint fmt typecheck security check lock compose-config clean \
        secrets-keygen secrets-decrypt secrets-check schemas-check

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@echo "==> creating $(VENV) and installing pinned dependencies (requirements.lock)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9 \
		|| { echo "error: could not install uv into $(VENV); check access to PyPI"; exit 1; }
	$(BIN)/uv pip install --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv with the pinned dependencies

tools: venv ## Install the pinned third-party tools into the cache (idempotent)
	$(KOMMERCE) tools install

run: tools ## Start the local stack and cluster, print what runs where
	$(KOMMERCE) stack up
	$(KOMMERCE) cluster up
	$(KOMMERCE) openbao bootstrap
	@eval "$$($(KOMMERCE) stack env)" && $(KOMMERCE) secrets seed \
		|| echo "note: OpenBao KV not seeded (cannot decrypt secrets/ here?); see docs/secrets-gitops.md"
	$(KOMMERCE) operator up
	@echo
	@echo "==> the platform is running"
	@$(KOMMERCE) cluster status || true
	@echo
	@echo "Connection settings (eval \"\$$($(KOMMERCE) stack env)\" to use them):"
	@$(KOMMERCE) stack env
	@echo "export KUBECONFIG=$$($(KOMMERCE) cluster kubeconfig)"
	@echo
	@echo "Operator: metrics http://127.0.0.1:18090/metrics, log $${KOMMERCE_STATE:-$$HOME/.local/state/kommerce}/platform/logs/operator.log"
	@echo "Declare a service: kubectl apply -f <Service YAML> (see docs/reference/services.md)"
	@echo "Run a service: $(KOMMERCE) service run platform-api    Stop everything: make down"

down: venv ## Stop the operator, the cluster and the stack
	$(KOMMERCE) operator down
	$(KOMMERCE) cluster down
	$(KOMMERCE) stack down

status: venv ## Show the stack and cluster
	-$(KOMMERCE) stack status
	-$(KOMMERCE) cluster status

test: tools ## Run the whole suite (starts and stops its own stack and cluster)
	$(BIN)/pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

test-unit: venv ## Unit tests only (no servers)
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

test-integration: tools ## Integration tests against the real stack
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

test-cluster: tools ## Tests of the local control plane
	$(BIN)/pytest -m cluster $(PYTEST_ARGS)

bench: tools ## Benchmarks (not part of make test): BENCH_COUNT Services via the operator vs direct
	$(BIN)/python -m benchmarks.service_apply --count $${BENCH_COUNT:-200}

bench-admission: tools ## Benchmark: policy webhook decision latency vs querying OPA directly (1,000 each)
	$(BIN)/python -m benchmarks.admission_latency --requests $${BENCH_REQUESTS:-1000}

bench-events: tools ## Benchmark: events/s through outbox -> relay -> Kafka -> consumer + inbox vs raw aiokafka
	$(BIN)/python -m benchmarks.event_throughput --events $${BENCH_EVENTS:-5000}

bench-auth: venv ## Benchmark: access-token verify p50/p99 vs raw jwt.decode (20,000), argon2id logins/s/core
	$(BIN)/python -m benchmarks.auth_tokens --tokens $${BENCH_TOKENS:-20000}

bench-logins: tools ## Benchmark: whole POST /v1/auth/login per second (PostgreSQL, Redis) vs the argon2id check alone
	$(BIN)/python -m benchmarks.user_logins --seconds $${BENCH_SECONDS:-10} --concurrency $${BENCH_CONCURRENCY:-4}

bench-search: tools ## Benchmark: search p50/p95/p99 over 100k generated products vs the same SQL sent raw
	$(BIN)/python -m benchmarks.search --products $${BENCH_PRODUCTS:-100000} --queries $${BENCH_QUERIES:-400}

bench-reservations: tools ## Benchmark: reservations/s under contention vs the bare conditional UPDATE
	$(BIN)/python -m benchmarks.reservations --seconds $${BENCH_SECONDS:-10} --concurrency $${BENCH_CONCURRENCY:-8}

bench-checkout: tools ## Benchmark: checkouts/s through the order service (saga running) vs pgbench tpcb-like, same clients
	$(BIN)/python -m benchmarks.checkout --clients $${BENCH_CLIENTS:-8} --seconds $${BENCH_SECONDS:-20}

bench-payments: tools ## Benchmark: payment authorization p99 and webhooks/s vs direct stripe-mock calls, same clients
	$(BIN)/python -m benchmarks.payments --payments $${BENCH_PAYMENTS:-300} --webhooks $${BENCH_WEBHOOKS:-500} --clients $${BENCH_CLIENTS:-8}

lint: venv ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv ## mypy (strict)
	$(BIN)/mypy

security: venv ## bandit
	$(BIN)/bandit -q -c pyproject.toml -r kommerce services operators

check: lint typecheck security secrets-check schemas-check ## Every static check

schemas-check: venv ## Avro event schemas: every version compatible with the earlier ones
	$(KOMMERCE) schemas check

secrets-keygen: venv ## Create your age key (outside the repo) if missing; print the public key to share
	$(KOMMERCE) tools install age
	$(KOMMERCE) secrets keygen

secrets-decrypt: venv ## Decrypt secrets/*.sops.yaml to $KOMMERCE_STATE/secrets (needs your age key)
	$(KOMMERCE) tools install sops age
	$(KOMMERCE) secrets decrypt

secrets-check: venv ## Fail if anything secret would be committed in clear (no key needed)
	$(KOMMERCE) secrets check

lock: venv ## Re-resolve requirements.lock (dev) and requirements-runtime.lock (images)
	$(BIN)/uv pip compile pyproject.toml --extra clients --extra dev --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -o requirements-runtime.lock

compose-config: tools ## Validate docker-compose.yml with `docker compose config` (compose v2 from the tool cache)
	$$($(KOMMERCE) tools path docker-compose) -f docker-compose.yml config --quiet
	@echo "docker-compose.yml is valid"

clean: ## Remove the venv and caches (not the tool cache or state)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
