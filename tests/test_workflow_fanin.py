"""Fan-in at scale: a merge over 10,000 inputs runs through real makeflow. Its rule lists
10,000 inputs, its command would be one argument of ~300 KB to `sh -c` (Linux allows
128 KiB per argument): the command goes into a file and the input list into another,
which the job wrapper reads to link the inputs into the job's directory."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from relval.workflows.makeflow import MAKEFLOW_ENV, generate, makeflow_command
from relval.workflows.rerun import resume_log
from relval.workflows.status import read_status

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
N = 10_000


@pytest.mark.slow
def test_a_merge_over_ten_thousand_inputs_runs(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": "big", "release": "r", "retries": 0,
        "datasets": [{"name": "a-dataset-with-a-long-name", "jobs": N}],
        "stages": [{"name": "simulation", "per": "job", "command": "echo {job} > {outputs[0]}",
                    "outputs": ["AO2D-output.root"]},
                   {"name": "merge", "per": "dataset", "after": ["simulation"],
                    "command": "cat {inputs} | wc -l > {outputs[0]}; ls | wc -l >> {outputs[0]}",
                    "outputs": ["merged.txt"]}]}))
    chain = tmp_path / "chain"
    workflow = generate(path, chain)
    merge = workflow.graph.jobs[-1]
    assert len(" ".join(merge.inputs)) > 128 * 1024           # more than one argument may hold
    # The 10,000 producing jobs are done already (as after a resume), so only the merge runs.
    present = {}
    for job in workflow.graph.jobs[:-1]:
        (chain / job.outputs[0]).write_text(f"{job.unit}\n")
        (chain / job.log).write_text("done\n")
        present.update({job.outputs[0]: (chain / job.outputs[0]).stat().st_size,
                        job.log: (chain / job.log).stat().st_size})
    workflow.log_path.write_bytes(resume_log(workflow.graph, set(range(N)), present,
                                             int(time.time()) * 1_000_000))
    lines = workflow.makeflow_path.read_text().splitlines()
    assert max(len(line) for line in lines if line.startswith("\t")) < 32 * 1024   # every command line
    done = subprocess.run(makeflow_command(workflow.makeflow_file, "local", 0), cwd=chain,
                          env={**__import__("os").environ, **MAKEFLOW_ENV}, capture_output=True,
                          text=True, timeout=600)
    status = read_status(workflow.log_path)
    assert (status.done, status.failed) == (N + 1, 0), done.stdout[-2000:] + (chain / merge.log).read_text()[-2000:]
    # Every input reached the payload, and its directory held exactly those (and its output).
    assert (chain / merge.outputs[0]).read_text().split() == [str(N), str(N + 1)]
