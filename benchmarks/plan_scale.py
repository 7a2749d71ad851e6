"""Time the Pulumi program under the mock engine as the initial worker count grows.

Prints a table of wall time per worker count and the per-worker slope, which should
stay flat (linear growth). Goal: 500 workers in <= 10 s.

    venv/bin/python benchmarks/plan_scale.py [--repeat 3] [--workers 10 100 500]
"""

from __future__ import annotations

import argparse
import statistics
import time


from relval.infra.config import parse_stack_config  # noqa: E402
from relval.infra.plan import plan  # noqa: E402

CONFIG = {
    "release": "bench", "image": "cernvm", "headFlavor": "m2.large", "workerFlavor": "m2.xlarge",
    "network": "net", "keypair": "ops", "sshAllowedCidrs": ["137.138.0.0/16"],
    "volumes": [{"name": "spool", "sizeGb": 100, "mountPoint": "/data", "role": "head"}],
}


def measure(workers: int, repeat: int) -> tuple[float, int]:
    cfg = parse_stack_config({**CONFIG, "workers": {"initial": workers, "min": 0, "max": workers}})
    times, resources = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = plan(cfg, "bench")
        times.append(time.perf_counter() - start)
        resources = len(result.resources)
    return statistics.median(times), resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    measure(1, 1)  # warm imports
    print(f"{'workers':>8} {'resources':>10} {'median s':>10} {'ms/worker':>10}")
    rows = []
    for workers in args.workers:
        seconds, resources = measure(workers, args.repeat)
        rows.append((workers, seconds))
        print(f"{workers:>8} {resources:>10} {seconds:>10.3f} {1000 * seconds / workers:>10.2f}")
    (w0, t0), (w1, t1) = rows[0], rows[-1]
    growth = (t1 / t0) / (w1 / w0)
    print(f"growth {w0}->{w1} workers: time x{t1 / t0:.1f} for workers x{w1 / w0:.0f} "
          f"(ratio {growth:.2f}; 1.0 = linear)")
    print(f"goal 500 workers <= 10 s: {'met' if rows[-1][1] <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
