# The README's two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
CARGO ?= cargo
PORT ?= 8888

.PHONY: run test deps test-deps build build-release unit deploy-check docker-check e2e lint

run: deps build-release
	./target/release/rheo --port $(PORT) --media-root /tmp

test: test-deps
	$(CARGO) build --workspace --all-targets
	bash scripts/build-webrtchttp.sh >/dev/null
	$(MAKE) unit
	$(MAKE) deploy-check
	$(MAKE) e2e

deps:
	@bash scripts/install-deps.sh build runtime
	@bash scripts/fetch-models.sh
	@command -v $(CARGO) >/dev/null || { echo "cargo (Rust 1.88+) is required: https://rustup.rs"; exit 1; }

test-deps:
	@bash scripts/install-deps.sh test
	@bash scripts/fetch-models.sh
	@command -v $(CARGO) >/dev/null || { echo "cargo (Rust 1.88+) is required: https://rustup.rs"; exit 1; }

build-release:
	$(CARGO) build --release --workspace

# Tests run with loopback as the only network interface (scripts/loopback-only.sh). The WHIP
# tests' clients (scripts/build-webrtchttp.sh) are built first, while the registry is reachable.
unit:
	bash scripts/loopback-only.sh $(CARGO) test --offline --workspace -- --test-threads=2

# docker-compose.yml, deploy/turnserver.conf and deploy/rheo.toml, run on this host (no Docker engine).
deploy-check:
	bash scripts/loopback-only.sh bash tests/deploy/host-check.sh target/debug/rheo

# docker-compose.yml built and run for real (dockerd, images, a browser through them); needs
# root and many minutes for a cold build, so not part of `make test`.
docker-check:
	bash tests/deploy/docker-check.sh

e2e:
	cd tests/e2e && { [ -d node_modules/kurento-client ] || npm ci --ignore-scripts --no-audit --no-fund; }
	bash scripts/build-webrtchttp.sh >/dev/null
	bash scripts/loopback-only.sh bash tests/e2e/with-rheo.sh target/debug/rheo
	bash scripts/loopback-only.sh bash tests/deploy/remote-browser.sh target/debug/rheo

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
