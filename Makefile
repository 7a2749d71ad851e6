# Entry points for a fresh machine: each target installs what it needs.
#   make demo   set up, then run the main job on the embedded default
#   make test   set up, then run the test suite
VENV       ?= venv
PYTHON     ?= python3
APT_PACKAGES ?= coop-computing-tools cloud-init openssh-server openssh-client rsync chromium chromium-driver \
                xrootd-server xrootd-client qemu-system-x86 qemu-utils debootstrap cloud-image-utils e2fsprogs
SUDO       := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
STAMP      := $(VENV)/.relval-installed
# gitlab-ci-local 4.75 needs Node 22; 4.60.1 runs on Node 20.
GITLAB_CI_LOCAL := .tools/node_modules/.bin/gitlab-ci-local

.PHONY: setup system-deps tools engine demo test bench clean

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

# The Pulumi engine (CLI, Python language host, openstack/random/tls plugins) in .tools/pulumi,
# built from the Go module proxy into a cache outside the repository ($$RELVAL_ENGINE_CACHE,
# default ~/.cache/relval/engine); a second run takes seconds. Tests marked `engine` need it.
engine:
	engine/build.sh

# The smoke campaign, locally: toy/v2 against toy/v1. toy/v2 carries a planted QA
# regression, so FAIL (exit 1) is the expected verdict; check_smoke.py then checks the
# whole claim (all jobs done, exactly QA/vz, QA/dedx, QA/dedx_vs_p BAD) and fails the
# demo with what differed.
DEMO_DIR ?= relval-smoke
DEMO_CAMPAIGN ?= examples/smoke.yaml
demo: setup
	@$(VENV)/bin/relval run $(DEMO_CAMPAIGN) --local --workdir $(DEMO_DIR); \
	$(VENV)/bin/python examples/check_smoke.py $(DEMO_DIR) $$?

test: setup tools
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(VENV)/bin/python benchmarks/plan_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .tools .gitlab-ci-local
