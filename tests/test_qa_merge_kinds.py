"""`relval qa merge` on QC files and trees: merged where it can be, one line for what is skipped."""

from __future__ import annotations

import numpy as np
import pytest
import uproot

from relval.errors import RelvalError
from relval.workflows.qa import compare_paths, merge_files

from .qa_support import gaus_counts
from .test_qa_cli import run  # noqa: F401 - fixture


def _tree_file(path, rows, seed, extra=None, jagged=False):
    """A file with a histogram, a plain TTree and an AO2D-like table in a DF_ folder."""
    rng = np.random.default_rng(seed)
    with uproot.recreate(path) as sink:
        sink["h"] = gaus_counts(rng)
        events = {"x": rng.normal(size=rows), "n": rng.integers(0, 50, rows).astype(np.int32),
                  "v": rng.normal(size=(rows, 3)).astype(np.float32)}
        events.update(extra or {})
        sink.mktree("events", {k: np.dtype((v.dtype, v.shape[1:])) for k, v in events.items()}).extend(events)
        table = sink.mkdir("DF_1").mktree("O2track", {"fPt": np.float32, "fFlag": np.bool_})
        table.extend({"fPt": rng.exponential(size=rows).astype(np.float32), "fFlag": rng.random(rows) < 0.5})
        if jagged:
            import awkward as ak

            sink.mktree("hits", {"e": "var * float64"}).extend({"e": ak.Array([[1.0, 2.0], [], [3.0]] * (rows // 3))})
    return path


def test_trees_are_concatenated_row_by_row(tmp_path):
    """Before: every column of every tree was 'not merged', one warning each, and the trees were lost."""
    inputs = [_tree_file(tmp_path / f"in{i}.root", rows, seed=i) for i, rows in enumerate((300, 120, 51))]
    result = merge_files(inputs, tmp_path / "out.root")
    assert {"h", "events", "DF_1/O2track"} <= set(result.merged)
    assert not [p for p, _ in result.skipped]
    with uproot.open(tmp_path / "out.root") as merged:
        sources = [uproot.open(p) for p in inputs]
        for key, branches in (("events", ("x", "n", "v")), ("DF_1/O2track", ("fPt", "fFlag"))):
            out = merged[key].arrays(library="np")
            assert merged[key].num_entries == 471
            for branch in branches:
                expected = np.concatenate([s[key].arrays(library="np")[branch] for s in sources])
                assert out[branch].dtype == expected.dtype and np.array_equal(out[branch], expected), branch
    # the merged tree compares like the inputs: every column GOOD against the concatenation of itself
    summary = compare_paths(tmp_path / "out.root", tmp_path / "out.root")
    columns = [r for r in summary.results if r.kind == "column"]
    assert len(columns) == 7 and all(r.grade == "GOOD" for r in columns)


def test_a_tree_that_cannot_be_merged_is_one_line_not_one_per_column(tmp_path, run):
    inputs = [_tree_file(tmp_path / f"in{i}.root", 30, seed=i, jagged=True) for i in range(2)]
    result = run("qa", "merge", "-o", tmp_path / "out.root", *inputs)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "hits" in line]
    assert len(lines) == 1 and "not merged" in lines[0] and "'e'" in lines[0], result.stderr
    assert "events" not in result.stderr  # the mergeable tree merged quietly
    with uproot.open(tmp_path / "out.root") as merged:
        assert "hits" not in [k.split(";")[0] for k in merged.keys()]
        assert merged["events"].num_entries == 60


def test_trees_with_different_branches_are_bad_input_naming_both_files(tmp_path):
    first = _tree_file(tmp_path / "a.root", 30, seed=1)
    second = _tree_file(tmp_path / "b.root", 30, seed=2, extra={"y": np.zeros(30)})
    with pytest.raises(RelvalError) as caught:
        merge_files([first, second], tmp_path / "out.root")
    (problem,) = caught.value.problems
    assert "events" in problem and "a.root" in problem and "b.root" in problem and "branches" in problem
    assert not (tmp_path / "out.root").exists()
