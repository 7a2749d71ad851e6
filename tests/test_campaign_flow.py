"""`relval campaign` orchestration with the infrastructure steps replaced at their boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

from relval.campaign import EXIT_ERROR, EXIT_FAIL, EXIT_PASS, artifacts_dir, run_campaign
from relval.errors import RelvalError


class FakeSteps:
    def __init__(self, verdict="PASS", fail_at=None, error=RelvalError("boom")):
        self.calls: list[str] = []
        self.verdict, self.fail_at, self.error = verdict, fail_at, error

    def _record(self, name):
        self.calls.append(name)
        if name == self.fail_at:
            raise self.error

    def up(self, stack):
        self._record("up")
        return {"headAddress": "10.0.0.5", "headHostPublicKey": "ssh-ed25519 AAAA"}

    def wait_ready(self, stack, outputs):
        assert outputs["headAddress"] == "10.0.0.5"
        self._record("wait_ready")

    def submit(self, campaign, stack):
        self._record("submit")
        return "~/relval/smoke"

    def follow(self, stack, name):
        self._record("follow")

    def fetch(self, stack, name, destination):
        self._record("fetch")
        return {"verdict": self.verdict, "report": str(destination / "report.html")}

    def down(self, stack):
        self._record("down")


ORDER = ["up", "wait_ready", "submit", "follow", "fetch", "down"]


def run(steps, keep=False, root=Path("/tmp/relval-test")):
    ticks = iter(range(0, 1000, 5))
    messages: list[str] = []
    result = run_campaign(Path("examples/smoke.yaml"), "smoke", "rel-1", steps, keep=keep,
                          root=root, announce=messages.append, clock=lambda: next(ticks))
    return result, messages


def test_steps_run_in_order_and_down_last():
    steps = FakeSteps()
    result, messages = run(steps)
    assert steps.calls == ORDER
    assert result.verdict == "PASS" and result.exit_code == EXIT_PASS
    assert [s.name for s in result.steps] == ["up", "wait for the head", "submit", "follow",
                                              "fetch", "down"]
    assert all(s.ok and s.seconds == 5 for s in result.steps)
    assert "up done in 5 s" in messages and "verdict: PASS" in messages


def test_fail_verdict_exits_1_and_still_tears_down():
    steps = FakeSteps(verdict="FAIL")
    result, _ = run(steps)
    assert steps.calls == ORDER
    assert result.exit_code == EXIT_FAIL and result.error is None


@pytest.mark.parametrize("failing", ["up", "wait_ready", "submit", "follow", "fetch"])
def test_down_runs_after_any_failure_and_exit_is_2(failing):
    steps = FakeSteps(fail_at=failing)
    result, messages = run(steps)
    assert steps.calls == ORDER[:ORDER.index(failing) + 1] + ["down"]
    assert result.exit_code == EXIT_ERROR and result.error == "boom"
    assert result.steps[-1].name == "down" and result.steps[-1].ok
    assert any(m.startswith(f"{result.steps[-2].name} failed after") for m in messages)


def test_unexpected_exceptions_also_tear_down():
    steps = FakeSteps(fail_at="follow", error=ConnectionResetError("ssh dropped"))
    result, _ = run(steps)
    assert steps.calls[-1] == "down"
    assert result.exit_code == EXIT_ERROR and "ConnectionResetError: ssh dropped" in result.error


def test_keep_skips_down():
    steps = FakeSteps()
    result, _ = run(steps, keep=True)
    assert steps.calls == ORDER[:-1] and result.kept and result.exit_code == EXIT_PASS


def test_keep_skips_down_even_after_failure():
    steps = FakeSteps(fail_at="submit")
    result, _ = run(steps, keep=True)
    assert "down" not in steps.calls and result.exit_code == EXIT_ERROR


def test_a_failing_down_is_reported():
    steps = FakeSteps(fail_at="down")
    result, _ = run(steps)
    assert result.verdict == "PASS" and result.exit_code == EXIT_ERROR
    assert result.error == "down failed: boom"


def test_missing_verdict_is_an_error():
    steps = FakeSteps(verdict=None)
    result, _ = run(steps)
    assert result.exit_code == EXIT_ERROR and "no verdict" in result.error
    assert steps.calls[-1] == "down"


def test_no_verdict_and_broken_steps_exit_3_and_jobs_only_exits_0():
    """Before: a broken step exited 2, like bad input; only PASS/FAIL were known verdicts."""
    assert EXIT_ERROR == 3
    for verdict, code in (("NO_VERDICT", 3), ("JOBS_PASSED", 0), ("FAIL", 1), ("PASS", 0)):
        result, _ = run(FakeSteps(verdict=verdict))
        assert (result.verdict, result.exit_code, result.error) == (verdict, code, None)


def test_a_missing_reference_stops_relval_campaign_before_up(tmp_path):
    """Exit 3 and the reason before any cloud step (no Pulumi CLI or stack file needed)."""
    import subprocess
    import sys

    import yaml

    from .conftest import REPO

    doc = yaml.safe_load((REPO / "examples" / "smoke.yaml").read_text())
    doc["reference"] = {"outputs": str(tmp_path / "gone")}
    for stage in doc["stages"]:
        stage["files"] = [str(REPO / f) for f in stage.get("files", [])]
    campaign = tmp_path / "c.yaml"
    campaign.write_text(yaml.safe_dump(doc))
    result = subprocess.run([sys.executable, "-m", "relval", "campaign", str(campaign), "--stack",
                             "no-such-stack"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert f"reference.outputs: {tmp_path / 'gone'}: no such directory" in result.stderr
    assert not (tmp_path / "reports").exists()


def test_artifacts_land_under_reports_stack_campaign(tmp_path):
    steps = FakeSteps()
    result, _ = run(steps, root=tmp_path)
    assert result.artifacts == str(tmp_path / "reports" / "rel-1" / "smoke")
    assert artifacts_dir(tmp_path, "rel-1", "smoke") == tmp_path / "reports" / "rel-1" / "smoke"
    assert result.report == str(tmp_path / "reports" / "rel-1" / "smoke" / "report.html")
    assert result.to_json()["exit_code"] == EXIT_PASS


# --- the real steps against a real sshd (up/down replaced: no cloud here) ---------------------------

from .submit_sshd import sshd, tiny_campaign  # noqa: E402,F401 (sshd: a fixture)



@pytest.mark.parametrize("gen,verdict,code", [("", "JOBS_PASSED", EXIT_PASS),
                                              ("test {job} = 1 && exit 3;", "FAIL", EXIT_FAIL)])
def test_campaign_through_the_real_steps(sshd, tmp_path, monkeypatch, gen, verdict, code):
    """A campaign without compare: runs no reference chain, and its exit-0 verdict says
    that no QA comparison was made."""
    from relval import lifecycle
    from relval.campaign_steps import ClusterSteps
    from relval.infra import automation

    name = f"flow{code}"
    campaign = tiny_campaign(tmp_path, name, gen, compare=False)
    outputs = sshd.outputs(tmp_path / "outputs.json")
    events = []
    monkeypatch.setattr(automation, "up", lambda stack, on_output: events.append("up") or {})
    monkeypatch.setattr(lifecycle, "down", lambda stack, on_output: events.append("down"))
    steps = ClusterSteps(campaign, sshd.head(outputs), batch="local",
                         remote_base=str(tmp_path / "remote"), say=lambda line: None, poll_s=0.2,
                         ready_timeout_s=30)
    result = run_campaign(campaign, name, "t1", steps, root=tmp_path)
    assert events == ["up", "down"], result.error
    assert result.error is None and result.verdict == verdict and result.exit_code == code
    work = artifacts_dir(tmp_path, "t1", name) / "work"
    assert [p.name for p in work.iterdir() if p.is_dir()] == ["candidate-toy-v2-188798"]  # no reference chain
    assert [p.name for p in (tmp_path / "remote" / name).iterdir() if p.is_dir()] == ["candidate-toy-v2-188798"]
    assert Path(result.report).is_file() and Path(result.report).parent == work
    import json

    report = json.loads((work / "report.json").read_text())
    assert report["verdict"] == verdict and not report["qa_used"]
    assert report["jobs"]["failed"] == (1 if verdict == "FAIL" else 0)
    if verdict == "JOBS_PASSED":
        assert "no QA comparison was made" in (work / "report.md").read_text()


def test_a_second_campaign_takes_the_reference_from_the_archive(sshd, tmp_path, monkeypatch):
    """The first campaign runs the reference chain on the head and archives it; the second
    (a fresh head directory) runs only the candidate chain there, and its report names
    the archived run it compared with."""
    import json

    from relval import lifecycle
    from relval.campaign_steps import ClusterSteps
    from relval.infra import automation
    from relval.workflows.archive import resolve_url
    from relval.workflows.archive.store import store_outcome

    monkeypatch.setattr(automation, "up", lambda stack, on_output: {})
    monkeypatch.setattr(lifecycle, "down", lambda stack, on_output: None)
    campaign, archive = tiny_campaign(tmp_path, "arch"), resolve_url(str(tmp_path / "archive"))
    outputs = sshd.outputs(tmp_path / "outputs.json")
    results = []
    for n in (1, 2):
        steps = ClusterSteps(campaign, sshd.head(outputs), batch="local",
                             remote_base=str(tmp_path / f"remote{n}"), say=lambda line: None,
                             poll_s=0.2, ready_timeout_s=30, archive=archive)
        root = tmp_path / f"local{n}"
        result = run_campaign(campaign, "arch", "t1", steps, root=root,
                              archive=lambda fetched: store_outcome(fetched["result"], archive))
        assert result.error is None and result.archive and result.archive["error"] is None
        remote = sorted(p.name for p in (tmp_path / f"remote{n}" / "arch").iterdir() if p.is_dir())
        results.append((result, remote, json.loads((artifacts_dir(root, "t1", "arch") / "work"
                                                     / "report.json").read_text())))
    (first, remote1, _), (second, remote2, report2) = results
    assert remote1 == ["candidate-toy-v2-188798", "reference-toy-v1-0aac6d"]
    reference_run = next(r for r in first.archive["runs"] if "/toy-v1-" in r)
    assert remote2 == ["candidate-toy-v2-188798"]               # no reference chain on the head
    assert not (tmp_path / "remote2" / "arch" / "reference-fetched").exists()  # not uploaded
    assert report2["reference_source"]["source"] == "archive"
    assert report2["reference_source"]["run"] == reference_run
    assert [c["role"] for c in report2["chains"]] == ["candidate"]
    assert second.verdict == first.verdict
