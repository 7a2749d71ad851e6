"""Wall time of `relval run --local` against plain `makeflow -T local`, same workflow.

    venv/bin/python benchmarks/workflow_run_overhead.py [--jobs N] [--repeat R]

Both run the same generated workflow of N no-op jobs (default 10,000; each writes its
empty output through the job wrapper, in its private directory) plus one merge over all
N outputs (its inputs listed in a file, its command in another), in fresh directories. The baseline is exactly the
makeflow command that relval runs (`makeflow -T local --log-verbose -r 0 FILE`);
relval adds process start, validation, generation, log polling, verdict and report.
Goal: ratio <= 1.1. Prints the best of R runs for each, wall time and the CPU time of the
whole process tree (every waited-for descendant), which the machine's load barely changes:
on a shared machine the CPU ratio is the figure to quote, the wall ratio only when the load
average printed beside each run is about the same.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from relval.workflows.makeflow import MAKEFLOW_ENV, generate, makeflow_command


def campaign(path: Path, jobs: int) -> Path:
    doc = {"campaign": "noop", "release": "none",
           "datasets": [{"name": "d", "jobs": jobs}],
           "stages": [{"name": "noop", "per": "job", "command": ": > {outputs[0]}", "outputs": ["out"]},
                      {"name": "merge", "per": "dataset", "after": ["noop"],
                       "command": "cat {inputs} > {outputs[0]}", "outputs": ["merged"]}]}
    path.write_text(yaml.safe_dump(doc))
    return path


class Run:
    """Wall and CPU seconds of one child process tree, and the load average around it."""

    def __init__(self, argv, **kwargs):
        before, load, start = resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()[0], time.perf_counter()
        self.result = subprocess.run(argv, **kwargs)
        self.wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.load = (load + os.getloadavg()[0]) / 2

    def __str__(self):
        return f"{self.wall:.1f} s wall, {self.cpu:.1f} s CPU, load {self.load:.1f}"


def plain(campaign_file: Path, directory: Path) -> Run:
    workflow = generate(campaign_file, directory)  # not timed: the baseline gets its file for free
    env = {**os.environ, **MAKEFLOW_ENV}
    return Run(makeflow_command(workflow.makeflow_file, "local", 0), cwd=directory, env=env,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def relval(campaign_file: Path, workdir: Path) -> Run:
    run = Run([sys.executable, "-m", "relval", "--no-progress", "run", str(campaign_file),
               "--local", "--workdir", str(workdir)], capture_output=True, text=True)
    if run.result.returncode != 0:
        raise SystemExit(f"relval run failed: {run.result.stdout}{run.result.stderr}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        file = campaign(root / "noop.yaml", args.jobs)
        plain_runs, relval_runs = [], []
        for i in range(args.repeat):  # interleaved, so machine load hits both alike
            plain_runs.append(plain(file, root / f"plain{i}"))
            relval_runs.append(relval(file, root / f"relval{i}"))
    print(f"{args.jobs:,} no-op jobs and a merge over their {args.jobs:,} outputs, best of {args.repeat}, "
          f"{os.cpu_count()} CPUs:")
    for name, runs in (("makeflow -T local ", plain_runs), ("relval run --local", relval_runs)):
        print(f"  {name}: " + "; ".join(str(r) for r in runs))
    for what in ("cpu", "wall"):
        ratio = min(getattr(r, what) for r in relval_runs) / min(getattr(r, what) for r in plain_runs)
        print(f"  ratio relval/makeflow, {what} time: {ratio:.3f}  (goal <= 1.1)")


if __name__ == "__main__":
    main()
