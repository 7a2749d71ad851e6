"""`relval run --local` with the real makeflow: verdicts, failures, crash patterns, resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from relval.workflows.status import COMPLETE, RUNNING, read_status

from .conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
RELVAL = [sys.executable, "-m", "relval"]
SMOKE = REPO / "examples" / "smoke.yaml"


def relval(*args, cwd=None, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([*RELVAL, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def shell_campaign(tmp_path: Path, command: str, jobs: int = 3, **extra) -> Path:
    doc = {
        "campaign": "sh",
        "release": "r2",
        "datasets": [{"name": "d", "jobs": jobs}],
        "stages": [
            {"name": "work", "per": "job", "command": command, "outputs": ["out.txt"]},
            {"name": "sum", "per": "dataset", "after": ["work"], "command": "cat {inputs} > {outputs[0]}",
             "outputs": ["sum.txt"]},
        ],
        "retries": 0,
        **extra,
    }
    path = tmp_path / "sh.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def node_lines(log: Path) -> list[tuple[int, int, int]]:
    """(start number, node, state) for every node line of a transaction log."""
    starts, rows = 0, []
    for line in log.read_text().splitlines():
        if line.startswith("# STARTED"):
            starts += 1
        elif line and not line.startswith("#"):
            fields = line.split()
            rows.append((starts, int(fields[1]), int(fields[2])))
    return rows


@pytest.mark.slow
def test_smoke_campaign_end_to_end_catches_the_planted_regression(tmp_path):
    """The shipped demo: toy/v2 against toy/v1. Every job passes, and the QA comparison
    flags exactly the histograms toy/v2 breaks on purpose, so the verdict is FAIL."""
    merge = subprocess.run([str(Path(sys.executable).parent / "relval"), "qa", "merge", "--help"],
                           capture_output=True)
    assert merge.returncode == 0, "relval qa merge is needed by the smoke campaign's merge stage"
    result = relval("run", str(SMOKE), "--local", "--workdir", str(tmp_path / "w"), "--json")
    doc = json.loads(result.stdout)
    assert result.returncode == 1, result.stderr
    assert (doc["campaign"], doc["release"], doc["verdict"]) == ("smoke", "toy/v2", "FAIL")
    assert doc["jobs"] == {"total": 26, "done": 26, "failed": 0} and doc["failed_jobs"] == []
    assert doc["qa_used"] and doc["qa"]["verdict"] == "FAIL"
    flagged = {o["name"].split(":")[-1] for o in doc["qa"]["flagged"]}
    assert {"QA/vz", "QA/dedx"} <= flagged
    assert not flagged & {"QA/pt", "QA/eta", "QA/phi", "QA/ntracks", "QA/eta_phi"}
    report = Path(doc["report"])
    assert report.is_file() and "QA/vz" in report.read_text()
    assert json.loads((tmp_path / "w" / "report.json").read_text())["verdict"] == "FAIL"
    assert (tmp_path / "w" / "reference-toy-v1-0aac6d" / "pp.QAmerged.root").is_file()
    # The demo's own check (what `make demo` runs) agrees with this run.
    checked = subprocess.run([sys.executable, str(REPO / "examples" / "check_smoke.py"),
                              str(tmp_path / "w"), str(result.returncode)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.slow
def test_same_release_as_reference_passes(tmp_path):
    campaign = yaml.safe_load(SMOKE.read_text())
    campaign["release"] = "toy/v1"
    campaign["datasets"] = [{"name": "pp", "jobs": 2, "parameters": {"events": 300}}]
    for stage in campaign["stages"]:
        stage["files"] = [str(REPO / f) for f in stage.get("files", [])]
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(campaign))
    result = relval("run", str(path), "--local", "--workdir", str(tmp_path / "w"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout
    assert f"report: {tmp_path / 'w' / 'report.md'}" in result.stdout


def test_a_job_failing_for_good_gives_fail_with_its_log_tail(tmp_path):
    path = shell_campaign(tmp_path, "echo start {job}; if [ {job} -eq 1 ]; then echo boom-{job}; exit 3; fi; "
                                    "echo {job} > {outputs[0]}", retries=1)
    result = relval("run", str(path), "--local", "--workdir", str(tmp_path / "w"), "--json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "FAIL"
    assert doc["jobs"] == {"total": 4, "done": 2, "failed": 1}
    [failed] = doc["failed_jobs"]
    assert (failed["stage"], failed["unit"]) == ("work", "d/0001")
    assert "boom-1" in failed["log_tail"] and "exit code 3" in failed["log_tail"]
    log = tmp_path / "w" / "candidate-r2" / "sh.makeflow.makeflowlog"
    assert read_status(log).attempts[1] == 2  # retries: 1 -> two attempts
    assert "1 of 4 jobs did not run" in " ".join(doc["reasons"])


def test_crash_pattern_fails_a_job_that_exits_0(tmp_path):
    path = shell_campaign(tmp_path, "echo {job} > {outputs[0]}; [ {job} -eq 0 ] && echo 'Segmentation fault "
                                    "(core dumped)'; [ {job} -eq 2 ] && echo 'E-MyFatal: bad'; true",
                          validation={"error_patterns": ["E-MyFatal"]})
    result = relval("run", str(path), "--local", "--workdir", str(tmp_path / "w"), "--json")
    doc = json.loads(result.stdout)
    assert result.returncode == 1 and doc["verdict"] == "FAIL"
    tails = {j["unit"]: j["log_tail"] for j in doc["failed_jobs"]}
    assert sorted(tails) == ["d/0000", "d/0002"]
    assert "relval-job: crash pattern in log line 1: Segmentation fault (core dumped)" in tails["d/0000"]
    assert "crash pattern in log line 1: E-MyFatal: bad" in tails["d/0002"]
    assert "exit code 98" in tails["d/0000"]


def test_killing_makeflow_and_rerunning_resumes(tmp_path):
    # ran.txt is outside the workflow: each job runs in a private directory of its own.
    ran_file = tmp_path / "ran.txt"
    # 1 s a job: on 2 cores the 12 jobs take 6 s, so the kill after the third completion
    # lands mid-run even on a loaded machine.
    path = shell_campaign(tmp_path, f"sleep 1; echo {{job}} >> {ran_file}; echo {{job}} > {{outputs[0]}}",
                          jobs=12)
    workdir = tmp_path / "w"
    log = workdir / "candidate-r2" / "sh.makeflow.makeflowlog"
    proc = subprocess.Popen([*RELVAL, "run", str(path), "--local", "--workdir", str(workdir), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if log.exists() and sum(1 for _, _, s in node_lines(log) if s == COMPLETE) >= 3:
            break
        time.sleep(0.05)
    os.kill(int((workdir / "candidate-r2" / "makeflow.pid").read_text()), signal.SIGTERM)
    first_out, _ = proc.communicate(timeout=60)
    # A stopped run is no verdict (exit 3), not a regression (before: FAIL, exit 1).
    assert (json.loads(first_out)["verdict"], proc.returncode) == ("NO_VERDICT", 3)
    done_before = {n for start, n, s in node_lines(log) if s == COMPLETE}
    assert 3 <= len(done_before) < 13

    result = relval("run", str(path), "--local", "--workdir", str(workdir), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["jobs"] == {"total": 13, "done": 13, "failed": 0}
    rows = node_lines(log)
    second = max(start for start, _, _ in rows)
    rerun = {n for start, n, s in rows if start == second and s == RUNNING}
    assert not rerun & done_before                      # finished jobs were not run again
    assert rerun | done_before == set(range(13))        # and the rest was
    ran = ran_file.read_text().split()
    for node in done_before - {12}:
        assert ran.count(str(node)) == 1


def test_status_of_a_finished_run(tmp_path):
    path = shell_campaign(tmp_path, "echo {job} > {outputs[0]}")
    assert relval("run", str(path), "--local", "--workdir", str(tmp_path / "w")).returncode == 0
    result = relval("status", str(tmp_path / "w"), "--json")
    assert result.returncode == 0, result.stderr
    [chain] = json.loads(result.stdout)["workflows"]
    assert chain["name"] == "candidate-r2" and chain["state"] == "finished" and chain["succeeded"]
    assert chain["stages"]["work"] == {"total": 3, "waiting": 0, "running": 0, "done": 3, "failed": 0}
    table = relval("status", str(tmp_path / "w" / "candidate-r2"))
    assert table.returncode == 0 and "work" in table.stdout and "finished" in table.stdout
    watch = relval("status", str(tmp_path / "w"), "--watch", "--json", timeout=30)
    assert watch.returncode == 0 and json.loads(watch.stdout.splitlines()[-1])["workflows"][0]["done"] == 4


def test_interrupting_relval_stops_makeflow_and_its_jobs(tmp_path):
    from relval.workflows.run import prepare, run_chains
    from relval.workflows.status import PID_FILE, parse_status

    path = shell_campaign(tmp_path, "sleep 30; echo {job} > {outputs[0]}", jobs=2)
    _, _, chains = prepare(path, tmp_path / "w")
    seen = []

    def interrupt(role, release, status):
        seen.append(status.state)
        if status.stages.get("work") and status.stages["work"].running:
            raise KeyboardInterrupt

    started = time.time()
    with pytest.raises(KeyboardInterrupt):
        run_chains(chains, 0, on_status=interrupt, poll_s=0.05)
    assert time.time() - started < 20  # the 30 s jobs were not waited for
    directory = chains[0].directory
    assert not (directory / PID_FILE).exists()
    log = chains[0].workflow.log_path.read_bytes()
    assert parse_status(log).state in ("aborted", "failed")
    deadline = time.time() + 10
    while processes_in(directory) and time.time() < deadline:
        time.sleep(0.1)
    assert processes_in(directory) == []  # no job left sleeping in the workflow directory
    assert not any((directory / f"d.000{i}.out.txt").exists() for i in range(2))


def processes_in(directory: Path) -> list[int]:
    """Pids of processes whose working directory is `directory`."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(os.readlink(proc / "cwd")) == directory.resolve():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


