# hangu: `make up` installs what is needed and starts the stack; `make test`
# runs every test. HANGU_ROOT and HANGU_RUN move the data root and run dir.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PROTOS := $(shell find protos -name '*.proto')
HANGU_ROOT ?= /var/lib/hangu
HANGU_RUN ?= /run/hangu
export HANGU_ROOT HANGU_RUN
# Whole-suite timeout per test (seconds); the suite itself must stay < 20 min.
TEST_TIMEOUT ?= 300
PYTEST_ARGS ?=

DEBS := python3 python3-venv runc conmon nftables busybox-static docker-registry skopeo \
	iproute2 iptables tmux docker-compose tini

.PHONY: deps docker-cli venv protos lint format up down purge status test test-unit test-service \
	test-e2e bench install-systemd

# Hand-written code only; the generated gRPC code is checked by test_codegen.
LINT_PATHS := services cli deploy benchmarks
TYPED_PATHS := $(wildcard services/hangu_*) cli/hangu_cli deploy/hangu_supervisor benchmarks

deps: docker-cli
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

# A docker CLI for the end-to-end tests, looked for as tests/support/dockercli.py
# does (HANGU_TEST_DOCKER, /usr/local/bin/docker, docker on PATH); without one,
# Debian's docker.io (CLI 20.10; its dockerd is left stopped and disabled).
# (`command -v` alone is not enough: bash names a non-executable match too.)
docker-cli:
	@found="$$(command -v docker || true)"; \
	if [ -n "$$HANGU_TEST_DOCKER" ] || [ -x /usr/local/bin/docker ] || \
	  { [ -n "$$found" ] && [ -x "$$found" ]; }; then :; else deploy/install-docker-io.sh; fi

# The packages live in services/, cli/ and deploy/; a .pth file puts those
# folders on the venv's path, so packages added later need no reinstall.
# (`pip install -e .` installs the console scripts: hangu, hangu-supervisor...)
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q --disable-pip-version-check --no-deps -e .
	printf '%s\n' "$(CURDIR)/services" "$(CURDIR)/cli" "$(CURDIR)/deploy" \
	  > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/hangu-src.pth"
	touch $@

venv: $(VENV)/.installed

# Regenerate the gRPC code from protos/ (output is committed; a test checks it is current).
protos: venv
	$(PY) -m hangu_runtime.codegen services

# The CI gates: lint rules, formatting and strict typing, zero findings.
lint: venv
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy $(TYPED_PATHS)

# Apply the formatter and the safe fixes.
format: venv
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)
	$(VENV)/bin/ruff format $(LINT_PATHS)

# Start the stack (detached: returns once every service answers).
up: deps venv
	$(PY) -m hangu_supervisor.main start

# Stop the stack; running containers keep running and are found again by `up`.
down:
	$(PY) -m hangu_supervisor.main stop

# Stop the stack and remove every container, mount, netns, bridge and nftables table.
purge:
	$(PY) -m hangu_supervisor.main purge

status:
	$(PY) -m hangu_supervisor.main status

# Install the systemd units, pointed at this checkout and its virtualenv.
install-systemd: deps venv
	for unit in deploy/systemd/*; do \
	  sed 's#/opt/hangu#$(CURDIR)#g' "$$unit" > "/etc/systemd/system/$$(basename "$$unit")"; done
	systemctl daemon-reload
	@echo "now: systemctl enable --now hangu.target"

test: deps venv
	$(PY) -m pytest -q -p no:cacheprovider --timeout=$(TEST_TIMEOUT) $(PYTEST_ARGS) tests

# Every test that needs neither root nor a stack, wherever it lives under
# tests/. As root it runs with no capabilities, so a test that needs root but
# is not marked `root` fails here instead of slipping into the fast set.
NO_CAPS := $(shell [ "$$(id -u)" = 0 ] && command -v setpriv >/dev/null && \
	echo setpriv --bounding-set=-all --inh-caps=-all)
# Its own temp root: without capabilities it could not clean up what root
# runs leave in /tmp/pytest-of-root.
UNIT_TMP := /tmp/hangu-test-unit
test-unit: venv
	mkdir -p $(UNIT_TMP)
	PYTEST_DEBUG_TEMPROOT=$(UNIT_TMP) $(NO_CAPS) $(PY) -m pytest -q -p no:cacheprovider \
	  -m "not root and not e2e" $(PYTEST_ARGS) tests

test-e2e: deps venv
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e tests/cli tests/deploy

# Times docker CLI operations against hangu and a dockerd (installs docker.io).
BENCH_ARGS ?=
bench: deps venv
	$(PY) benchmarks/run.py $(BENCH_ARGS)
