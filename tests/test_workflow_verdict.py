"""The verdict: jobs first, then the QA summary when there is one."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from relval.workflows.makeflow import generate
from relval.errors import NoVerdictError
from relval.workflows.run import Chain, check_reference, compared_files
from relval.workflows.verdict import ChainResult, FailedJob, decide, qa_passed

from .conftest import REPO


def chain(role="candidate", total=4, done=4, failed=0, jobs=()):
    return ChainResult(role, "r", total, done, failed, tuple(jobs))


GRADED = {"verdict": "PASS", "counts": {"GOOD": 5, "WARNING": 1, "BAD": 0, "NOT_COMPARED": 2}}


def test_all_jobs_done_with_a_passing_comparison_passes():
    verdict = decide(chain(), chain("reference"), GRADED)
    assert (verdict.verdict, verdict.exit_code, verdict.qa_used) == ("PASS", 0, True)


def test_no_qa_summary_is_never_a_pass():
    """Before: every job done and no QA summary gave PASS (exit 0)."""
    verdict = decide(chain(), chain("reference"), None, qa_problem="reference file missing")
    assert (verdict.verdict, verdict.exit_code) == ("NO_VERDICT", 3)
    assert verdict.reasons == ("reference file missing",)


def test_a_comparison_that_graded_nothing_is_no_verdict():
    nothing = {"verdict": "PASS", "counts": {"GOOD": 0, "WARNING": 0, "BAD": 0, "NOT_COMPARED": 7}}
    verdict = decide(chain(), chain("reference"), nothing)
    assert (verdict.verdict, verdict.exit_code) == ("NO_VERDICT", 3)
    assert "compared nothing" in verdict.reasons[0]


def test_without_compare_the_jobs_pass_but_it_is_not_called_pass():
    verdict = decide(chain(), None, None, compare=False)
    assert (verdict.verdict, verdict.exit_code, verdict.qa_used) == ("JOBS_PASSED", 0, False)
    assert "no QA comparison was made" in verdict.notes[0]


def test_failed_candidate_jobs_fail():
    failed = chain(done=2, failed=1, jobs=[FailedJob("sim", "pp/0001", "boom")])
    verdict = decide(failed, chain("reference"))
    assert (verdict.verdict, verdict.exit_code) == ("FAIL", 1)
    assert verdict.reasons == ("candidate r: 1 of 4 jobs failed", "candidate r: 1 of 4 jobs did not run")
    assert decide(failed, None, None, compare=False).verdict == "FAIL"


def test_a_failed_reference_chain_or_an_unfinished_run_is_no_verdict():
    """Before: a failed reference chain gave FAIL (exit 1), like a regression."""
    broken_reference = decide(chain(), chain("reference", done=3, failed=1), GRADED)
    assert (broken_reference.verdict, broken_reference.exit_code) == ("NO_VERDICT", 3)
    assert "reference chain did not finish" in broken_reference.reasons[-1]
    stopped = decide(chain(done=2), chain("reference"), None)
    assert (stopped.verdict, stopped.exit_code) == ("NO_VERDICT", 3)
    assert decide(None).verdict == "NO_VERDICT"


@pytest.mark.parametrize("summary,expected", [
    ({"verdict": "PASS"}, True), ({"verdict": "WARNING"}, True), ({"verdict": "FAIL"}, False),
    (SimpleNamespace(verdict="FAIL"), False), ({"passed": True}, True), ({"worst": "BAD"}, False),
    ({"grade": "WARNING"}, True), ({"something": 1}, None),
])
def test_qa_summaries_are_read_leniently(summary, expected):
    assert qa_passed(summary) is expected


def test_qa_decides_when_jobs_pass():
    bad = decide(chain(), chain("reference"), {"verdict": "FAIL", "counts": {"BAD": 1}})
    assert bad.reasons == ("QA comparison with the reference failed",) and bad.exit_code == 1
    assert decide(chain(), chain("reference"), {"verdict": "WARNING"}).verdict == "PASS"
    unknown = decide(chain(), chain("reference"), {"nothing": 1})
    assert unknown.verdict == "NO_VERDICT" and unknown.qa_passed is None


def test_compared_files_and_missing_reference_outputs(tmp_path):
    workflow = generate(REPO / "examples" / "smoke.yaml", tmp_path / "c")
    assert compared_files(Chain("candidate", workflow)) == ["pp.QAmerged.root"]
    remote = replace(workflow.campaign, reference_release=None, reference_outputs="root://eos//ref")
    with pytest.raises(NoVerdictError, match="root://eos//ref cannot be read") as caught:
        check_reference(remote)
    assert caught.value.exit_code == 3
    missing = replace(workflow.campaign, reference_release=None, reference_outputs=str(tmp_path / "nowhere"))
    with pytest.raises(NoVerdictError, match="no such directory"):
        check_reference(missing)
    (tmp_path / "ref").mkdir()
    partial = replace(missing, reference_outputs=str(tmp_path / "ref"))
    with pytest.raises(NoVerdictError, match="lacks the compared file.s. pp.QAmerged.root"):
        check_reference(partial)
    (tmp_path / "ref" / "pp.QAmerged.root").write_bytes(b"")
    check_reference(partial)


def test_qa_that_tested_nothing_is_no_verdict():
    from relval.workflows.verdict import NO_VERDICT, ChainResult, decide

    ok = ChainResult("candidate", "v2", total=3, done=3, failed=0)
    for qa in ({"verdict": "NO_VERDICT", "counts": {"GOOD": 2}}, {"verdict": "PASS", "tested": 0,
                                                                 "counts": {"GOOD": 2}}):
        verdict = decide(ok, ChainResult("reference", "v1", total=3, done=3, failed=0), qa=qa)
        assert verdict.verdict == NO_VERDICT and verdict.exit_code == 3
