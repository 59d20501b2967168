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

DEBS := runc conmon nftables busybox-static docker-registry skopeo iproute2 iptables tmux

.PHONY: deps venv protos up down status test test-unit test-service test-e2e bench clean-test

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# Regenerate the gRPC code from protos/ (output is committed; a test checks it is current).
protos: venv
	$(PY) -m hangu_runtime.codegen services

up: deps venv
	$(PY) -m hangu_supervisor.main start

down:
	$(PY) -m hangu_supervisor.main stop

status:
	$(PY) -m hangu_supervisor.main status

test: deps venv
	$(PY) -m pytest -q tests

test-unit: venv
	$(PY) -m pytest -q tests/unit

bench: deps venv
	$(PY) benchmarks/run.py
