# berthd — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := conmon runc crun busybox-static netavark aardvark-dns iptables tini \
                golang-github-containers-common docker-registry zstd uidmap openssl tar \
                python3-venv etcd-server
# client test suites run against berthd (docker-compose 1.x; without its
# recommendation docker.io: no dockerd is needed or started)
APT_CLIENTS := docker-compose
STAMP := $(VENV)/.installed

.PHONY: run install test check lint typecheck layers unit api integration bench clean apt

run: install
	$(VENV)/bin/berthd -H unix:///run/berthd.sock

install: apt $(STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi; \
	missing=""; for p in $(APT_CLIENTS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

check: install lint typecheck layers

lint:
	$(VENV)/bin/ruff check berthd tests tools bench
	$(VENV)/bin/ruff format --check berthd tests tools bench

typecheck:
	$(VENV)/bin/mypy --strict berthd

layers:
	$(PY) tools/check_layers.py

test: check
	$(PY) -m pytest -q -p no:cacheprovider tests

unit: install
	$(PY) -m pytest -q tests/unit tests/api

integration: install
	$(PY) -m pytest -q tests/integration

clean:
	rm -rf $(VENV) build *.egg-info
