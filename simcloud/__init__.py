"""A simulated OpenStack (Keystone v3, Nova v2.1, Neutron v2.0, Cinder v3, Glance v2) on
loopback, with state, for rehearsing stacks and testing the scaler over real HTTP.

    sim = start_server(boot_delay=0.1)          # background thread, free port
    sim.seed({"networks": ["net"], "images": ["img"], "flavors": [{"name": "m1"}]})
    openstack.connect(**sim.cloud_config())     # or sim.env() for OS_* variables
    inventory(sim)["leftovers"]                 # 0 when everything created was deleted
    sim.stop()
"""

from .client import add_fault, clear_faults, configure, inventory, seed
from .server import SimServer, start_server
from .settings import Settings

__all__ = ["Settings", "SimServer", "add_fault", "clear_faults", "configure", "inventory",
           "seed", "start_server"]
