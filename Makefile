# Entry points for a fresh machine: each target installs what it needs.
#   make demo   set up, then run the main job on the embedded default
#   make test   set up, then run the test suite
VENV       ?= venv
PYTHON     ?= python3
APT_PACKAGES ?= coop-computing-tools cloud-init openssh-server openssh-client rsync chromium chromium-driver
SUDO       := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
STAMP      := $(VENV)/.relval-installed
# gitlab-ci-local 4.75 needs Node 22; 4.60.1 runs on Node 20.
GITLAB_CI_LOCAL := .tools/node_modules/.bin/gitlab-ci-local

.PHONY: setup system-deps tools demo test bench clean

setup: system-deps $(STAMP)

# Debian packages for the real tools the tests drive; only missing ones are installed.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $(STAMP)

# Node tools for the CI-pipeline tests; skipped where npm is missing (those tests then skip).
tools:
	@if [ ! -x $(GITLAB_CI_LOCAL) ] && command -v npm >/dev/null 2>&1; then \
	  echo "installing gitlab-ci-local into .tools/"; \
	  npm install --silent --no-audit --no-fund --prefix .tools gitlab-ci-local@4.60.1 >/dev/null; \
	fi

# The smoke campaign, locally: toy/v2 against toy/v1. toy/v2 carries a planted QA
# regression, so FAIL (exit 1) is the expected verdict; only exit 2 (an error) fails here.
demo: setup
	@$(VENV)/bin/relval run examples/smoke.yaml --local --workdir relval-smoke; rc=$$?; \
	if [ $$rc -eq 1 ]; then echo "demo: FAIL is the expected verdict (the planted toy/v2 regression was caught)"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

test: setup tools
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(VENV)/bin/python benchmarks/plan_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .tools .gitlab-ci-local
