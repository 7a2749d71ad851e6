"""Shared fixtures: a valid stack config and the offline planner."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_STACK = REPO / "Pulumi.alice-relval.yaml"
# Keep the tests independent of whatever stack a developer has selected.
os.environ.pop("PULUMI_STACK", None)
os.environ.pop("RELVAL_STACK", None)

VALID_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f "
             "tester@example")

BASE_CONFIG = {
    "release": "O2PDPSuite::nightly-20261120-1",
    "image": "cernvm5-x86_64-2025.05",
    "headFlavor": "m2.large",
    "workerFlavor": "m2.xlarge",
    "network": "alice-relval-net",
    "sshPublicKey": VALID_KEY,
    "sshAllowedCidrs": ["137.138.0.0/16"],
    "workers": {"initial": 3, "min": 1, "max": 20},
}


@pytest.fixture
def raw_config() -> dict:
    return copy.deepcopy(BASE_CONFIG)


def make_plan(raw: dict, stack: str = "test-stack"):
    from relval.infra.config import parse_stack_config
    from relval.infra.plan import plan

    return plan(parse_stack_config(raw), stack)


@pytest.fixture(scope="session")
def engine():
    """The Pulumi engine `make engine` built; skips (fails under RELVAL_REQUIRE_ENGINE=1, as
    in CI) where there is none."""
    from relval.errors import RelvalError
    from relval.infra.engine import find_engine

    try:
        return find_engine(REPO)
    except RelvalError as error:
        if os.environ.get("RELVAL_REQUIRE_ENGINE") == "1":
            pytest.fail(f"no engine although RELVAL_REQUIRE_ENGINE=1: {error}")
        pytest.skip("no Pulumi engine here: run `make engine` first")


@pytest.fixture
def simcloud(tmp_path):
    """A seeded simulated OpenStack on a free loopback port (tests/simcloud_support.py)."""
    from tests.simcloud_support import running_simcloud

    yield from running_simcloud(tmp_path)


@pytest.fixture(autouse=True)
def _private_archive(tmp_path_factory, monkeypatch):
    """`relval run` archives its results (default ./relval-archive): every test gets its
    own empty archive, so none writes into the checkout or sees another's runs."""
    monkeypatch.setenv("RELVAL_ARCHIVE", str(tmp_path_factory.mktemp("archive")))
