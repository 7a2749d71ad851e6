"""`relval qa` wiring: exit codes 0/1/2, --json, and merge from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot

from .conftest import REPO
from .qa_support import gaus_counts, write_root


def relval(*args) -> subprocess.CompletedProcess:
    """The installed entry point, in a subprocess (about a second each: used sparingly)."""
    return subprocess.run([sys.executable, "-m", "relval", "--no-progress", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


class Ran:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(capsys):
    """`relval ...` in this process: the same main() and wiring, without the start-up cost."""
    from relval.cli import main

    def invoke(*args) -> Ran:
        capsys.readouterr()
        try:
            main(["--no-progress", *map(str, args)])
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return invoke


def test_compare_exit_codes_and_json(tmp_path: Path, run):
    rng = np.random.default_rng(3)
    same = gaus_counts(rng)
    ref = write_root(tmp_path / "ref.root", {"h": same, "g": same})
    good = write_root(tmp_path / "good.root", {"h": same, "g": same})
    bad = write_root(tmp_path / "bad.root", {"h": gaus_counts(rng, mean=0.3), "g": same})

    passed = relval("qa", "compare", good, ref, "--json")
    assert passed.returncode == 0, passed.stderr
    document = json.loads(passed.stdout)
    assert document["verdict"] == "PASS" and document["counts"]["GOOD"] == 2

    failed = run("qa", "compare", bad, ref, "-o", tmp_path / "out")
    assert failed.returncode == 1, failed.stderr
    assert "FAIL" in failed.stdout and "h" in failed.stdout
    assert json.loads((tmp_path / "out" / "Summary.json").read_text())["counts"]["BAD"] == 1

    failed_json = run("qa", "compare", bad, ref, "--json", "--no-plots")
    assert failed_json.returncode == 1 and json.loads(failed_json.stdout)["verdict"] == "FAIL"


def test_compare_input_errors_exit_2_with_one_line(tmp_path: Path, run):
    rng = np.random.default_rng(3)
    ref = write_root(tmp_path / "ref.root", {"h": gaus_counts(rng)})
    missing = relval("qa", "compare", tmp_path / "missing.root", ref)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: NEW {tmp_path / 'missing.root'}: no such file or directory"
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"\x00" * 64)
    not_root = run("qa", "compare", junk, ref)
    assert not_root.returncode == 2 and "not a ROOT file" in not_root.stderr
    assert "Traceback" not in not_root.stderr and len(not_root.stderr.strip().splitlines()) == 1


def test_merge_command(tmp_path: Path, run):
    rng = np.random.default_rng(4)
    a = write_root(tmp_path / "a.root", {"qa/h": gaus_counts(rng, n=100), "s": "text"})
    b = write_root(tmp_path / "b.root", {"qa/h": gaus_counts(rng, n=50)})
    result = run("qa", "merge", "-o", tmp_path / "m.root", a, b)
    assert result.returncode == 0, result.stderr
    assert "merged 1 object(s) from 2 files" in result.stdout
    assert "s: TObjString not merged" in result.stderr
    with uproot.open(tmp_path / "m.root") as merged, uproot.open(a) as fa, uproot.open(b) as fb:
        assert np.array_equal(merged["qa/h"].values(), fa["qa/h"].values() + fb["qa/h"].values())
    error = run("qa", "merge", "-o", tmp_path / "m2.root", a, tmp_path / "none.root")
    assert error.returncode == 2 and "none.root: no such file" in error.stderr