# --- exit codes: 0 PASS, 1 FAIL, 2 bad input, 3 no verdict ---------------------------------

def test_missing_reference_outputs_stop_before_any_job_runs(tmp_path):
    """Before: a missing reference directory gave `verdict: PASS`, exit 0."""
    path = shell_campaign(tmp_path, "echo {job} > {outputs[0]}",
                          reference={"outputs": str(tmp_path / "nowhere")}, compare={"files": ["sum.txt"]})
    result = relval("run", str(path), "--local", "--workdir", str(tmp_path / "w"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"reference.outputs: {tmp_path / 'nowhere'}: no such directory" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "w").exists()


def test_a_remote_reference_url_stops_before_any_job_runs(tmp_path):
    url = "root://127.0.0.1:1//eos/ref"  # loopback, closed: never depends on the network
    path = shell_campaign(tmp_path, "echo {job} > {outputs[0]}", reference={"outputs": url},
                          compare={"files": ["sum.txt"]})
    result = relval("run", str(path), "--local", "--workdir", str(tmp_path / "w"))
    assert result.returncode == 3 and f"{url} cannot be read" in result.stderr
    assert not (tmp_path / "w").exists()


def test_without_compare_no_reference_chain_runs_and_the_output_says_so(tmp_path):
    """Before: the reference chain ran for nothing and the verdict was PASS."""
    path = shell_campaign(tmp_path, "echo {release} {job} > {outputs[0]}", reference={"release": "r1"})
    result = relval("run", str(path), "--local", "--workdir", str(tmp_path / "w"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("verdict: JOBS_PASSED (4/4 jobs done): no QA comparison was made (the campaign has no "
            "compare: section)") in result.stdout
    assert "PASS" not in result.stdout.replace("JOBS_PASSED", "")
    assert [p.name for p in (tmp_path / "w").iterdir() if p.is_dir()] == ["candidate-r2"]
    report = json.loads((tmp_path / "w" / "report.json").read_text())
    assert (report["verdict"], report["exit_code"], report["qa_used"]) == ("JOBS_PASSED", 0, False)
    assert "no QA comparison was made" in (tmp_path / "w" / "report.md").read_text()


def test_a_failed_reference_chain_is_no_verdict(tmp_path):
    """Before: exit 1, as if the release under validation had regressed."""
    path = shell_campaign(tmp_path, "[ {release} = r1 ] && exit 4; echo {job} > {outputs[0]}",
                          reference={"release": "r1"}, compare={"files": ["sum.txt"]})
    result = relval("run", str(path), "--local", "--workdir", str(tmp_path / "w"), "--json")
    doc = json.loads(result.stdout)
    assert (result.returncode, doc["verdict"], doc["exit_code"]) == (3, "NO_VERDICT", 3)
    assert "the reference chain did not finish: nothing to compare with" in doc["reasons"]


def test_a_comparison_that_compares_nothing_is_no_verdict(tmp_path):
    """ROOT files without a single histogram: nothing graded, so no PASS."""
    empty = "python3 -c \"import uproot; uproot.recreate('{outputs[0]}')\""
    path = shell_campaign(tmp_path, "echo {job} > {outputs[0]}", reference={"release": "r1"},
                          compare={"files": ["sum.root"]})
    doc = yaml.safe_load(path.read_text())
    doc["stages"][1].update(command=empty.replace("{outputs[0]}", "{outputs[0]}"), outputs=["sum.root"])
    path.write_text(yaml.safe_dump(doc))
    result = relval("run", str(path), "--local", "--workdir", str(tmp_path / "w"), "--json")
    doc = json.loads(result.stdout)
    assert (result.returncode, doc["verdict"]) == (3, "NO_VERDICT"), result.stderr
    assert any("compared nothing" in r or "tested nothing" in r for r in doc["reasons"])


def test_release_overrides_and_a_new_release_gets_its_own_directory(tmp_path):
    """Before: the release could only be chosen in the file, and every release shared
    `candidate/`. Now --release/--reference-release override it, each release runs in
    its own directory, and status shows the latest run's chains."""
    path = shell_campaign(tmp_path, "echo {release} {job} > {outputs[0]}", reference={"release": "r1"},
                          compare={"files": ["sum.txt"]})
    work = tmp_path / "w"
    first = relval("run", str(path), "--local", "--workdir", str(work), "--json")
    assert json.loads(first.stdout)["chains"][0]["release"] == "r2", first.stderr
    second = relval("run", str(path), "--local", "--workdir", str(work), "--json",
                    "--release", "r3", "--reference-release", "r0")
    doc = json.loads(second.stdout)
    assert [(c["role"], c["release"]) for c in doc["chains"]] == [("candidate", "r3"), ("reference", "r0")]
    assert (work / "candidate-r3" / "d.0000.out.txt").read_text() == "r3 0\n"
    assert (work / "reference-r0" / "d.0000.out.txt").read_text() == "r0 0\n"
    assert (work / "candidate-r2" / "d.0000.out.txt").read_text() == "r2 0\n"   # untouched
    status = json.loads(relval("status", str(work), "--json").stdout)
    assert [w["name"] for w in status["workflows"]] == ["candidate-r3", "reference-r0"]
    bad = relval("run", str(path), "--local", "--workdir", str(work), "--release", "a b")
    assert bad.returncode == 2 and "--release: must be a release name without spaces" in bad.stderr
