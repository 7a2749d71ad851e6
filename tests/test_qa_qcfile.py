"""QC files written by ROOT with QualityControl's class layout: unwrapped and compared.

The files are written by ROOT (PyPI's `root`) with dictionaries for classes that
have the members, order and versions of QualityControl's MonitorObjectCollection
(v3), MonitorObject (v15) and Activity (v6), so the streamers on disk are real.
"""

from __future__ import annotations

import pytest

from relval.workflows.qa import compare_paths, qcfile
from relval.workflows.qa.reader import list_objects, open_root

from .root_files import needs_root, root_build, root_write  # noqa: F401 - fixture

pytestmark = [pytest.mark.root, needs_root]

META = {"Beam": "pp", "Generator": "pythia8"}


def _qc_objects(shift_pt: float = 0.0, seed: int = 1) -> list[dict]:
    """Two tasks of two detectors, as RootFileStorage lays them out under `int/`."""
    return [
        {"kind": "qc", "dir": "int/TPC", "task": "Clusters", "detector": "TPC", "metadata": META, "run": 544490,
         "period": "LHC26a", "objects": [
             {"kind": "th1", "name": "hPt", "bins": [100, -5, 5], "n": 20000, "mean": shift_pt, "seed": seed},
             {"kind": "th1", "name": "hEta", "bins": [100, -5, 5], "n": 20000, "seed": seed + 1},
             {"kind": "th2", "name": "hOccupancy", "bins": [10, -3, 3], "n": 5000, "seed": seed + 2},
         ]},
        {"kind": "qc", "dir": "int/ITS", "task": "Tracks", "detector": "ITS", "objects": [
            {"kind": "th1", "name": "hNClusters", "bins": [100, -5, 5], "n": 20000, "seed": seed + 3},
        ]},
    ]


@pytest.fixture(scope="module")
def qc_files(tmp_path_factory, root_build):
    base = tmp_path_factory.mktemp("qc")
    files = {
        base / "ref" / "QC.root": _qc_objects(seed=1),
        base / "same" / "QC.root": _qc_objects(seed=1),
        base / "shifted" / "QC.root": _qc_objects(shift_pt=0.2, seed=11),
        base / "redrawn" / "QC.root": _qc_objects(seed=21),
    }
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
    root_write(root_build, files)
    return base


def test_monitor_objects_are_read_with_every_member(qc_files):
    file = open_root(qc_files / "ref" / "QC.root")
    collection = file["int/TPC/Clusters"]
    described = [qcfile.describe(mo) for mo in qcfile.monitor_objects(collection)]
    file.close()
    assert [d["task"] for d in described] == ["Clusters"] * 3
    assert {d["detector"] for d in described} == {"TPC"}
    assert [d["run"] for d in described] == [544490] * 3
    assert [d["period"] for d in described] == ["LHC26a"] * 3
    # the writer leaves every other map empty: both forms are on disk
    assert [d["metadata"] for d in described] == [META, {}, META]


def test_uproot_alone_cannot_read_an_empty_metadata_map(qc_files):
    """Why qcfile reads MonitorObjects itself: uproot's own model reads past an empty map."""
    import uproot

    with uproot.open(qc_files / "ref" / "QC.root") as file, pytest.raises(Exception, match="std::map"):
        list(file["int/TPC/Clusters"].bases[0])


def test_objects_are_named_by_detector_task_and_object(qc_files):
    file = open_root(qc_files / "ref" / "QC.root")
    entries = list_objects(file)
    names = {name: entry.classname for name, entry in entries.items()}
    assert names == {"int/TPC/Clusters/hPt": "TH1D", "int/TPC/Clusters/hEta": "TH1D",
                     "int/TPC/Clusters/hOccupancy": "TH2F", "int/ITS/Tracks/hNClusters": "TH1D"}
    assert entries["int/TPC/Clusters/hPt"].hist().entries == 20000
    file.close()


def test_identical_qc_files_are_all_good(qc_files):
    summary = compare_paths(qc_files / "same", qc_files / "ref")
    assert {r.name: r.grade for r in summary.results} == {
        "QC.root:int/TPC/Clusters/hPt": "GOOD", "QC.root:int/TPC/Clusters/hEta": "GOOD",
        "QC.root:int/TPC/Clusters/hOccupancy": "GOOD", "QC.root:int/ITS/Tracks/hNClusters": "GOOD"}
    assert summary.verdict == "PASS" and summary.exit_code == 0


def test_a_shift_inside_one_monitor_object_is_bad(qc_files):
    summary = compare_paths(qc_files / "shifted", qc_files / "ref")
    grades = {r.name: r.grade for r in summary.results}
    assert grades["QC.root:int/TPC/Clusters/hPt"] == "BAD"
    assert [name for name, grade in grades.items() if grade == "BAD"] == ["QC.root:int/TPC/Clusters/hPt"]
    assert summary.exit_code == 1


