"""`relval campaign` archives after the verdict and before down; a failed archive is exit 3
with the verdict kept, and the cluster still goes down."""

from __future__ import annotations

from pathlib import Path

from relval.campaign import EXIT_ERROR, EXIT_FAIL, run_campaign
from relval.workflows.archive.store import ArchiveReport

from .test_campaign_flow import ORDER, FakeSteps


def run_with_archive(steps, error=None):
    def archive(fetched):
        steps.calls.append("archive")
        assert fetched["verdict"] == steps.verdict
        return ArchiveReport("file:///a", runs=[] if error else ["smoke/r/t"], error=error)

    ticks = iter(range(0, 1000, 5))
    return run_campaign(Path("examples/smoke.yaml"), "smoke", "rel-1", steps, root=Path("/tmp/x"),
                        clock=lambda: next(ticks), archive=archive)


def test_archive_runs_after_the_verdict_and_before_down():
    steps = FakeSteps(verdict="FAIL")
    result = run_with_archive(steps)
    assert steps.calls == ORDER[:-1] + ["archive", "down"]
    assert result.exit_code == EXIT_FAIL and result.to_json()["archive"]["runs"] == ["smoke/r/t"]


def test_a_failed_archive_is_exit_3_keeps_the_verdict_and_still_tears_down():
    steps = FakeSteps(verdict="PASS")
    result = run_with_archive(steps, error="archiving to root://x failed")
    assert steps.calls[-2:] == ["archive", "down"]
    assert result.verdict == "PASS" and result.exit_code == EXIT_ERROR and result.error is None
    assert result.to_json()["archive"]["error"] == "archiving to root://x failed"
