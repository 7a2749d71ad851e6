"""The O2DPG stage kind: parsed into a job, run end to end through real makeflow with the
stand-in O2DPG of tests/fixtures/o2dpg (O2 and CVMFS are not available here)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from relval.errors import RelvalError
from relval.workflows.campaign import parse_campaign

FAKE_O2DPG = Path(__file__).resolve().parent / "fixtures" / "o2dpg"
needs_makeflow = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")


def campaign(**stage_changes) -> dict:
    stage = {
        "name": "mc", "per": "job",
        "o2dpg": {"args": "-eCM 13600 -col pp -gen pythia8 -proc inel -ns {events} -run {run_number} "
                          "-seed {job} --include-qc",
                  "timeframes": 2, "target_labels": ["AOD", "QC"],
                  "collect": {"AO2D.root": "AO2D.root", "vertexQC.root": "QC/vertexQC.root"}},
        "resources": {"cores": 8, "memory_mb": 16000, "wall_time_s": 600},
    }
    stage.update(stage_changes)
    return {
        "campaign": "o2dpg-test", "release": "O2PDPSuite::new",
        "reference": {"release": "O2PDPSuite::old"},
        "environment": {"setup": f"export O2DPG_ROOT={FAKE_O2DPG}",
                        "variables": {"PYTHONDONTWRITEBYTECODE": "1"}},
        "datasets": [{"name": "pp", "jobs": 2, "parameters": {"events": 4, "run_number": 526641}}],
        "stages": [stage],
        "compare": {"files": ["AO2D.root", "vertexQC.root"]},
    }


def test_an_o2dpg_stage_becomes_a_driver_job():
    parsed = parse_campaign(campaign())
    stage = parsed.stage("mc")
    assert stage.outputs == ("AO2D.root", "vertexQC.root", "mc-logs.tgz")
    assert [f.name for f in stage.files] == ["o2dpg_driver.py"]
    assert stage.command.startswith("python3 o2dpg_driver.py --timeframes 2 --target-labels AOD QC "
                                    "--cpu-limit 8 --mem-limit 16000 ")
    assert "--collect {outputs[0]}=AO2D.root --collect {outputs[1]}=QC/vertexQC.root --logs {outputs[2]}" \
        in stage.command
    assert stage.command.endswith("-- -eCM 13600 -col pp -gen pythia8 -proc inel -ns {events} "
                                  "-run {run_number} -seed {job} --include-qc")


@pytest.mark.parametrize("change, message", [
    ({"o2dpg": {"args": "-tf 3", "timeframes": 2, "target_labels": ["AOD"], "collect": {"a.root": "a.root"}}},
     "stages[0].o2dpg.args: sets -tf itself"),
    ({"o2dpg": {"args": "-ns 1", "timeframes": 2, "target_labels": ["AOD"]}}, "stages[0].o2dpg.collect: is required"),
    ({"o2dpg": {"args": "-ns {nope}", "timeframes": 2, "target_labels": ["AOD"], "collect": {"a.root": "a.root"}}},
     "stages[0].o2dpg: unknown placeholder {nope}"),
    ({"o2dpg": {"args": "-ns 1", "timeframes": 0, "target_labels": ["AOD"], "collect": {"a.root": "/abs"}}},
     "stages[0].o2dpg.timeframes"),
    ({"command": "echo", "o2dpg": {"args": "-ns 1", "timeframes": 1, "target_labels": ["AOD"],
                                   "collect": {"a.root": "a.root"}}}, "stages[0].command: an o2dpg stage"),
])
def test_bad_o2dpg_blocks_name_the_key(change, message):
    with pytest.raises(RelvalError) as error:
        parse_campaign(campaign(**change))
    assert any(message in problem for problem in error.value.problems), error.value.problems


def local_campaign() -> dict:
    """What fits this machine's makeflow -T local (2 cores): 2 cores, -j 2 for the simulation."""
    document = campaign(resources={"cores": 2, "memory_mb": 4000, "wall_time_s": 600})
    document["stages"][0]["o2dpg"]["args"] += " -j 2"
    document["environment"]["setup"] += f" && export PATH={Path(sys.executable).parent}:$PATH"
    return document


