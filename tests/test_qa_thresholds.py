"""Thresholds: validated before any work, overrides that match nothing reported, globs on the names users see."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from relval.errors import RelvalError

from .qa_support import gaus_counts, write_root
from .test_qa_cli import run  # noqa: F401 - the in-process CLI fixture


def test_load_thresholds_refuses_a_bad_file_with_one_line_per_problem(tmp_path):
    from relval.workflows.qa import load_thresholds

    path = tmp_path / "t.yaml"
    path.write_text("tests:\n  chi2: {bad: 2}\noverrides:\n  - entries: {warning: 0.1}\n")
    with pytest.raises(RelvalError) as caught:
        load_thresholds(path)
    problems = caught.value.problems
    assert len(problems) == 2 and all("\n" not in p and str(path) in p for p in problems)
    assert any("tests.chi2.bad" in p for p in problems) and any("overrides[0].match" in p for p in problems)


def test_campaign_thresholds_are_checked_when_the_campaign_is_read(tmp_path):
    """A bad `compare.thresholds` stops `relval run` before any job, naming the key."""
    from relval.workflows.campaign import load_campaign

    source = Path(__file__).resolve().parent.parent / "examples" / "smoke.yaml"
    text = source.read_text().replace("thresholds: {}", "thresholds: {tests: {ks: {warning: 5}}}")
    assert "warning: 5" in text
    broken = tmp_path / "smoke.yaml"
    broken.write_text(text)
    with pytest.raises(RelvalError) as caught:
        load_campaign(broken)
    assert any("compare.thresholds.tests.ks.warning" in p for p in caught.value.problems), caught.value.problems


def _pair(tmp_path: Path, label: str = "pp.QAmerged.root"):
    """Two directories with one file each: names are `pp.QAmerged.root:QA/vz`, as in `relval run`."""
    rng = np.random.default_rng(21)
    new_dir, ref_dir = tmp_path / "new", tmp_path / "ref"
    new_dir.mkdir()
    ref_dir.mkdir()
    shared = gaus_counts(rng)
    write_root(ref_dir / label, {"QA/vz": gaus_counts(rng), "QA/pt": shared})
    write_root(new_dir / label, {"QA/vz": gaus_counts(rng, mean=0.4), "QA/pt": shared})
    return new_dir, ref_dir


@pytest.mark.parametrize("glob", ["QA/vz", "pp.QAmerged.root:QA/vz", "*:QA/vz", "QA/v*", "*vz"])
def test_override_matches_the_path_inside_the_file_and_the_full_name(tmp_path, glob):
    from relval.workflows.qa import compare_paths

    new_dir, ref_dir = _pair(tmp_path)
    off = {"enabled": False}
    limits = {"overrides": [{"match": glob, "chi2": off, "ks": off, "entries": off}]}
    summary = compare_paths(new_dir, ref_dir, thresholds=limits)
    grades = {r.name: r.grade for r in summary.results}
    assert grades == {"pp.QAmerged.root:QA/vz": "GOOD", "pp.QAmerged.root:QA/pt": "GOOD"}
    assert [w for w in summary.warnings if "override" in w] == []


_TYPO = "overrides:\n  - match: QA/vx\n    ks: {enabled: false}\n  - match: QA/pt\n    ks: {enabled: false}\n"


def test_an_override_that_matches_nothing_is_an_error_and_the_report_is_still_written(tmp_path, run):
    """Before: a warning and exit 1; the override silently never applied."""
    new_dir, ref_dir = _pair(tmp_path)
    limits = tmp_path / "t.yaml"
    limits.write_text(_TYPO)
    out = tmp_path / "out"
    result = run("qa", "compare", new_dir, ref_dir, "--thresholds", limits, "-o", out, "--json")
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    assert len(document["errors"]) == 1
    error = document["errors"][0]
    assert str(limits) in error and "overrides[0].match" in error and "'QA/vx'" in error
    assert "matches no compared object" in error and "closest" in error and "QA/vz" in error
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "'QA/vx'" in lines[0] and "QA/pt'" not in result.stderr
    # Nothing computed is lost: the grades and the report are written, with the error in them.
    saved = json.loads((out / "Summary.json").read_text())
    assert saved["errors"] == document["errors"] and saved["counts"]["BAD"] == 1
    assert "matches no compared object" in (out / "index.html").read_text()


def test_the_library_reports_an_unmatched_override_as_an_error_with_exit_code_2(tmp_path):
    from relval.workflows.qa import compare_paths

    new_dir, ref_dir = _pair(tmp_path)
    summary = compare_paths(new_dir, ref_dir, thresholds={"overrides": [{"match": "QA/pz", "ks": {"enabled": False}}]})
    assert summary.exit_code == 2 and summary.verdict == "FAIL"
    assert len(summary.errors) == 1 and "'QA/pz'" in summary.errors[0] and "QA/pt" in summary.errors[0]
    assert not [w for w in summary.warnings if "override" in w]


def test_regrade_with_an_unmatched_override_is_an_error_too(tmp_path, run):
    new_dir, ref_dir = _pair(tmp_path)
    assert run("qa", "compare", new_dir, ref_dir, "-o", tmp_path / "first").returncode == 1
    limits = tmp_path / "t.yaml"
    limits.write_text(_TYPO)
    result = run("qa", "regrade", tmp_path / "first", "--thresholds", limits, "-o", tmp_path / "second")
    assert result.returncode == 2, result.stderr
    assert "'QA/vx'" in result.stderr and "matches no compared object" in result.stderr
    assert json.loads((tmp_path / "second" / "Summary.json").read_text())["errors"]


def test_a_campaign_whose_override_matches_nothing_has_no_verdict_naming_it():
    from relval.workflows.verdict import decide, ChainResult

    qa = {"verdict": "PASS", "tested": 3, "counts": {"GOOD": 3, "WARNING": 0, "BAD": 0, "NOT_COMPARED": 0},
          "errors": ["compare.thresholds: overrides[0].match 'QA/vx' matches no compared object"]}
    done = ChainResult("candidate", "v2", total=3, done=3, failed=0)
    verdict = decide(done, ChainResult("reference", "v1", total=3, done=3, failed=0), qa)
    assert verdict.verdict == "NO_VERDICT" and verdict.exit_code == 3
    assert any("'QA/vx'" in reason for reason in verdict.reasons)


def test_a_campaign_with_reference_outputs_checks_its_overrides_before_any_job(tmp_path):
    """The reference outputs exist before the run: an override matching none of their objects stops it."""
    from dataclasses import replace

    from relval.workflows.makeflow import generate
    from relval.workflows.run import check_reference

    workflow = generate(Path(__file__).resolve().parent.parent / "examples" / "smoke.yaml", tmp_path / "c")
    ref = tmp_path / "ref"
    ref.mkdir()
    rng = np.random.default_rng(5)
    write_root(ref / "pp.QAmerged.root", {"QA/vz": gaus_counts(rng), "QA/pt": gaus_counts(rng)})
    campaign = replace(workflow.campaign, reference_release=None, reference_outputs=str(ref),
                       thresholds={"overrides": [{"match": "QA/vz", "ks": {"enabled": False}}]})
    check_reference(campaign)
    typo = replace(campaign, thresholds={"overrides": [{"match": "QA/vx", "ks": {"enabled": False}}]})
    with pytest.raises(RelvalError) as caught:
        check_reference(typo)
    assert caught.value.exit_code == 2
    (problem,) = caught.value.problems
    assert "compare.thresholds.overrides[0].match 'QA/vx'" in problem and "QA/vz" in problem


def test_thresholds_format_is_documented_in_the_examples_readme():
    examples = (Path(__file__).resolve().parent.parent / "examples" / "README.md").read_text()
    section = examples.split("## QA thresholds", 1)[1].split("\n## ", 1)[0]
    for key in ("overrides:", "match:", "enabled:", "warning:", "bad:", "pp.QAmerged.root:QA/vz",
                "compare:", "thresholds:", "matches no compared object", "exit 2"):
        assert key in section, key


def test_campaign_qa_names_the_releases_links_relatively_and_applies_path_overrides(tmp_path):
    """`relval run`'s QA step (without running jobs): the smoke campaign's merged files compared."""
    import os
    import shutil

    import yaml

    from relval.workflows.run import compared_files, prepare, run_qa

    source = Path(__file__).resolve().parent.parent / "examples" / "smoke.yaml"
    document = yaml.safe_load(source.read_text())
    off = {"enabled": False}
    document["compare"]["thresholds"] = {"overrides": [{"match": "QA/vz", "chi2": off, "ks": off, "entries": off}]}
    for stage in document["stages"]:
        stage["files"] = [str(source.parent.parent / f) for f in stage.get("files", [])]
    campaign_file = tmp_path / "smoke.yaml"
    campaign_file.write_text(yaml.safe_dump(document))
    campaign, root, chains = prepare(campaign_file, tmp_path / "w")
    rng = np.random.default_rng(22)
    names = compared_files(chains[0])
    assert names and all(":" not in n for n in names)
    for chain, shift in zip(chains, (0.5, 0.0)):
        for name in names:
            (chain.directory / name).parent.mkdir(parents=True, exist_ok=True)
            write_root(chain.directory / name, {"QA/vz": gaus_counts(rng, mean=shift), "QA/pt": gaus_counts(rng)})
    summary, note = run_qa(campaign, chains, root / "qa")
    assert note is None and summary.labels == ("toy/v2", "toy/v1")
    assert {r.grade for r in summary.results if r.path == "QA/vz"} == {"GOOD"}  # the override applied
    assert [w for w in summary.warnings if "override" in w] == []
    links = list((root / "qa" / "inputs" / "new").iterdir())
    assert links and all(p.is_symlink() and not os.path.isabs(os.readlink(p)) for p in links)
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "w", moved, symlinks=True)
    assert all((moved / "qa" / "inputs" / "new" / p.name).is_file() for p in links)
    page = (root / "qa" / "index.html").read_text()
    assert '<b id="label-new">toy/v2</b>' in page and '<b id="label-ref">toy/v1</b>' in page
