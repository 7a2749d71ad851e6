"""`relval qa regrade` (new thresholds, no ROOT file read) and `relval qa diff` (grade changes)."""

from __future__ import annotations

import json

import numpy as np

from relval.workflows.qa import compare_paths

from .qa_support import gaus_counts, write_root
from .test_qa_cli import run  # noqa: F401 - the in-process CLI fixture


def _results(tmp_path):
    rng = np.random.default_rng(41)
    same = gaus_counts(rng)
    new = write_root(tmp_path / "new.root", {"QA/vz": gaus_counts(rng, mean=0.1), "QA/pt": same,
                                             "QA/n": gaus_counts(rng, n=26000)})
    ref = write_root(tmp_path / "ref.root", {"QA/vz": gaus_counts(rng), "QA/pt": same, "QA/n": gaus_counts(rng)})
    out = tmp_path / "first"
    summary = compare_paths(new, ref, out_dir=out)
    return summary, out, new, ref


def test_regrade_applies_new_thresholds_without_reading_root_files(tmp_path, run):
    summary, out, new, ref = _results(tmp_path)
    grades = {r.name: r.grade for r in summary.results}
    assert grades["QA/vz"] == "BAD" and grades["QA/n"] == "BAD"  # 0.1 sigma shift; 30% more entries
    new.unlink()
    ref.unlink()  # nothing left to read: regrade works from Summary.json alone
    loose = tmp_path / "loose.yaml"
    loose.write_text("tests:\n  entries: {warning: 0.5, bad: 0.9}\noverrides:\n"
                     "  - match: QA/vz\n    chi2: {bad: 1.0e-300}\n    ks: {bad: 1.0e-300}\n")
    result = run("qa", "regrade", out, "--thresholds", loose, "--json", "-o", tmp_path / "second")
    document = json.loads(result.stdout)
    regraded = {o["name"]: o["grade"] for o in document["objects"]}
    assert regraded["QA/n"] == "GOOD"
    expected_vz = "WARNING" if summary.results[0].tests["chi2"]["p"] > 1e-300 else "BAD"
    assert regraded["QA/vz"] == expected_vz
    assert result.returncode == (1 if "BAD" in regraded.values() else 0)
    assert json.loads((tmp_path / "second" / "Summary.json").read_text())["counts"] == document["counts"]


def test_regrade_refuses_a_missing_result_and_reports_tests_it_cannot_add(tmp_path, run):
    missing = run("qa", "regrade", tmp_path / "nothing", "--thresholds", tmp_path / "t.yaml")
    assert missing.returncode == 2 and "Summary.json" in missing.stderr and "Traceback" not in missing.stderr
    rng = np.random.default_rng(42)
    path = write_root(tmp_path / "f.root", {"h": gaus_counts(rng)})
    compare_paths(path, path, out_dir=tmp_path / "noks", thresholds={"tests": {"ks": {"enabled": False}}})
    defaults = tmp_path / "defaults.yaml"
    defaults.write_text("{}\n")
    result = run("qa", "regrade", tmp_path / "noks", "--thresholds", defaults)
    assert result.returncode == 0 and "test ks was not run" in result.stderr


def test_diff_lists_objects_whose_grade_changed(tmp_path, run):
    summary, out, _, _ = _results(tmp_path)
    loose = tmp_path / "loose.yaml"
    loose.write_text("tests:\n  entries: {enabled: false}\n")
    assert run("qa", "regrade", out, "--thresholds", loose, "-o", tmp_path / "b").returncode == 1
    same = run("qa", "diff", out, out)
    assert same.returncode == 0 and "no grade changed" in same.stdout
    changed = run("qa", "diff", out, tmp_path / "b", "--json")
    assert changed.returncode == 1
    assert json.loads(changed.stdout) == [{"name": "QA/n", "before": "BAD", "after": "GOOD", "reason": ""}]


def test_regrade_will_not_overwrite_the_results_it_reads(tmp_path, run):
    summary, out, _, _ = _results(tmp_path)
    before = (out / "Summary.json").read_text()
    plots = sorted(out.glob("plots/*.png"))
    loose = tmp_path / "loose.yaml"
    loose.write_text("{}\n")
    result = run("qa", "regrade", out, "--thresholds", loose, "-o", out)
    assert result.returncode == 2 and "results directory" in result.stderr
    assert (out / "Summary.json").read_text() == before and sorted(out.glob("plots/*.png")) == plots and plots
