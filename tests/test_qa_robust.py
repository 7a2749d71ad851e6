"""`relval qa` never crashes: every bad input or output path is one line and exit 2 or 3.

Each case here crashed with a traceback (or exited 0/1 with a wrong verdict) before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import uproot

from .qa_support import gaus_counts, write_root
from .test_qa_cli import run  # noqa: F401 - the in-process CLI fixture


def _one_line_error(result, path, word: str = "") -> None:
    """Exactly one 'error:' line on stderr that names the path (and says `word`), no traceback."""
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert str(path) in lines[0], (path, lines[0])
    assert word in lines[0].replace(str(path), ""), (word, lines[0])  # tmp_path names hold test names


@pytest.fixture
def ref_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    return write_root(tmp_path / "ref.root", {"h": gaus_counts(rng), "d/g": gaus_counts(rng),
                                              "d/e": gaus_counts(rng)})


def _truncated(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[:int(len(data) * fraction)])
    return target


def test_identical_inputs_are_good_everywhere_with_every_default_output(tmp_path, ref_file, run):
    out = tmp_path / "out"
    result = run("qa", "compare", ref_file, ref_file, "-o", out)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads((out / "Summary.json").read_text())
    assert summary["verdict"] == "PASS"
    assert {o["grade"] for o in summary["objects"]} == {"GOOD"} and len(summary["objects"]) == 3
    assert (out / "index.html").is_file() and (out / "junit.xml").is_file()


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_file_is_one_line_exit_2(tmp_path, ref_file, run, fraction):
    broken = _truncated(ref_file, tmp_path / "broken.root", fraction)
    result = run("qa", "compare", broken, ref_file, "-o", tmp_path / "out")
    assert result.returncode == 2
    _one_line_error(result, broken, "truncated")
    assert not (tmp_path / "out").exists()  # nothing half-created


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_merge_with_truncated_input_is_one_line_exit_2(tmp_path, ref_file, run, fraction):
    broken = _truncated(ref_file, tmp_path / "broken.root", fraction)
    result = run("qa", "merge", "-o", tmp_path / "m.root", ref_file, broken)
    assert result.returncode == 2
    _one_line_error(result, broken, "truncated")
    assert not (tmp_path / "m.root").exists()


def test_output_under_a_file_is_one_line_exit_2(tmp_path, ref_file, run):
    target = ref_file / "out"
    result = run("qa", "compare", ref_file, ref_file, "-o", target)
    assert result.returncode == 2
    _one_line_error(result, target)


def test_output_in_a_read_only_directory_is_one_line_exit_2(tmp_path, ref_file, run):
    if os.geteuid() == 0:  # root writes anywhere chmod allows: use a directory the kernel refuses
        if not Path("/sys").is_dir():
            pytest.skip("needs /sys or a non-root user")
        target = Path("/sys/relval-qa-out")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "out"
    result = run("qa", "compare", ref_file, ref_file, "-o", target)
    assert result.returncode == 2
    _one_line_error(result, target)
    assert not target.exists()


def test_log_file_in_a_missing_directory_is_one_line_exit_2(tmp_path, ref_file, run):
    log = tmp_path / "missing" / "relval.log"
    result = run("--log-file", log, "qa", "compare", ref_file, ref_file)
    assert result.returncode == 2
    _one_line_error(result, log)


def test_names_with_colons_compare_and_merge(tmp_path, run):
    rng = np.random.default_rng(12)
    objects = {"x:y": gaus_counts(rng), "dir/a:b": gaus_counts(rng), "c:d/e": gaus_counts(rng),
               "f;g": gaus_counts(rng)}
    source = tmp_path / "colons.root"
    with uproot.recreate(source) as sink:  # `sink["c:d/e"] = ...` recurses forever in uproot
        for key, value in objects.items():
            *directories, name = key.split("/")
            target = sink
            for directory in directories:
                target = target.mkdir(directory)
            target[name] = value
    same = run("qa", "compare", source, source, "--json", "--no-plots")
    assert same.returncode == 0, same.stdout + same.stderr
    graded = {o["name"]: o["grade"] for o in json.loads(same.stdout)["objects"]}
    assert graded == {name: "GOOD" for name in objects}

    merged = tmp_path / "merged.root"
    result = run("qa", "merge", "-o", merged, source, source)
    assert result.returncode == 0, result.stderr
    with uproot.open(merged) as m, uproot.open(source) as s:
        assert m.key("dir").get().key("a:b").get().values().tolist() == \
            [2 * v for v in s.key("dir").get().key("a:b").get().values()]
    back = run("qa", "compare", merged, source, "--json", "--no-plots", "--thresholds",
               _no_entries(tmp_path))
    assert back.returncode == 0, back.stdout + back.stderr
    assert {o["name"] for o in json.loads(back.stdout)["objects"]} == set(objects)


def _no_entries(tmp_path: Path) -> Path:
    path = tmp_path / "no-entries.yaml"
    path.write_text("tests:\n  entries: {enabled: false}\n")
    return path


def test_nothing_comparable_is_exit_3_never_pass(tmp_path, run):
    only_text = write_root(tmp_path / "text.root", {"note": "a TObjString, not a histogram"})
    result = run("qa", "compare", only_text, only_text, "--json")
    assert result.returncode == 3, result.stdout + result.stderr
    assert json.loads(result.stdout)["verdict"] != "PASS"


def test_bad_is_exit_1_and_good_is_exit_0(tmp_path, run):
    rng = np.random.default_rng(13)
    same = gaus_counts(rng)
    ref = write_root(tmp_path / "ref.root", {"h": same})
    good = write_root(tmp_path / "good.root", {"h": same})
    bad = write_root(tmp_path / "bad.root", {"h": gaus_counts(rng, mean=0.5)})
    assert run("qa", "compare", good, ref, "--no-plots").returncode == 0
    assert run("qa", "compare", bad, ref, "--no-plots").returncode == 1


def test_merge_output_under_a_file_is_one_line_exit_2(tmp_path, ref_file, run):
    target = ref_file / "merged.root"
    result = run("qa", "merge", "-o", target, ref_file)
    assert result.returncode == 2
    _one_line_error(result, target, "a part of the path is a file")
