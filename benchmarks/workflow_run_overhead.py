"""Wall time of `relval run --local` against plain `makeflow -T local`, same workflow.

    venv/bin/python benchmarks/workflow_run_overhead.py [--jobs N] [--repeat R]

Both run the same generated workflow of N no-op jobs (default 10,000; each writes its
empty output through the job wrapper, in its private directory) plus one merge over all
N outputs (its inputs listed in a file, its command in another), in fresh directories. The baseline is exactly the
makeflow command that relval runs (`makeflow -T local --log-verbose -r 0 FILE`);
relval adds process start, validation, generation, log polling, verdict and report.
Goal: ratio <= 1.1. Prints the best of R runs for each.
"""

from __future__ import annotations

import argparse
import os
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


def plain(campaign_file: Path, directory: Path) -> float:
    workflow = generate(campaign_file, directory)  # not timed: the baseline gets its file for free
    env = {**os.environ, **MAKEFLOW_ENV}
    start = time.perf_counter()
    subprocess.run(makeflow_command(workflow.makeflow_file, "local", 0), cwd=directory, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def relval(campaign_file: Path, workdir: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "relval", "--no-progress", "run", str(campaign_file),
                             "--local", "--workdir", str(workdir)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"relval run failed: {result.stdout}{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        file = campaign(root / "noop.yaml", args.jobs)
        plain_times, relval_times = [], []
        for i in range(args.repeat):  # interleaved, so machine load hits both alike
            plain_times.append(plain(file, root / f"plain{i}"))
            relval_times.append(relval(file, root / f"relval{i}"))
    best_plain, best_relval = min(plain_times), min(relval_times)
    print(f"{args.jobs:,} no-op jobs and a merge over their {args.jobs:,} outputs, best of {args.repeat}:")
    print(f"  makeflow -T local : {best_plain:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in plain_times)})")
    print(f"  relval run --local: {best_relval:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in relval_times)})")
    print(f"  ratio relval/makeflow: {best_relval / best_plain:.3f}  (goal <= 1.1)")


if __name__ == "__main__":
    main()
