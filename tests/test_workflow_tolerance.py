"""Per-stage `min_success_fraction`: downstream stages run when enough inputs succeeded,
and the report lists what was left out. Before: one failed job blocked its dataset's
merge, so the QA comparison never ran (no equivalent of benchmark.sh's
percentProcessedFilesToContinue)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")


def campaign(tmp_path: Path, fraction: float, failing: tuple[int, ...]) -> Path:
    fail = " || ".join(f"[ {{job}} -eq {j} ]" for j in failing) or "false"
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": "t", "release": "r1", "retries": 0, "datasets": [{"name": "d", "jobs": 10}],
        "stages": [{"name": "sim", "per": "job", "min_success_fraction": fraction,
                    "command": f"if {fail}; then echo broken >&2; exit 7; fi; echo {{job}} > {{outputs[0]}}",
                    "outputs": ["sim.txt"]},
                   {"name": "rec", "per": "job", "after": ["sim"],
                    "command": "cat {inputs[0]} > {outputs[0]}", "outputs": ["rec.txt"]},
                   {"name": "merge", "per": "dataset", "after": ["rec"],
                    "command": "cat {inputs} > {outputs[0]}", "outputs": ["merged.txt"]}]}))
    return path


def run(tmp_path: Path, path: Path) -> tuple[int, dict]:
    result = subprocess.run([sys.executable, "-m", "relval", "run", str(path), "--local", "--workdir",
                             str(tmp_path / "w"), "--json"], capture_output=True, text=True, timeout=300)
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {"stderr": result.stderr}


def test_enough_successes_let_the_merge_run_and_the_report_lists_what_was_left_out(tmp_path):
    code, doc = run(tmp_path, campaign(tmp_path, 0.8, failing=(3, 7)))
    assert (code, doc["verdict"]) == (0, "JOBS_PASSED"), doc
    chain = tmp_path / "w" / "candidate-r1"
    assert sorted((chain / "d.merged.txt").read_text().split()) == [str(j) for j in range(10) if j not in (3, 7)]
    left = {(j["stage"], j["unit"]) for j in doc["left_out"]}
    assert left == {("sim", "d/0003"), ("sim", "d/0007"), ("rec", "d/0003"), ("rec", "d/0007")}
    assert any("exit code 7" in j["log_tail"] for j in doc["left_out"] if j["stage"] == "sim")
    assert any("8 of 10 inputs" in n for n in doc["notes"]), doc["notes"]
    report = (tmp_path / "w" / "report.md").read_text()
    assert "## Left out" in report and "r1 sim d/0003" in report


def test_too_many_failures_fail_the_merge_with_the_reason(tmp_path):
    code, doc = run(tmp_path, campaign(tmp_path, 0.9, failing=(3, 7)))
    assert (code, doc["verdict"]) == (1, "FAIL"), doc
    [merge] = [j for j in doc["failed_jobs"] if j["stage"] == "merge"]
    assert "8 of 10 inputs succeeded, fewer than min_success_fraction 0.9 asks" in merge["log_tail"]


def test_without_a_fraction_a_failure_still_blocks(tmp_path):
    code, doc = run(tmp_path, campaign(tmp_path, 1.0, failing=(3,)))
    assert (code, doc["verdict"]) == (1, "FAIL")
    assert doc["left_out"] == []


def test_the_fraction_is_validated():
    from relval.errors import RelvalError
    from relval.workflows.campaign import parse_campaign

    doc = {"campaign": "v", "release": "r", "datasets": [{"name": "d", "jobs": 1}],
           "stages": [{"name": "s", "per": "job", "command": "x", "outputs": ["o"], "min_success_fraction": 0}]}
    with pytest.raises(RelvalError, match=r"stages\[0\].min_success_fraction: must be > 0 and <= 1"):
        parse_campaign(doc, source="v.yaml")
