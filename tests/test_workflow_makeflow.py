"""The Makeflow writer (asserted on lines), the workflow directory, and the real makeflow."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess

import pytest

from relval.errors import RelvalError
from relval.workflows.campaign import load_campaign, parse_campaign
from relval.workflows.graph import expand
from relval.workflows.makeflow import MAKEFLOW_ENV, generate, makeflow_command, makeflow_lines

from .conftest import REPO
from .test_workflow_campaign import BASE

EXAMPLES = REPO / "examples"
needs_makeflow = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")


def smoke_lines() -> list[str]:
    campaign = load_campaign(EXAMPLES / "smoke.yaml")
    return list(makeflow_lines(campaign, expand(campaign)))


def rules(lines: list[str]) -> list[tuple[str, str]]:
    return [(lines[i], lines[i + 1]) for i, line in enumerate(lines)
            if ":" in line and not line.startswith(("#", ".", "\t")) and line]


def test_categories_and_resources_per_stage():
    lines = smoke_lines()
    assert lines.count(".MAKEFLOW CATEGORY sim") == 1
    start = lines.index(".MAKEFLOW CATEGORY sim")
    assert lines[start + 1:start + 4] == [".MAKEFLOW CORES 1", ".MAKEFLOW MEMORY 1000", ".MAKEFLOW DISK 2000"]
    categories = [line.split()[-1] for line in lines if line.startswith(".MAKEFLOW CATEGORY")]
    assert categories == ["sim", "rec", "qa", "merge"]
    # no resources declared for rec: nothing is invented
    rec = lines.index(".MAKEFLOW CATEGORY rec")
    assert not lines[rec + 1].startswith(".MAKEFLOW")


def test_every_rule_declares_all_inputs_and_outputs():
    found = rules(smoke_lines())
    assert len(found) == 13
    targets, command = found[4]  # rec pp/0000
    assert targets == "pp.0000.rec.root pp.0000.rec.log: pp.0000.sim.root relval-job.sh toy.py"
    assert command == ("\t/bin/sh relval-job.sh pp.0000.rec.log 0 -o 1 pp.0000.rec.root -i 2 pp.0000.sim.root toy.py "
                       "-c python3 toy.py rec pp.0000.sim.root "
                       "--release toy/v2 -o pp.0000.rec.root")
    merge_targets, _ = found[-1]
    assert merge_targets.startswith("pp.QAmerged.root pp.merge.log: pp.0000.QAresults.root")
    assert merge_targets.endswith("pp.0003.QAresults.root relval-job.sh")
    assert not any("->" in line for line in smoke_lines())


def test_output_is_deterministic():
    assert smoke_lines() == smoke_lines()


def test_commands_reach_makeflow_in_plain_characters_only():
    """Makeflow rewrites backslashes and cannot parse nested quotes: a rule carries the
    command encoded, in characters makeflow leaves alone (the bytes are checked through
    real makeflow in test_workflow_bytes)."""
    doc = copy.deepcopy(BASE)
    doc["stages"][0]["command"] = "echo 'a  b' \"$HOME\" | sed 's/\\./_/g' > {outputs[0]}"
    campaign = parse_campaign(doc)
    line = next(l for l in makeflow_lines(campaign, expand(campaign)) if l.startswith("\t"))
    assert line == ("\t/bin/sh relval-job.sh pp.0000.sim.log 0 -o 1 pp.0000.sim.root -i 0 -c echo %047a%040 b%047 %042%044HOME%042 "
                    "%174 sed %047s/%134./_/g%047 %076 pp.0000.sim.root")


def test_generate_writes_flat_files_and_keeps_unchanged_ones(tmp_path):
    workflow = generate(EXAMPLES / "smoke.yaml", tmp_path / "wf")
    assert workflow.makeflow_path == tmp_path / "wf" / "smoke.makeflow"
    assert sorted(p.name for p in (tmp_path / "wf").iterdir()) == [".relval-rules.json", "relval-job.sh",
                                                                "smoke.makeflow", "toy.py"]
    assert (tmp_path / "wf" / "toy.py").read_bytes() == (EXAMPLES / "toy" / "toy.py").read_bytes()
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "wf").iterdir()}
    os.utime(tmp_path / "wf" / "smoke.makeflow", ns=(1, 1))
    generate(EXAMPLES / "smoke.yaml", tmp_path / "wf")
    assert (tmp_path / "wf" / "smoke.makeflow").stat().st_mtime_ns == 1  # same bytes: not rewritten
    assert (tmp_path / "wf" / "toy.py").stat().st_mtime_ns == stamps["toy.py"]
    ref = generate(EXAMPLES / "smoke.yaml", tmp_path / "ref", release="toy/v1")
    assert "--release toy/v1 " in ref.makeflow_path.read_text()


def test_invalid_campaign_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "smoke.yaml").read_text().replace("after: [rec]", "after: [recc]"))
    with pytest.raises(RelvalError) as caught:
        generate(bad, tmp_path / "out")
    assert caught.value.problems == ["bad.yaml: stages[2].after: unknown stage 'recc' (did you mean 'rec'?)"]
    assert not (tmp_path / "out").exists()


def test_makeflow_command_lines():
    assert makeflow_command("smoke.makeflow", "local", 2) == [
        "makeflow", "-T", "local", "--log-verbose", "-r", "2", "smoke.makeflow"]
    condor = makeflow_command("s.makeflow", "condor", 1, submit_lines=['requirements = (RelvalStack == "x")',
                                                                       "+RelvalCampaign = \"s\""])
    assert condor[condor.index("-B") + 1] == 'requirements = (RelvalStack == "x")\n+RelvalCampaign = "s"'
    with pytest.raises(RelvalError, match="unknown batch type 'slurm'"):
        makeflow_command("s.makeflow", "slurm")
    with pytest.raises(RelvalError, match="only apply to the condor"):
        makeflow_command("s.makeflow", "local", submit_lines=["x = 1"])


@needs_makeflow
@pytest.mark.parametrize("name", ["smoke", "o2-nightly", "raw-cpass"])
def test_examples_pass_makeflow_analyze(name, tmp_path):
    workflow = generate(EXAMPLES / f"{name}.yaml", tmp_path)
    result = subprocess.run(["makeflow_analyze", "-k", workflow.makeflow_file], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, **MAKEFLOW_ENV}, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Syntax OK" in result.stdout
    for stage in workflow.campaign.stages:
        for aux in stage.files:
            assert (tmp_path / aux.name).is_file()


@needs_makeflow
def test_long_and_tricky_commands_survive_makeflow(tmp_path):
    """Quotes, $, pipes, double spaces and a fan-in command over makeflow's 1,024-character
    token limit reach the payload unchanged."""
    doc = {
        "campaign": "q", "release": "r",
        "datasets": [{"name": "d", "jobs": 200}],
        "stages": [
            {"name": "a", "per": "job", "command": "printf '%s|' 'it''s  two' \"${HOME:+set}\" > {outputs[0]}",
             "outputs": ["a.txt"]},
            {"name": "all", "per": "dataset", "after": ["a"], "command": "cat {inputs} | wc -c > {outputs[0]}",
             "outputs": ["all.txt"]},
        ],
    }
    workflow = generate(parse_campaign(doc), tmp_path)
    assert max(len(line) for line in workflow.makeflow_path.read_text().splitlines()) > 2500
    subprocess.run(makeflow_command(workflow.makeflow_file, "local"), cwd=tmp_path, capture_output=True,
                   env={**os.environ, **MAKEFLOW_ENV}, timeout=120, check=True)
    assert (tmp_path / "d.0007.a.txt").read_text() == "its  two|set|"
    assert (tmp_path / "d.all.txt").read_text().strip() == str(200 * len("its  two|set|"))
