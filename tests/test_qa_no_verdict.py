"""Nothing compared is no verdict (exit 3), never PASS; a missing file is no verdict, not a pass."""

from __future__ import annotations

import json

import numpy as np
import pytest

from relval.workflows.qa import compare_paths

from .qa_support import gaus_counts, write_root
from .test_qa_cli import run  # noqa: F401 - fixture


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_a_file_pair_with_no_comparable_object_is_no_verdict(tmp_path):
    new = write_root(tmp_path / "new.root", {"note": "built on monday"})
    ref = write_root(tmp_path / "ref.root", {"note": "built on sunday"})
    summary = compare_paths(new, ref)
    assert summary.counts["NOT_COMPARED"] == 1
    assert summary.verdict == "NO_VERDICT" and summary.exit_code == 3
    assert summary.no_verdict == ["no comparable object in NEW and REF"]
    assert summary.to_dict()["no_verdict"] == summary.no_verdict


def test_one_directory_file_with_nothing_comparable_is_no_verdict(tmp_path, rng):
    for side in ("new", "ref"):
        (tmp_path / side).mkdir()
        write_root(tmp_path / side / "qa.root", {"h": gaus_counts(np.random.default_rng(1))})
        write_root(tmp_path / side / "meta.root", {"note": side})
    summary = compare_paths(tmp_path / "new", tmp_path / "ref")
    assert summary.counts["GOOD"] == 1
    assert summary.verdict == "NO_VERDICT" and summary.exit_code == 3
    assert summary.no_verdict == ["meta.root: no comparable object"]


def test_a_file_missing_from_the_new_release_is_no_verdict(tmp_path, rng):
    for side in ("new", "ref"):
        (tmp_path / side).mkdir()
        write_root(tmp_path / side / "qa.root", {"h": gaus_counts(np.random.default_rng(1))})
    write_root(tmp_path / "ref" / "QC.root", {"a": gaus_counts(rng), "b": gaus_counts(rng)})
    summary = compare_paths(tmp_path / "new", tmp_path / "ref")
    assert summary.verdict == "NO_VERDICT" and summary.exit_code == 3
    rows = {r.name: (r.grade, r.status) for r in summary.results}
    assert rows["QC.root"] == ("NOT_COMPARED", "missing_file")
    assert summary.no_verdict == ["QC.root: only in REF, the new release did not produce it"]


def test_a_regression_still_fails_next_to_a_missing_file(tmp_path, rng):
    for side, mean in (("new", 0.3), ("ref", 0.0)):
        (tmp_path / side).mkdir()
        write_root(tmp_path / side / "qa.root", {"h": gaus_counts(rng, mean=mean)})
    write_root(tmp_path / "ref" / "QC.root", {"a": gaus_counts(rng)})
    summary = compare_paths(tmp_path / "new", tmp_path / "ref")
    assert summary.verdict == "FAIL" and summary.exit_code == 1
    assert summary.no_verdict  # still said


def test_cli_exits_3_and_says_why(run, tmp_path):
    new = write_root(tmp_path / "new.root", {"note": "a"})
    ref = write_root(tmp_path / "ref.root", {"note": "b"})
    result = run("qa", "compare", new, ref)
    assert result.returncode == 3
    assert "NO_VERDICT" in result.stdout and "no comparable object" in result.stdout
    result = run("qa", "compare", new, ref, "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["verdict"] == "NO_VERDICT"


def test_the_report_says_why_there_is_no_verdict(tmp_path, rng):
    """Before: the page said NO_VERDICT and nothing else; the reasons were only in Summary.json."""
    import html

    for side in ("new", "ref"):
        (tmp_path / side).mkdir()
        write_root(tmp_path / side / "qa.root", {"h": gaus_counts(np.random.default_rng(1))})
        write_root(tmp_path / side / "meta<1>.root", {"note": side})
    write_root(tmp_path / "ref" / "QC.root", {"a": gaus_counts(rng)})
    summary = compare_paths(tmp_path / "new", tmp_path / "ref", out_dir=tmp_path / "out")
    assert summary.verdict == "NO_VERDICT" and len(summary.no_verdict) == 2
    page = (tmp_path / "out" / "index.html").read_text()
    section = page.split('<ul class="no-verdict">', 1)[1].split("</ul>", 1)[0]
    for reason in summary.no_verdict:
        assert f"<li>{html.escape(reason)}</li>" in section
    assert "meta&lt;1&gt;.root: no comparable object" in section  # escaped, not markup
