"""`make demo` checks its own claim: all jobs done, exactly QA/vz, QA/dedx and QA/dedx_vs_p
BAD, the rest GOOD. Before, any exit 1 printed "the planted regression was caught", even
when the payload had not run at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

CHECK = REPO / "examples" / "check_smoke.py"
GRADES = {"QA/vz": "BAD", "QA/dedx": "BAD", "QA/dedx_vs_p": "BAD", "QA/ntracks": "GOOD", "QA/pt": "GOOD",
          "QA/eta": "GOOD", "QA/phi": "GOOD", "QA/pt_resolution": "GOOD", "QA/eta_phi": "GOOD"}


def fake_run(workdir: Path, grades: dict | None = None, jobs=(26, 26, 0), verdict="FAIL") -> Path:
    """A work directory as `relval run` leaves it (report.json and the QA Summary.json)."""
    workdir.mkdir(parents=True, exist_ok=True)
    summary = workdir / "qa" / "Summary.json"
    summary.parent.mkdir(exist_ok=True)
    summary.write_text(json.dumps({"objects": [{"name": f"pp.QAmerged.root:{n}", "grade": g}
                                               for n, g in (grades or GRADES).items()]}))
    total, done, failed = jobs
    (workdir / "report.json").write_text(json.dumps({
        "verdict": verdict, "jobs": {"total": total, "done": done, "failed": failed},
        "chains": [{"role": "candidate"}, {"role": "reference"}],
        "qa": {"files": {"summary_json": str(summary)}}}))
    return workdir


def check(workdir: Path, code: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), str(workdir), str(code)], capture_output=True, text=True)


def test_the_documented_outcome_passes_the_check(tmp_path):
    result = check(fake_run(tmp_path / "w"), 1)
    assert result.returncode == 0 and result.stdout.startswith("demo: as documented")


@pytest.mark.parametrize("change,code,expected", [
    (dict(grades={**GRADES, "QA/dedx_vs_p": "GOOD"}), 1, "QA/dedx_vs_p graded GOOD, expected BAD"),
    (dict(grades={**GRADES, "QA/pt": "WARNING"}), 1, "QA/pt graded WARNING, expected GOOD"),
    (dict(grades={k: v for k, v in GRADES.items() if k != "QA/phi"}), 1,
     "QA/phi graded nothing (absent), expected GOOD"),
    (dict(jobs=(26, 20, 6)), 1, "jobs: 20 done, 6 failed of 26, expected all done"),
    (dict(verdict="PASS"), 0, "relval run exited 0, expected 1 (FAIL)"),
])
def test_every_difference_is_named(tmp_path, change, code, expected):
    result = check(fake_run(tmp_path / "w", **change), code)
    assert result.returncode == 1 and f"  - {expected}" in result.stderr.splitlines()


def test_no_report_at_all_fails(tmp_path):
    result = check(tmp_path, 2)
    assert result.returncode == 1 and "relval run exited 2" in result.stderr


def make_demo(tmp_path: Path, campaign: Path) -> subprocess.CompletedProcess:
    venv = Path(sys.executable).parent.parent
    return subprocess.run(["make", "-s", "-C", str(REPO), "demo", f"VENV={venv}",
                           f"DEMO_CAMPAIGN={campaign}", f"DEMO_DIR={tmp_path / 'demo'}"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"})


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
def test_make_demo_fails_when_its_payload_does_not_run(tmp_path):
    """The simulation writes nothing: relval exits 1 (jobs failed), and the demo must not
    call that the planted regression."""
    doc = yaml.safe_load((REPO / "examples" / "smoke.yaml").read_text())
    doc["datasets"][0].update(jobs=1, parameters={"events": 100})
    doc["stages"][0]["command"] = "echo pretending to simulate"
    for stage in doc["stages"]:
        stage["files"] = [str(REPO / f) for f in stage.get("files", [])]
    campaign = tmp_path / "broken.yaml"
    campaign.write_text(yaml.safe_dump(doc))
    result = make_demo(tmp_path, campaign)
    assert result.returncode != 0
    assert "the run does NOT show what the README documents" in result.stderr
    assert "expected all done" in result.stderr and "regression was caught" not in result.stdout
