"""Time generating a 100,000-job campaign: validate, expand, write the Makeflow file.

    venv/bin/python benchmarks/workflow_generate.py [--jobs N]

The campaign is MC-shaped: 4 datasets, sim -> rec -> qa per job and a merge per dataset
(a fan-in over thousands of files), sized to N jobs in all.
Goal: <= 2 s for 100,000 jobs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from relval.workflows.campaign import parse_campaign
from relval.workflows.graph import expand
from relval.workflows.makeflow import generate, makeflow_lines


def campaign_doc(total_jobs: int) -> dict:
    datasets = 4
    per_dataset = (total_jobs - datasets) // (3 * datasets)  # 3 per-job stages + 1 merge per dataset
    return {
        "campaign": "bench",
        "release": "toy/v2",
        "datasets": [{"name": f"ds{i}", "jobs": per_dataset, "parameters": {"events": 100}}
                     for i in range(datasets)],
        "stages": [
            {"name": "sim", "per": "job", "command": "sim --events {events} --seed {job} -o {outputs[0]}",
             "outputs": ["sim.root"], "resources": {"cores": 1, "memory_mb": 2000, "disk_mb": 4000}},
            {"name": "rec", "per": "job", "after": ["sim"], "command": "rec {inputs[0]} -o {outputs[0]}",
             "outputs": ["rec.root"]},
            {"name": "qa", "per": "job", "after": ["rec"], "command": "qa {inputs[0]} -o {outputs[0]}",
             "outputs": ["QA.root"]},
            {"name": "merge", "per": "dataset", "after": ["qa"], "command": "merge -o {outputs[0]} {inputs}",
             "outputs": ["QAmerged.root"]},
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="report the best of this many runs")
    args = parser.parse_args()
    doc = campaign_doc(args.jobs)

    t0 = time.perf_counter()
    campaign = parse_campaign(doc, source="bench.yaml")
    t1 = time.perf_counter()
    graph = expand(campaign)
    t2 = time.perf_counter()
    lines = sum(1 for _ in makeflow_lines(campaign, graph))
    t3 = time.perf_counter()
    runs = []
    for i in range(args.repeat):  # each into a fresh directory: everything is written
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            workflow = generate(parse_campaign(doc, source="bench.yaml"), Path(tmp))
            runs.append(time.perf_counter() - start)
            size = workflow.makeflow_path.stat().st_size
    print(f"jobs: {len(graph):,}  makeflow lines: {lines:,}  file size: {size / 1e6:.1f} MB")
    print(f"validate: {t1 - t0:.3f} s  expand: {t2 - t1:.3f} s  writer (lines only): {t3 - t2:.3f} s")
    print(f"generate (validate + expand + write to disk), best of {args.repeat}: {min(runs):.3f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in runs)}; goal <= 2 s)")


if __name__ == "__main__":
    main()
