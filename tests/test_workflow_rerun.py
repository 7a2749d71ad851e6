"""A rule reruns exactly when it changed, with the real makeflow. Before, makeflow mapped
the old log's node ids onto the new rules: a new job was taken as complete, an edited
rule kept its old output, and status showed 3/3 for a 4-rule workflow."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest

from relval.workflows.makeflow import MAKEFLOW_ENV, generate, makeflow_command
from relval.workflows.status import RUNNING, read_status

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")

BASE = {
    "campaign": "re",
    "release": "v1",
    "environment": {"variables": {"MODE": "a"}},
    "datasets": [{"name": "d", "jobs": 2}],
    "stages": [
        {"name": "gen", "per": "job", "command": "echo {release} $MODE {job} > {outputs[0]}", "outputs": ["g.txt"]},
        {"name": "sum", "per": "dataset", "after": ["gen"], "command": "cat {inputs} > {outputs[0]}",
         "outputs": ["s.txt"]},
    ],
}


def run_makeflow(directory: Path) -> list[str]:
    """Run makeflow in the directory; the rules (by log name) it ran this time."""
    import os

    workflow = next(directory.glob("*.makeflow")).name
    subprocess.run(makeflow_command(workflow), cwd=directory, capture_output=True, timeout=120,
                   env={**os.environ, **MAKEFLOW_ENV})
    lines = (directory / f"{workflow}.makeflowlog").read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("# STARTED"))
    status = read_status(directory / f"{workflow}.makeflowlog")
    ran = {int(l.split()[1]) for l in lines[start:] if l and not l.startswith("#") and int(l.split()[2]) == RUNNING}
    return sorted(t for n in ran for t in status.node_targets[n] if t.endswith(".log"))


def make(doc: dict, directory: Path):
    from relval.workflows.campaign import parse_campaign

    return generate(parse_campaign(copy.deepcopy(doc), source="re.yaml"), directory)


def test_unchanged_rules_resume_and_changed_ones_rerun_with_everything_downstream(tmp_path):
    d = tmp_path / "w"
    make(BASE, d)
    assert run_makeflow(d) == ["d.0000.gen.log", "d.0001.gen.log", "d.sum.log"]
    assert run_makeflow(d) == []                             # nothing changed: nothing reruns

    edited = copy.deepcopy(BASE)
    edited["stages"][0]["command"] = "echo {release} $MODE {job} edited > {outputs[0]}"
    make(edited, d)
    assert run_makeflow(d) == ["d.0000.gen.log", "d.0001.gen.log", "d.sum.log"]
    assert (d / "d.s.txt").read_text() == "v1 a 0 edited\nv1 a 1 edited\n"

    grown = copy.deepcopy(edited)
    grown["datasets"][0]["jobs"] = 3                          # one new job, and a new fan-in
    workflow = make(grown, d)
    assert run_makeflow(d) == ["d.0002.gen.log", "d.sum.log"]
    assert (d / "d.s.txt").read_text().splitlines()[-1] == "v1 a 2 edited"
    status = read_status(workflow.log_path)
    assert (status.done, status.total, status.state) == (4, 4, "finished")


@pytest.mark.parametrize("change", ["release", "environment", "aux file"])
def test_release_environment_and_files_rerun_the_rules_they_feed(tmp_path, change):
    aux = tmp_path / "helper.sh"
    aux.write_text("echo helper-1\n")
    doc = copy.deepcopy(BASE)
    doc["stages"][1].update(files=[str(aux)], command="cat {inputs} > {outputs[0]}; sh helper.sh >> {outputs[0]}")
    d = tmp_path / "w"
    make(doc, d)
    run_makeflow(d)
    if change == "release":
        doc["release"] = "v2"
    elif change == "environment":
        doc["environment"]["variables"]["MODE"] = "b"
    else:
        aux.write_text("echo helper-2\n")
    make(doc, d)
    ran = run_makeflow(d)
    text = (d / "d.s.txt").read_text()
    if change == "aux file":
        assert ran == ["d.sum.log"] and text.endswith("helper-2\n")
    else:
        assert ran == ["d.0000.gen.log", "d.0001.gen.log", "d.sum.log"]
        assert text.startswith("v2 a 0" if change == "release" else "v1 b 0")


def test_a_failed_rule_is_not_kept_and_the_old_log_is_kept_aside(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["stages"][0]["command"] = "test {job} = 1 && exit 3; echo {job} > {outputs[0]}"
    d = tmp_path / "w"
    make(doc, d)
    run_makeflow(d)
    doc["stages"][0]["command"] = "echo {job} > {outputs[0]}"
    make(doc, d)
    assert run_makeflow(d) == ["d.0000.gen.log", "d.0001.gen.log", "d.sum.log"]
    assert len(list(d.glob("re.makeflow.makeflowlog.*.old"))) == 1


def test_a_renamed_identical_campaign_file_resumes(tmp_path):
    import sys

    source = tmp_path / "first.yaml"
    import yaml

    source.write_text(yaml.safe_dump(BASE))
    relval = [sys.executable, "-m", "relval", "run", "--local", "--workdir", str(tmp_path / "w")]
    assert subprocess.run([*relval, str(source)], capture_output=True).returncode == 0
    renamed = tmp_path / "renamed.yaml"
    source.rename(renamed)
    again = subprocess.run([*relval, str(renamed)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    log = (tmp_path / "w" / "candidate-v1" / "re.makeflow.makeflowlog").read_text().splitlines()
    start = max(i for i, line in enumerate(log) if line.startswith("# STARTED"))
    assert [l for l in log[start:] if l and not l.startswith("#")] == []   # nothing ran again
