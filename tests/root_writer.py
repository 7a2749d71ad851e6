"""Write test ROOT files with ROOT itself (PyPI's `root`), from a JSON description.

Run as a subprocess (`write_files` below) so that ROOT's interpreter and its
teardown never run inside pytest. The QC classes come from
`fixtures/qc/QcLayout.h`, compiled once by ACLiC into a cache directory: the
streamer infos on disk are then written by ROOT for classes with the real
QualityControl layout.

A file is `{"path": ..., "objects": [object, ...]}`; an object is one of
- `{"kind": "th1"|"th2"|"th3", "name", "dir"?, "bins": [n, lo, hi], "mean"?, "sigma"?, "n", "seed",
   "overflow"?: fraction of the entries moved above the range}`
- `{"kind": "eff", "name", "dir"?, "bins": [n, lo, hi], "n", "eff", "seed"}`
- `{"kind": "tree", "name", "dir"?, "rows", "seed", "columns": {name: {"type": "F"|"D"|"I"|"O",
   "mean"?, "sigma"?, "size"?: fixed array length}}}`
- `{"kind": "qc", "dir", "task", "detector", "objects": [th1/th2/th3/eff...], "metadata"?: {...}}`:
   a MonitorObjectCollection of MonitorObjects, as QualityControl's RootFileStorage stores it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYOUT = HERE / "fixtures" / "qc" / "QcLayout.h"


def write_files(files: list[dict], cache_dir: Path) -> None:
    """Write every file of `files` with ROOT in one subprocess; raises on failure."""
    spec = cache_dir / f"spec-{os.getpid()}-{id(files)}.json"
    cache_dir.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"files": files, "build": str(cache_dir)}))
    run = subprocess.run([sys.executable, str(Path(__file__)), str(spec)], capture_output=True, text=True,
                         timeout=600)
    if run.returncode != 0 or "WRITTEN" not in run.stdout:
        raise RuntimeError(f"ROOT writer failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}")


def _layout_library(ROOT, build: Path) -> None:
    """Compile the QC layout with ACLiC once per header version, then load it."""
    digest = hashlib.sha256(LAYOUT.read_bytes()).hexdigest()[:12]
    target = build / f"qc-{digest}"
    header = target / "QcLayout.h"
    if not (target / "QcLayout_h.so").exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(LAYOUT, header)
        if ROOT.gROOT.ProcessLine(f".L {header}+") != 0 or not (target / "QcLayout_h.so").exists():
            raise RuntimeError("ACLiC could not build the QC layout")
    else:
        ROOT.gSystem.Load(str(target / "QcLayout_h.so"))


def _fill_values(rng, item: dict, n: int):
    import numpy as np

    values = rng.normal(item.get("mean", 0.0), item.get("sigma", 1.0), n)
    moved = item.get("overflow", 0.0)
    if moved:
        hi = item["bins"][2]
        count = int(round(moved * n))
        values[:count] = hi + 1.0 + np.abs(values[:count])
    return values


def _histogram(ROOT, rng, item: dict):
    import numpy as np

    n, lo, hi = item["bins"]
    kind, name = item["kind"], item["name"]
    count = int(item["n"])
    if kind == "th1":
        h = ROOT.TH1D(name, item.get("title", name), n, lo, hi)
        x = _fill_values(rng, item, count)
        if count:
            h.FillN(count, x, np.ones(count))
    elif kind == "th2":
        h = ROOT.TH2F(name, name, n, lo, hi, n, lo, hi)
        x, y = _fill_values(rng, item, count), rng.normal(0.0, 1.0, count)
        for a, b in zip(x, y):
            h.Fill(a, b)
    else:
        h = ROOT.TH3F(name, name, n, lo, hi, n, lo, hi, n, lo, hi)
        x, y, z = _fill_values(rng, item, count), rng.normal(0.0, 1.0, count), rng.normal(0.0, 1.0, count)
        for a, b, c in zip(x, y, z):
            h.Fill(a, b, c)
    h.SetDirectory(ROOT.nullptr)
    return h


def _efficiency(ROOT, rng, item: dict):
    n, lo, hi = item["bins"]
    eff = ROOT.TEfficiency(item["name"], item["name"], n, lo, hi)
    eff.SetDirectory(ROOT.nullptr)
    x = rng.uniform(lo, hi, int(item["n"]))
    passed = rng.uniform(0.0, 1.0, int(item["n"])) < item["eff"]
    for value, ok in zip(x, passed):
        eff.Fill(bool(ok), value)
    return eff


def _object(ROOT, rng, item: dict):
    if item["kind"] == "eff":
        return _efficiency(ROOT, rng, item)
    return _histogram(ROOT, rng, item)


def _tree(ROOT, rng, item: dict, directory):
    import numpy as np

    directory.cd()
    tree = ROOT.TTree(item["name"], item["name"])
    dtypes = {"F": np.float32, "D": np.float64, "I": np.int32, "O": np.bool_}
    rows = int(item["rows"])
    buffers, data = {}, {}
    for column, spec in item["columns"].items():
        size = int(spec.get("size", 1))
        dtype = dtypes[spec.get("type", "F")]
        if spec.get("type", "F") in ("I", "O"):
            values = rng.poisson(spec.get("mean", 3.0), (rows, size))
            values = values % 2 if spec.get("type") == "O" else values
        else:
            values = rng.normal(spec.get("mean", 0.0), spec.get("sigma", 1.0), (rows, size))
        data[column] = values.astype(dtype)
        buffers[column] = np.zeros(size, dtype=dtype)
        leaf = f"{column}[{size}]/{spec.get('type', 'F')}" if size > 1 else f"{column}/{spec.get('type', 'F')}"
        tree.Branch(column, buffers[column], leaf)
    for row in range(rows):
        for column, buffer in buffers.items():
            buffer[:] = data[column][row]
        tree.Fill()
    tree.Write()


def _directory(ROOT, tfile, path: str):
    directory = tfile
    for part in [p for p in path.split("/") if p]:
        directory = directory.GetDirectory(part) or directory.mkdir(part)
    return directory


def _qc(ROOT, rng, item: dict, tfile):
    core = ROOT.o2.quality_control.core
    moc = core.MonitorObjectCollection()
    moc.SetName(item["task"])
    moc.setDetector(item["detector"])
    moc.setTaskName(item["task"])
    moc.SetOwner(True)
    for index, inner in enumerate(item["objects"]):
        obj = _object(ROOT, rng, inner)
        mo = core.MonitorObject(obj, item["task"], item.get("task_class", "o2::quality_control_modules::Task"),
                                item["detector"])
        ROOT.SetOwnership(obj, False)
        ROOT.SetOwnership(mo, False)
        for key, value in (item.get("metadata") or {}).items():
            if index % 2 == 0:  # every other object without metadata: an empty std::map on disk
                mo.addMetadata(key, value)
        activity = mo.getActivity()
        activity.mId = int(item.get("run", 0))
        activity.mPeriodName = item.get("period", "")
        moc.Add(mo)
    # moving windows are stored under their start time (`key`), integrals under the task name
    _directory(ROOT, tfile, item["dir"]).WriteObject(moc, item.get("key", item["task"]))


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    import numpy as np
    import ROOT

    ROOT.gROOT.SetBatch(True)
    ROOT.gErrorIgnoreLevel = ROOT.kWarning
    if any(o["kind"] == "qc" for f in spec["files"] for o in f["objects"]):
        _layout_library(ROOT, Path(spec["build"]))
    for entry in spec["files"]:
        tfile = ROOT.TFile(entry["path"], "RECREATE")
        for item in entry["objects"]:
            rng = np.random.default_rng(item.get("seed", 0))
            if item["kind"] == "qc":
                _qc(ROOT, rng, item, tfile)
            elif item["kind"] == "tree":
                _tree(ROOT, rng, item, _directory(ROOT, tfile, item.get("dir", "")))
            else:
                obj = _object(ROOT, rng, item)
                _directory(ROOT, tfile, item.get("dir", "")).WriteObject(obj, item["name"])
        tfile.Close()
    print("WRITTEN", flush=True)
    os._exit(0)  # skip ROOT's teardown: the objects handed to collections are owned there


if __name__ == "__main__":
    main(sys.argv[1])
