"""Decision-cycle time of the scaler with a huge queue: 100,000 idle jobs, 1,000 workers.

Times `decide` alone (the pure core) and a whole controller cycle against the
in-memory fakes (reconcile, decide, apply, state write), which is what the daemon
adds on top of the condor and cloud queries. Goal: decide <= 0.2 s.

    venv/bin/python benchmarks/autoscaler_cycle.py [--jobs 100000] [--workers 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from relval.autoscaler.config import Flavor, ScalerConfig
from relval.autoscaler.controller import Controller
from relval.autoscaler.core import decide
from relval.autoscaler.fakes import FakeCloud, FakeCondor
from relval.autoscaler.model import (ACTIVE, BUILD, BUSY, DRAINING, IDLE, NOT_JOINED, BootRecord,
                                     Headroom, Job, Limits, Observed, WorkerState)
from relval.autoscaler.state import JsonStore

SHAPES = [(1, 2000), (1, 1500), (2, 4000), (4, 8000), (8, 14000), (1, 3000), (16, 1000)]


def observed(n_jobs: int, n_workers: int, now: float, rng: random.Random) -> Observed:
    # One Job per idle job (the worst case: no grouping by the adapter).
    jobs = tuple(Job(*rng.choice(SHAPES)) for _ in range(n_jobs))
    workers = []
    for i in range(n_workers):
        kind = rng.random()
        if kind < 0.85:
            w = WorkerState(f"w{i}", ACTIVE, now - 5000, BUSY, now - 300, now - 4800, 4, 2, 4000)
        elif kind < 0.93:
            w = WorkerState(f"w{i}", ACTIVE, now - 5000, IDLE, now - rng.uniform(0, 2000),
                            now - 4800, 0, 8, 16000)
        elif kind < 0.97:
            w = WorkerState(f"w{i}", BUILD, now - rng.uniform(0, 150), NOT_JOINED, now - 100)
        else:
            w = WorkerState(f"w{i}", ACTIVE, now - 5000, DRAINING, now - 50, now - 4800, 1)
        workers.append(w)
    boots = tuple(BootRecord(f"b{i}", now - 1500 + i, "ok" if i % 7 else "error", now - 1000 + i,
                             build_s=180.0) for i in range(200))
    return Observed(jobs, 85000, tuple(workers), Headroom(500, 4000, 8_000_000), boots)


def time_it(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    now = 100_000.0
    cfg = ScalerConfig(stack="bench", min=1, max=args.workers + 200, flavor=Flavor(8, 16000),
                       max_concurrent_boots=100)
    obs = observed(args.jobs, args.workers, now, rng)
    actions = decide(obs, cfg, now)
    core = time_it(lambda: decide(obs, cfg, now), args.repeat)

    # A whole cycle against the fakes: the same queue and pool, with the state file.
    with tempfile.TemporaryDirectory() as tmp:
        cloud = FakeCloud("bench", Limits(5000, 100000, 10**9), clock=lambda: now)
        condor = FakeCondor()
        md = {"relval-stack": "bench", "relval-role": "worker"}
        for i in range(args.workers):
            vm = cloud.add_vm(md)
            startd = condor.join(vm.id, 8, 16000)
            if i % 10:
                startd.jobs.extend(condor.submit(4, 1, 2000, 3600, now))
        for shape in (rng.choice(SHAPES) for _ in range(args.jobs)):
            condor.submit(1, shape[0], shape[1], 600, now)
        quiet = logging.getLogger("relval.autoscaler.bench")
        quiet.propagate = False
        quiet.addHandler(logging.NullHandler())
        ctl = Controller(cloud, condor, cfg, JsonStore(Path(tmp) / "state.json"), dry_run=True,
                         logger=quiet)
        ctl.cycle(now)
        full = time_it(lambda: ctl.cycle(now), args.repeat)

    counts = {}
    for a in actions:
        counts[type(a).__name__] = counts.get(type(a).__name__, 0) + getattr(a, "n", 1)
    print(f"{args.jobs:,} idle jobs ({len(SHAPES)} shapes, one Job each), {args.workers:,} workers")
    print(f"decide():            median {statistics.median(core) * 1000:7.1f} ms  "
          f"(min {min(core) * 1000:.1f}, max {max(core) * 1000:.1f}; goal <= 200 ms: "
          f"{'met' if statistics.median(core) <= 0.2 else 'NOT met'})")
    print(f"controller cycle:    median {statistics.median(full) * 1000:7.1f} ms  "
          f"(reconcile + decide against the fakes, dry run)")
    print(f"actions decided:     {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
