"""The simulated OpenStack for tests, started on a free loopback port.

The `simcloud` fixture (tests/conftest.py) yields a `SimCloud`: `url`, `auth_url`, `env` (OS_* variables for a password
login, read by openstacksdk and by gophercloud/terraform alike), `clouds_yaml` (a file
with the cloud `simcloud`), `ids` (what the standard seed created) and `server`
(the running SimServer, for faults, settings and the inventory).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from relval.simcloud import SimServer, start_server

PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f "
              "ops@example")
STANDARD_SEED = {
    "networks": [{"name": "relval-net", "cidr": "10.10.0.0/24"}],
    "floating_ip_pools": [{"name": "public", "cidr": "198.51.100.0/24"}],
    "images": [{"name": "alma9"}],
    "flavors": [{"name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20},
                {"name": "m2.large", "vcpus": 4, "ram": 8192, "disk": 40}],
    "keypairs": [{"name": "ops", "public_key": PUBLIC_KEY}],
    "volume_types": ["standard"],
}
# Short enough for fast tests, long enough that BUILD and deleting can be observed.
DELAYS = {"boot_delay": 0.3, "delete_delay": 0.3, "volume_delay": 0.1}


@dataclass
class SimCloud:
    url: str
    auth_url: str
    env: dict[str, str]
    clouds_yaml: Path
    ids: dict[str, dict[str, str]]
    server: SimServer


def running_simcloud(tmp_path: Path):
    """The body of the `simcloud` fixture: a seeded simulator, stopped afterwards."""
    sim = start_server(**DELAYS)
    try:
        ids = sim.seed(STANDARD_SEED)
        clouds = sim.write_clouds_yaml(tmp_path / "clouds.yaml")
        yield SimCloud(sim.url, sim.auth_url, sim.env(), clouds, ids, sim)
    finally:
        sim.stop()


def connect(sim: SimCloud, **config):
    """An openstacksdk connection to the simulator (password login unless `config` says)."""
    import openstack.connection

    warnings.filterwarnings("ignore", module="openstack")
    return openstack.connection.Connection(**(config or sim.server.cloud_config()))


def until(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll until `predicate()` is truthy; return its value, or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")
