"""What O2DPG RelVal users expect: --include/--exclude, and a warning for bit-identical inputs."""

from __future__ import annotations

import json

import numpy as np

from relval.workflows.qa import compare_paths

from .qa_support import gaus_counts, write_root
from .test_qa_cli import run  # noqa: F401 - the in-process CLI fixture


def _files(tmp_path):
    rng = np.random.default_rng(31)
    same = {f"QA/{d}/h{i}": gaus_counts(rng) for d in ("tpc", "its") for i in range(3)}
    new = write_root(tmp_path / "new.root", {**same, "QA/tpc/bad": gaus_counts(rng, mean=0.5)})
    ref = write_root(tmp_path / "ref.root", {**same, "QA/tpc/bad": gaus_counts(rng)})
    return new, ref


def test_include_and_exclude_select_objects_by_glob(tmp_path):
    new, ref = _files(tmp_path)
    only_its = compare_paths(new, ref, include=["QA/its/*"])
    assert sorted(r.name for r in only_its.results) == ["QA/its/h0", "QA/its/h1", "QA/its/h2"]
    assert only_its.verdict != "FAIL"
    without_bad = compare_paths(new, ref, exclude=["*/bad"])
    assert len(without_bad.results) == 6 and without_bad.verdict != "FAIL"
    both = compare_paths(new, ref, include=["QA/tpc/*"], exclude=["*h1"])
    assert sorted(r.name for r in both.results) == ["QA/tpc/bad", "QA/tpc/h0", "QA/tpc/h2"]


def test_include_matching_nothing_is_no_verdict_with_a_warning(tmp_path, run):
    new, ref = _files(tmp_path)
    result = run("qa", "compare", new, ref, "--include", "QA/tof/*", "--json")
    assert result.returncode == 3
    document = json.loads(result.stdout)
    assert document["verdict"] == "NO_VERDICT" and document["objects"] == []
    assert any("QA/tof/*" in w for w in document["warnings"]) and "QA/tof/*" in result.stderr


def test_cli_exclude(tmp_path, run):
    new, ref = _files(tmp_path)
    result = run("qa", "compare", new, ref, "--exclude", "*/bad", "--exclude", "QA/its/*", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(o["name"] for o in json.loads(result.stdout)["objects"]) == ["QA/tpc/h0", "QA/tpc/h1", "QA/tpc/h2"]


def test_bit_identical_objects_are_flagged_and_warned(tmp_path, run):
    new, ref = _files(tmp_path)
    partly = compare_paths(new, ref)
    identical = {r.name for r in partly.results if "identical" in r.flags}
    assert identical == {f"QA/{d}/h{i}" for d in ("tpc", "its") for i in range(3)}
    assert any("6 of 7" in w and "bit-identical" in w for w in partly.warnings)
    result = run("qa", "compare", ref, ref, "--json")
    assert result.returncode == 0
    assert "every compared object is bit-identical" in result.stderr
