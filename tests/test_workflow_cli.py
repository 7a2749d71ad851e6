"""Wiring of `relval workflow generate`, `relval run` and `relval status`."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import REPO

RELVAL = [sys.executable, "-m", "relval"]
SMOKE = REPO / "examples" / "smoke.yaml"


def relval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RELVAL, *args], capture_output=True, text=True, timeout=120)


def test_commands_are_listed_with_help():
    top = relval("--help")
    assert all(name in top.stdout for name in ("run", "status", "workflow"))
    for args in (("workflow", "generate"), ("run",), ("status",)):
        result = relval(*args, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_generate_prints_the_workflow_and_its_notes(tmp_path):
    result = relval("workflow", "generate", str(SMOKE), "-o", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["makeflow"] == str(tmp_path / "smoke.makeflow")
    assert doc["jobs"] == 13 and doc["stages"] == {"sim": 4, "rec": 4, "qa": 4, "merge": 1}
    assert (tmp_path / "smoke.makeflow").is_file()


def test_invalid_campaign_exits_2_with_one_line_per_problem(tmp_path):
    bad = tmp_path / "smoke.yaml"
    bad.write_text(SMOKE.read_text().replace("after: [rec]", "after: [recc]").replace("per: dataset", "per: week"))
    result = relval("workflow", "generate", str(bad), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: smoke.yaml: stages[3].per: unknown level 'week' (use one of job | chunk | run | dataset | campaign)",
        "error: smoke.yaml: stages[2].after: unknown stage 'recc' (did you mean 'rec'?)",
    ]
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_run_needs_local_and_status_needs_a_target(tmp_path):
    result = relval("run", str(SMOKE))
    assert result.returncode == 2 and "needs --local" in result.stderr
    result = relval("status")
    assert result.returncode == 2 and "give a WORKDIR" in result.stderr
    result = relval("status", str(tmp_path))
    assert result.returncode == 2 and "no Makeflow workflow here" in result.stderr


def test_status_of_a_generated_but_not_started_workflow(tmp_path):
    assert relval("workflow", "generate", str(SMOKE), "-o", str(tmp_path)).returncode == 0
    result = relval("status", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    [workflow] = json.loads(result.stdout)["workflows"]
    assert workflow["state"] == "not started" and workflow["total"] == 0
