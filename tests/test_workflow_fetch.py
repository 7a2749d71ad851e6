"""`relval campaign` fetches only what the verdict and the report need from the head
(logs, transaction and HTCondor logs, JSON, the compared files), and judges that copy
without regenerating over it. Before: every *.root came back (every AO2D)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None or shutil.which("rsync") is None,
                                reason="makeflow or rsync not installed")

HIST = ("python3 -c \"import numpy, uproot; f = uproot.recreate('{outputs[0]}'); "
        "f['h'] = numpy.histogram(numpy.random.default_rng({job}).normal(size=2000), bins=20, range=(-5, 5))\"")


def test_the_fetched_subset_gives_the_same_verdict_without_the_bulk_outputs(tmp_path):
    from relval.workflows.campaign import load_campaign
    from relval.workflows.run import fetch_patterns, judge_workdir

    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": "f", "release": "r2", "reference": {"release": "r1"}, "retries": 0,
        "datasets": [{"name": "d", "jobs": 2}],
        "stages": [{"name": "sim", "per": "job", "command": HIST, "outputs": ["AO2D.root"]},
                   {"name": "merge", "per": "dataset", "after": ["sim"],
                    "command": "relval qa merge -o {outputs[0]} {inputs}", "outputs": ["QA.root"]}],
        "compare": {"files": ["QA.root"]}}))
    run = subprocess.run([sys.executable, "-m", "relval", "run", str(path), "--local", "--workdir",
                          str(tmp_path / "head"), "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    patterns = fetch_patterns(load_campaign(path))
    filters = [*(f"--include={p}" for p in patterns), "--include=*/", "--exclude=*", "--prune-empty-dirs"]
    subprocess.run(["rsync", "-r", *filters, f"{tmp_path / 'head'}/", f"{tmp_path / 'fetched'}/"], check=True)
    fetched = {p.name for p in (tmp_path / "fetched").rglob("*") if p.is_file()}
    assert "d.QA.root" in fetched and "d.0000.sim.log" in fetched and "f.makeflow.makeflowlog" in fetched
    assert not {"d.0000.AO2D.root", "d.0001.AO2D.root"} & fetched          # the bulk stays on the head
    outcome = judge_workdir(path, tmp_path / "fetched")
    assert (outcome.verdict.verdict, outcome.verdict.exit_code) == ("PASS", 0), outcome.verdict.reasons
    assert sum(c.done for c in outcome.chains) == 6
    # Judging did not rewrite the fetched logs (a regenerated workflow would have).
    assert {p.name for p in (tmp_path / "fetched").rglob("*.old")} == set()


def test_the_cluster_smoke_campaign_is_the_demo_with_its_tools_from_cvmfs():
    """examples/smoke-cluster.yaml runs on a stack: the same jobs as the demo, with Python,
    numpy, uproot and hadd from an LCG view on CVMFS instead of this machine's."""
    from relval.workflows.campaign import load_campaign

    from .conftest import REPO

    demo, cluster = (load_campaign(REPO / "examples" / name) for name in ("smoke.yaml", "smoke-cluster.yaml"))
    assert cluster.setup.startswith(". /cvmfs/sft.cern.ch/lcg/views/")
    assert [s.name for s in cluster.stages] == [s.name for s in demo.stages]
    for mine, theirs in zip(cluster.stages, demo.stages):
        if mine.name == "merge":
            assert mine.command.startswith("hadd -f {outputs[0]} {inputs}")
            assert "relval" not in mine.command
        else:
            assert (mine.command, mine.files, mine.outputs) == (theirs.command, theirs.files, theirs.outputs)
    assert (cluster.release, cluster.reference_release, cluster.compare_files) == (
        demo.release, demo.reference_release, demo.compare_files)
