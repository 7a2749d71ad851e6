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


def test_an_override_that_matches_nothing_is_reported_with_the_closest_names(tmp_path, run):
    new_dir, ref_dir = _pair(tmp_path)
    limits = tmp_path / "t.yaml"
    limits.write_text("overrides:\n  - match: QA/vx\n    ks: {enabled: false}\n"
                      "  - match: QA/pt\n    ks: {enabled: false}\n")
    result = run("qa", "compare", new_dir, ref_dir, "--thresholds", limits, "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    overrides = [w for w in document["warnings"] if "override" in w]
    assert len(overrides) == 1
    warning = overrides[0]
    assert "QA/vx" in warning and "matches no compared object" in warning and "QA/vz" in warning
    assert "QA/vx" in result.stderr and "QA/pt'" not in result.stderr


def test_thresholds_format_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## QA comparison", 1)[1].split("\n## ", 1)[0]
    for key in ("overrides:", "match:", "enabled:", "warning:", "bad:", "pp.QAmerged.root:QA/vz"):
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
