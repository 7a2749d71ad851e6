"""Jobs are isolated: each runs in a private directory holding only its declared inputs,
and only its declared outputs (and its log) come out of it, under `makeflow -T local` and
in an HTCondor-like sandbox. Before, every local job ran in the one workflow directory:
a job saw (and could overwrite) every other job's files, and under condor every stray
file a job wrote came back to the head."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
RELVAL = [sys.executable, "-m", "relval"]


def campaign(tmp_path: Path, jobs: int = 3, resources: dict | None = None) -> Path:
    # Every job writes the same fixed name, as O2 executables do (AO2D.root, QC.root), then
    # reads it back a second later: in a shared directory the jobs overwrite each other.
    work = {"name": "work", "per": "job",
            "command": "echo {job} > fixed.txt; sleep 1; cat fixed.txt > {outputs[0]}; ls -A > {outputs[1]}",
            "outputs": ["out.txt", "ls.txt"]}
    if resources:
        work["resources"] = resources
    doc = {"campaign": "iso", "release": "r1", "retries": 0,
           "datasets": [{"name": "d", "jobs": jobs}],
           "stages": [work,
                      {"name": "sum", "per": "dataset", "after": ["work"],
                       "command": "ls -A > {outputs[0]}; cat *.out.txt > {outputs[1]}",
                       "outputs": ["sumls.txt", "sum.txt"]}]}
    path = tmp_path / "iso.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_local_jobs_see_only_their_inputs_and_leave_only_their_outputs(tmp_path):
    result = subprocess.run([*RELVAL, "run", str(campaign(tmp_path)), "--local", "--workdir",
                             str(tmp_path / "w"), "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    chain = tmp_path / "w" / "candidate-r1"
    for job in range(3):
        assert (chain / f"d.000{job}.out.txt").read_text() == f"{job}\n"   # nobody else's
        listing = (chain / f"d.000{job}.ls.txt").read_text().split()
        assert sorted(listing) == sorted(["fixed.txt", f"d.000{job}.out.txt", f"d.000{job}.ls.txt"])
    # The fan-in sees exactly its declared inputs, so a glob picks nothing else up.
    outputs = [f"d.000{j}.{n}.txt" for j in range(3) for n in ("out", "ls")]
    assert sorted((chain / "d.sumls.txt").read_text().split()) == sorted(
        outputs + ["d.sumls.txt"])
    assert (chain / "d.sum.txt").read_text() == "0\n1\n2\n"
    assert not (chain / "fixed.txt").exists()              # a stray file stays in the job
    assert not [p for p in chain.rglob("fixed.txt")]       # and its private directory is gone


def condor_sandbox(chain: Path, node: int, sandbox: Path) -> set[str]:
    """Run node `node` of a generated workflow the way HTCondor does with makeflow 8's
    submit file (no transfer_output_files): a fresh directory holding only the
    transferred inputs and makeflow's `condor.sh` (`eval "$@"`). Returns the top-level
    files the job created or changed, which is what HTCondor sends back."""
    lines = (chain / "iso.makeflow").read_text().splitlines()
    rules = [(lines[i], lines[i + 1].strip()) for i in range(len(lines) - 1)
             if ":" in lines[i] and not lines[i].startswith((".", "#")) and lines[i + 1].startswith("\t")]
    targets, command = rules[node]
    inputs = targets.split(":", 1)[1].split()
    sandbox.mkdir()
    for name in inputs:
        shutil.copy(chain / name, sandbox / name)
    (sandbox / "condor.sh").write_text('#!/bin/sh\neval "$@"\nexit $?\n')
    before = {p.name: p.stat().st_mtime_ns for p in sandbox.iterdir()}
    subprocess.run(["/bin/sh", "condor.sh", command], cwd=sandbox, check=True, timeout=60)
    return {p.name for p in sandbox.iterdir() if p.is_file() and before.get(p.name) != p.stat().st_mtime_ns}


def test_in_a_condor_sandbox_only_declared_outputs_would_come_back(tmp_path):
    from relval.workflows.makeflow import generate

    chain = tmp_path / "chain"
    generate(campaign(tmp_path, jobs=1), chain)
    returned = condor_sandbox(chain, 0, tmp_path / "sandbox")
    assert returned == {"d.0000.out.txt", "d.0000.ls.txt", "d.0000.work.log"}
    assert sorted((tmp_path / "sandbox" / "d.0000.ls.txt").read_text().split()) == sorted(
        ["fixed.txt", "d.0000.out.txt", "d.0000.ls.txt"])


def test_a_missing_declared_output_fails_the_job_with_a_clear_log_line(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": "m", "release": "r1", "retries": 0, "datasets": [{"name": "d", "jobs": 1}],
        "stages": [{"name": "work", "per": "job", "command": "echo hi > other.txt",
                    "outputs": ["out.txt"]}]}))
    result = subprocess.run([*RELVAL, "run", str(path), "--local", "--workdir", str(tmp_path / "w"),
                             "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert "declared output d.0000.out.txt was not written" in doc["failed_jobs"][0]["log_tail"]


# --- jobs that cannot fit are reported before anything runs ---------------------------------

def test_a_job_needing_more_cores_than_this_machine_stops_before_any_job(tmp_path):
    cores = len(os.sched_getaffinity(0)) + 1
    path = campaign(tmp_path, resources={"cores": cores})
    result = subprocess.run([*RELVAL, "run", str(path), "--local", "--workdir", str(tmp_path / "w")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"stages[0].resources.cores: {cores} cores" in result.stderr
    assert "do not fit this machine (" in result.stderr
    assert not list((tmp_path / "w").rglob("*.makeflowlog"))   # nothing ran


def test_a_job_needing_more_memory_than_this_machine_stops_before_any_job(tmp_path):
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    path = campaign(tmp_path, resources={"memory_mb": total_mb + 1000})
    result = subprocess.run([*RELVAL, "run", str(path), "--local", "--workdir", str(tmp_path / "w")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"stages[0].resources.memory_mb: {total_mb + 1000} MB" in result.stderr
    assert not list((tmp_path / "w").rglob("*.makeflowlog"))


def test_misfits_against_a_worker_size():
    from relval.workflows.campaign import parse_campaign
    from relval.workflows.fit import Capacity, misfits

    doc = {"campaign": "o2", "release": "r", "datasets": [{"name": "d", "jobs": 1}],
           "stages": [{"name": "sim", "per": "job", "command": "x > {outputs[0]}", "outputs": ["a"],
                       "resources": {"cores": 8, "memory_mb": 8000}},
                      {"name": "reco", "per": "job", "after": ["sim"], "command": "x > {outputs[0]}",
                       "outputs": ["b"], "resources": {"cores": 4, "memory_mb": 16000}}]}
    found = misfits(parse_campaign(doc, source="o2.yaml"), Capacity(8, 14600, "the worker flavor of stack s"))
    assert found == ["o2.yaml: stages[1].resources.memory_mb: 16000 MB does not fit the worker "
                     "flavor of stack s (14600 MB of memory): stage reco would never run"]


# --- names that would make file names too long are refused at validation ------------------

@pytest.mark.parametrize("where", ["dataset", "stage", "run", "output"])
def test_a_long_name_is_refused_in_one_line(tmp_path, where):
    """Before: a 250-character dataset name ended in a Python traceback."""
    long = "x" * 250
    doc = {"campaign": "n", "release": "r1",
           "datasets": [{"name": long if where == "dataset" else "d", "jobs": 1},
                        {"name": "raw", "runs": {long if where == "run" else "7": ["root://h//f.root"]}}],
           "stages": [{"name": long if where == "stage" else "s", "per": "job", "command": "true",
                       "outputs": [long if where == "output" else "o.txt"]},
                      {"name": "c", "per": "chunk", "command": "true", "outputs": ["c.txt"]}]}
    path = tmp_path / "n.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = subprocess.run([*RELVAL, "run", str(path), "--local", "--workdir", str(tmp_path / "w")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "is too long (250 characters; at most" in lines[0]
    assert not (tmp_path / "w").exists()


def test_with_no_worker_joined_the_configured_worker_flavor_is_the_limit(tmp_path, monkeypatch):
    from relval import project
    from relval.workflows.submit import configured_worker_size

    monkeypatch.setattr(project, "project_dir", lambda: tmp_path)
    (tmp_path / "Pulumi.s1.yaml").write_text(yaml.safe_dump(
        {"config": {"relval:autoscaler": {"flavor": {"cores": 8, "ramMb": 14600}}}}))
    capacity = configured_worker_size("s1")
    assert (capacity.cores, capacity.memory_mb) == (8, 14600)
    assert capacity.where == "the worker flavor of stack s1 (relval:autoscaler.flavor)"
    (tmp_path / "Pulumi.s2.yaml").write_text(yaml.safe_dump({"config": {"relval:autoscaler": {}}}))
    assert configured_worker_size("s2") is None and configured_worker_size("absent") is None
