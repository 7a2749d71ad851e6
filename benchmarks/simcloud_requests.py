"""The simulated OpenStack under a rehearsal-sized load, through openstacksdk over HTTP.

Boots N servers (each with its own port made by nova), lists them with details until all
are ACTIVE, then deletes them and waits until none is left. Prints the time per phase
and per API call, so a 100-worker rehearsal's share spent in the simulator is known.

    venv/bin/python benchmarks/simcloud_requests.py [--servers 100]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from relval.simcloud import start_server

SEED = {"networks": [{"name": "net", "cidr": "10.0.0.0/22"}], "images": ["img"],
        "flavors": [{"name": "m1", "vcpus": 1, "ram": 1024}]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=100)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    import openstack.connection

    n = args.servers
    sim = start_server(boot_delay=0.5, delete_delay=0.5, seed=SEED,
                       quotas={"instances": n, "cores": n, "ram": 1024 * n, "port": n + 10})
    try:
        conn = openstack.connection.Connection(**sim.cloud_config())
        image = conn.image.find_image("img").id
        flavor = conn.compute.find_flavor("m1").id
        network = conn.network.find_network("net").id
        calls_before = sim.store.requests
        phases = {}
        start = time.perf_counter()
        ids = [conn.compute.create_server(name=f"w{i:03d}", image_id=image, flavor_id=flavor,
                                          networks=[{"uuid": network}]).id for i in range(n)]
        phases["boot"] = time.perf_counter() - start
        start = time.perf_counter()
        while {s.status for s in conn.compute.servers(details=True)} != {"ACTIVE"}:
            time.sleep(0.1)
        phases["wait ACTIVE"] = time.perf_counter() - start
        start = time.perf_counter()
        for server_id in ids:
            conn.compute.delete_server(server_id)
        phases["delete"] = time.perf_counter() - start
        start = time.perf_counter()
        while list(conn.compute.servers()):
            time.sleep(0.1)
        phases["wait gone"] = time.perf_counter() - start
        calls = sim.store.requests - calls_before
        total = sum(phases.values())
        print(f"simcloud: {n} servers, {calls} API calls, {total:.2f} s "
              f"(boot delay 0.5 s, delete delay 0.5 s)")
        for name, seconds in phases.items():
            print(f"  {name:12s} {seconds:6.2f} s")
        print(f"  create_server {1000 * phases['boot'] / n:.1f} ms per call; "
              f"delete_server {1000 * phases['delete'] / n:.1f} ms per call")
        print(f"  leftovers after the run: {sim.inventory()['leftovers']}")
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
