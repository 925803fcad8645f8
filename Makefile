# obsagent's one entry point. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
PYTHON := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)
# The wheel `make wheel` ships: glibc 2.17 is the oldest Rust supports, and zig (ziglang from PyPI) links against it here.
WHEEL_FLAGS := --release --zig --compatibility manylinux2014 --strip

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q -U pip
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	touch $@

.PHONY: setup
setup: $(VENV)/.installed ## Create .venv with the build, test and lint tools
	@command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }

.PHONY: peers
peers: ## Install the real Prometheus peers the tests run against (Debian packages)
	bash scripts/install-peers.sh

.PHONY: build
build: setup ## Build the extension (debug) into .venv
	maturin develop -q

.PHONY: build-release
build-release: setup ## Build the extension (release, LTO) into .venv
	maturin develop -q --release

.PHONY: run
run: build-release ## Set up, build and run the daemon on :9100
	obsagent run --web.listen-address :9100

.PHONY: test
test: build-release peers wheel test-rust test-python test-client-suite ## Set up everything and run every test (the extension built as shipped: the load test measures it; the wheel, installed by tests/test_wheel.py; prometheus_client's own suite)

.PHONY: test-rust
test-rust: ## Rust tests of the core, without Python
	cargo test --no-default-features

.PHONY: test-python
test-python: ## Python tests (needs `make build`; `make wheel` for tests/test_wheel.py)
	$(PYTHON) -m pytest -q

.PHONY: wheel
wheel: setup ## Build the release wheel into dist/: abi3 (CPython >= 3.10), manylinux2014 x86_64 (linked by zig), stripped
	rm -f dist/obsagent-*.whl
	maturin build -q $(WHEEL_FLAGS) --out dist
	auditwheel show dist/obsagent-*.whl
	@ls -l dist/obsagent-*.whl

.PHONY: sdist
sdist: setup ## Build the source distribution into dist/
	rm -f dist/obsagent-*.tar.gz
	maturin sdist --out dist

# prometheus_client's own tests (its sdist's tests/, less test_multiprocess.py, which drives its
# mmap internals) run against obsagent: tests/client_suite/obsagent_suite.py resolves every
# prometheus_client import to obsagent; tests/client_suite/expected_failures.txt lists what still
# fails. The sdist is downloaded once into build/ (a warm run needs no network).
CLIENT_VERSION := 0.26.0
CLIENT_SUITE := build/client-suite
CLIENT_SDIST := $(CLIENT_SUITE)/prometheus_client-$(CLIENT_VERSION).tar.gz

$(CLIENT_SDIST): | $(VENV)/.installed
	mkdir -p $(CLIENT_SUITE)
	$(PYTHON) -m pip download -q --no-deps --no-binary :all: prometheus-client==$(CLIENT_VERSION) -d $(CLIENT_SUITE)

$(CLIENT_SUITE)/tests/.extracted: $(CLIENT_SDIST)
	rm -rf $(CLIENT_SUITE)/tests
	tar -xzf $< -C $(CLIENT_SUITE) --strip-components=1 prometheus_client-$(CLIENT_VERSION)/tests
	touch $@

.PHONY: test-client-suite
test-client-suite: $(CLIENT_SUITE)/tests/.extracted ## prometheus_client's own test suite against obsagent (needs `make build`)
	PYTHONPATH=tests/client_suite timeout 900 $(PYTHON) -m pytest -q -c tests/client_suite/pytest.ini \
		--rootdir $(CLIENT_SUITE)/tests $(CLIENT_SUITE)/tests --ignore=$(CLIENT_SUITE)/tests/test_multiprocess.py

.PHONY: golden-update
golden-update: build ## Rewrite tests/golden from the current encoders (review the diff!)
	OBSAGENT_GOLDEN_UPDATE=1 cargo test --no-default-features --test encode_golden
	OBSAGENT_GOLDEN_UPDATE=1 $(PYTHON) -m pytest -q tests/test_exposition.py tests/test_node.py -k golden

.PHONY: bench
bench: build-release peers ## obsagent beside prometheus_client (single and multiprocess, and its text parsers), node_exporter, nvidia-ml-py and two FastAPI instrumentations, same run, as ratios
	$(PYTHON) benches/python/bench_clients.py
	$(PYTHON) benches/python/bench_node.py
	$(PYTHON) benches/python/bench_gpu.py
	$(PYTHON) benches/python/bench_middleware.py
	$(PYTHON) benches/python/bench_multiprocess.py
	cargo bench --no-default-features --bench encode -- --quick
	$(PYTHON) benches/python/bench_remote_write.py
	$(PYTHON) benches/python/bench_parse.py

.PHONY: test-outage
test-outage: build-release peers ## Remote write's 30 s receiver outage with the daemon and a Python writer SIGKILLed twice (make test runs it with 8 s)
	OBSAGENT_OUTAGE_SECONDS=30 $(PYTHON) -m pytest -q -s tests/test_remote_write_disk.py -k killed

.PHONY: fuzz
fuzz: build ## Property tests with many cases: textfile and web-config parsers, HTTP requests, query decoding, expositions read back by prometheus_client, the text parsers against its own
	PROPTEST_CASES=50000 cargo test --release --no-default-features --test fuzz_parsers
	PROPTEST_CASES=200000 cargo test --release --no-default-features --lib serve::tests
	OBSAGENT_PROPERTY_EXAMPLES=5000 $(PYTHON) -m pytest -q tests/test_property.py tests/test_parser.py
	PROPTEST_CASES=50000 cargo test --release --no-default-features --test parse_never_panics

.PHONY: lint
lint: build-release ## cargo fmt --check, clippy -D warnings, ruff, stubtest (against the release build, as `make test` leaves it)
	@if command -v rustup >/dev/null; then rustup component add clippy rustfmt; fi
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --no-default-features -- -D warnings
	ruff check python tests benches
	ruff format --check python tests benches
	$(PYTHON) -m mypy.stubtest obsagent._native --allowlist .mypy-stubtest-allowlist

.PHONY: fmt
fmt: setup ## Format Rust and Python
	cargo fmt
	ruff format python tests benches
	ruff check --fix python tests benches
