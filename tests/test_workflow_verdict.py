"""The verdict: jobs first, then the QA summary when there is one."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from relval.workflows.makeflow import generate
from relval.workflows.run import Chain, compared_files, run_qa
from relval.workflows.verdict import ChainResult, FailedJob, decide, qa_passed

from .conftest import REPO


def chain(role="candidate", total=4, done=4, failed=0, jobs=()):
    return ChainResult(role, "r", total, done, failed, tuple(jobs))


def test_all_jobs_done_without_qa_passes_and_says_so():
    verdict = decide([chain(), chain("reference")])
    assert verdict.verdict == "PASS" and not verdict.qa_used
    assert verdict.notes == ("no QA comparison: the verdict comes from the jobs alone",)


def test_failed_or_missing_jobs_fail():
    failed = chain(done=2, failed=1, jobs=[FailedJob("sim", "pp/0001", "boom")])
    verdict = decide([failed, chain("reference")])
    assert verdict.verdict == "FAIL"
    assert verdict.reasons == ("candidate r: 1 of 4 jobs failed", "candidate r: 1 of 4 jobs did not run")
    assert decide([]).verdict == "FAIL"


@pytest.mark.parametrize("summary,expected", [
    ({"verdict": "PASS"}, True), ({"verdict": "WARNING"}, True), ({"verdict": "FAIL"}, False),
    (SimpleNamespace(verdict="FAIL"), False), ({"passed": True}, True), ({"worst": "BAD"}, False),
    ({"grade": "WARNING"}, True), ({"something": 1}, None),
])
def test_qa_summaries_are_read_leniently(summary, expected):
    assert qa_passed(summary) is expected


def test_qa_decides_when_jobs_pass():
    assert decide([chain()], {"verdict": "FAIL"}).reasons == ("QA comparison with the reference failed",)
    assert decide([chain()], {"verdict": "WARNING"}).verdict == "PASS"
    unknown = decide([chain()], {"nothing": 1})
    assert unknown.verdict == "FAIL" and unknown.qa_passed is None


def test_compared_files_and_remote_reference_note(tmp_path):
    workflow = generate(REPO / "examples" / "smoke.yaml", tmp_path / "c")
    candidate = Chain("candidate", workflow)
    assert compared_files(candidate) == ["pp.QAmerged.root"]
    remote = replace(workflow.campaign, reference_release=None, reference_outputs="root://eos//ref")
    summary, note = run_qa(remote, [candidate], tmp_path / "qa")
    assert summary is None and "are remote" in note
    missing = replace(workflow.campaign, reference_release=None, reference_outputs=str(tmp_path / "nowhere"))
    summary, note = run_qa(missing, [candidate], tmp_path / "qa")
    assert summary is None and note.startswith("QA comparison skipped:") and "missing" in note