def test_same_distribution_qc_files_are_not_bad(qc_files):
    summary = compare_paths(qc_files / "redrawn", qc_files / "ref")
    assert summary.counts["BAD"] == 0
    assert summary.counts["NOT_COMPARED"] == 0


@pytest.mark.slow
def test_no_false_bad_in_1000_same_distribution_qc_object_pairs(tmp_path, root_build):
    """Unwrapping changes nothing statistically: 1,000 MonitorObject pairs, 0 BAD."""
    def side(offset):
        return [{"kind": "qc", "dir": "int/TST", "task": "Many", "detector": "TST", "objects": [
            {"kind": "th1", "name": f"h{i:04d}", "bins": [100, -5, 5], "n": 20000, "seed": offset + i}
            for i in range(1000)]}]

    new, ref = tmp_path / "new.root", tmp_path / "ref.root"
    root_write(root_build, {new: side(0), ref: side(100_000)})
    summary = compare_paths(new, ref, thresholds=None)
    assert summary.counts["GOOD"] + summary.counts["WARNING"] == 1000
    assert summary.counts["BAD"] == 0


def test_moving_windows_are_listed_once_per_task_not_compared(tmp_path, root_build):
    def side(start, seed):
        return [{"kind": "qc", "dir": "mw/TPC/Clusters", "key": str(start), "task": "Clusters", "detector": "TPC",
                 "objects": [{"kind": "th1", "name": "hPt", "bins": [10, -3, 3], "n": 100, "seed": seed}]},
                {"kind": "qc", "dir": "int/TPC", "task": "Clusters", "detector": "TPC",
                 "objects": [{"kind": "th1", "name": "hPt", "bins": [10, -3, 3], "n": 1000, "seed": seed}]}]

    new, ref = tmp_path / "new.root", tmp_path / "ref.root"
    root_write(root_build, {new: side(1764460800000, 1), ref: side(1764460860000, 1)})
    rows = {r.name: (r.grade, r.status) for r in compare_paths(new, ref).results}
    assert rows == {"int/TPC/Clusters/hPt": ("GOOD", "compared"),
                    "mw/TPC/Clusters": ("NOT_COMPARED", "not_compared")}


def test_a_qc_key_that_cannot_be_unwrapped_is_bad_not_skipped():
    from relval.workflows.qa.compare import compare_entries
    from relval.workflows.qa.reader import Entry
    from relval.workflows.qa.thresholds import load_thresholds

    def broken():
        raise ValueError("expected 16 bytes but cursor moved by 28 bytes")

    entry = Entry("int/TPC/Clusters", qcfile.COLLECTION, broken)
    result = compare_entries("int/TPC/Clusters", entry, entry, load_thresholds(None))
    assert result.grade == "BAD" and result.status == "unreadable"
    assert "cursor moved" in result.reason


def test_qc_files_merge_object_by_object_and_say_the_output_is_not_a_qc_file(qc_files, tmp_path):
    """`relval qa merge` on QC files: each MonitorObject's histogram summed under its QC path."""
    import numpy as np
    import uproot

    from relval.workflows.qa import merge_files

    inputs = [qc_files / "ref" / "QC.root", qc_files / "redrawn" / "QC.root"]
    result = merge_files(inputs, tmp_path / "merged" / "QC.root")
    assert sorted(result.merged) == ["int/ITS/Tracks/hNClusters", "int/TPC/Clusters/hEta",
                                     "int/TPC/Clusters/hOccupancy", "int/TPC/Clusters/hPt"]
    assert result.skipped == []
    (note,) = result.notes
    assert "4 QC MonitorObject(s)" in note and "not one" in note
    sources = [open_root(p) for p in inputs]
    expected = sum(list_objects(f)["int/TPC/Clusters/hPt"].hist().values for f in sources)
    with uproot.open(tmp_path / "merged" / "QC.root") as merged:
        assert np.array_equal(merged["int/TPC/Clusters/hPt"].values(), expected)
        assert merged["int/TPC/Clusters/hPt"].member("fEntries") == 40000
    for f in sources:
        f.close()
    # named as in a QC file, so the merged file compares with one (entries doubled, so that test is off)
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "QC.root").symlink_to(qc_files / "ref" / "QC.root")
    summary = compare_paths(tmp_path / "merged", tmp_path / "ref", thresholds={"tests": {"entries": {"enabled": False}}})
    assert {r.name: r.grade for r in summary.results} == {
        "QC.root:int/TPC/Clusters/hPt": "GOOD", "QC.root:int/TPC/Clusters/hEta": "GOOD",
        "QC.root:int/TPC/Clusters/hOccupancy": "GOOD", "QC.root:int/ITS/Tracks/hNClusters": "GOOD"}