def _write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "o2dpg-test.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@needs_makeflow
def test_runs_end_to_end_through_makeflow_and_compares_the_outputs(tmp_path):
    from relval.workflows.run import run_local

    document = local_campaign()
    outcome = run_local(_write(tmp_path, document), tmp_path / "work")
    assert outcome.verdict.verdict == "PASS", (outcome.verdict.reasons, [r.failed_jobs for r in outcome.chains])
    work = Path(outcome.chains[0].directory)  # candidate-<release> (one directory per release)
    assert sorted(p.name for p in work.glob("pp.*.AO2D.root")) == ["pp.0000.AO2D.root", "pp.0001.AO2D.root"]
    import tarfile

    with tarfile.open(work / "pp.0000.mc-logs.tgz") as logs:
        names = logs.getnames()
    assert "workflow.json" in names and "tf2/aod_2.log" in names and "QC/vertexQC.log" in names
    assert any(n.startswith("pipeline_metric_") for n in names)
    # the tree columns and the QC histogram were compared, not skipped
    compared = {r.name: r.grade for r in outcome.qa.results}
    assert any(name.endswith("DF_*/O2track/fEta") for name in compared), compared
    assert any(name.endswith("vertex_z") for name in compared), compared
    assert outcome.qa.verdict == "PASS"


@needs_makeflow
def test_a_failed_task_is_named_with_its_log_tail_in_the_report(tmp_path):
    from relval.workflows.run import run_local

    document = local_campaign()
    document["environment"]["variables"]["FAKE_O2_FAIL"] = "tpcreco_2"
    document.pop("reference")
    document.pop("compare")  # only the jobs matter here (compare needs a reference)
    document["retries"] = 0
    outcome = run_local(_write(tmp_path, document), tmp_path / "work")
    assert outcome.verdict.verdict == "FAIL"
    failed = outcome.chains[0].failed_jobs
    assert len(failed) == 2
    tail = failed[0].log_tail
    assert "task tpcreco_2 (timeframe 2) failed" in tail
    assert "no clusters found in the digits" in tail  # the task's own log, not the runner's
    assert "failed task(s): tpcreco_2" in tail
    report = (tmp_path / "work" / "report.md").read_text()
    assert "tpcreco_2" in report and "no clusters found" in report


@needs_makeflow
def test_the_condor_submit_descriptions_carry_the_stage_resources(tmp_path):
    """makeflow -T condor against a condor_submit stand-in that keeps what it is given."""
    import os
    import subprocess
    import time

    import htcondor2

    from relval.workflows.makeflow import generate

    workflow = generate(parse_campaign(campaign()), tmp_path / "wf")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kept = tmp_path / "kept"
    kept.mkdir()
    (bin_dir / "condor_submit").write_text(
        "#!/bin/sh\n"  # makeflow passes the submit file as the last argument
        f"for last; do :; done; cp \"$last\" {kept}/submit.$$; n=$(ls {kept} | wc -l)\n"
        "echo \"1 job(s) submitted to cluster $n.\"\n")
    (bin_dir / "condor_submit").chmod(0o755)
    for tool in ("condor_q", "condor_rm"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "OMPI_MCA_ess_singleton_isolated": "1"}
    process = subprocess.Popen(["makeflow", "-T", "condor", workflow.makeflow_path.name],
                               cwd=workflow.directory, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(list(kept.iterdir())) < 2:
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)
    submits = sorted(kept.iterdir())
    assert len(submits) == 2
    for path in submits:
        submit = htcondor2.Submit(path.read_text().replace("queue", "").strip())
        assert submit["request_cpus"] == "8"
        assert int(submit["request_memory"]) == 16000
        assert "o2dpg_driver.py" in submit["transfer_input_files"]
        assert "python3 o2dpg_driver.py" in path.read_text()
