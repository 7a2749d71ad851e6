"""relval and O2DPG RelVal side by side on the object kinds of issue 13, in files written by ROOT.

One pair of files holds every case (seeds differ from the tests'): a QC file's
MonitorObject with a 0.2 sigma shift and an unchanged one, an AO2D-like table with one
column shifted by 0.2 sigma and one unchanged, an efficiency drop 0.8 -> 0.7 and a
stable efficiency, 10% of a histogram's entries moved into overflow, a histogram
filled only in overflow against an empty one, and a TH3 shifted by 0.2 sigma. A
second pair holds nothing comparable (a TNamed each). Both tools run on both pairs;
the table shows each case's grade (relval) or worst interpretation (O2DPG RelVal)
and each tool's exit code.

O2DPG RelVal runs for real when given a checkout (`--o2dpg DIR` or O2DPG_ROOT, with
RelVal/ inside) and the Python packages it imports beyond relval's (scipy, seaborn:
`--peer-pythonpath DIR`); its QC extraction needs QualityControl's classes, which the
test layout library provides through a `rootlogon.C`. Otherwise the peer column says
"peer not run".

Run: venv/bin/python benchmarks/qa_kinds_side_by_side.py [--o2dpg DIR] [--peer-pythonpath DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.root_writer import LAYOUT, write_files  # noqa: E402

RANK = {"GOOD": 0, "WARNING": 1, "NONCRIT_NC": 1, "CRIT_NC": 2, "BAD": 2}


def _h(name, **extra):
    return {"kind": "th1", "name": name, "bins": [50, -3, 3], "n": 20000, **extra}


def objects(side: str) -> list[dict]:
    new = side == "new"
    seed = 100 if new else 200
    shift = 0.2 if new else 0.0
    columns = {"fEta": {"type": "F", "mean": shift}, "fPt": {"type": "F", "mean": 1.0}}
    return [
        {"kind": "qc", "dir": "int/TPC", "task": "Clusters", "detector": "TPC", "metadata": {"Beam": "pp"},
         "objects": [{"kind": "th1", "name": "hShifted", "bins": [100, -5, 5], "n": 20000, "mean": shift,
                      "seed": seed + 1},
                     {"kind": "th1", "name": "hSame", "bins": [100, -5, 5], "n": 20000, "seed": seed + 2}]},
        {"kind": "tree", "name": "O2track", "dir": "DF_1", "rows": 20000, "seed": seed + 3, "columns": columns},
        {"kind": "eff", "name": "effDrop", "bins": [10, 0, 10], "n": 20000, "eff": 0.7 if new else 0.8,
         "seed": seed + 4},
        {"kind": "eff", "name": "effStable", "bins": [10, 0, 10], "n": 20000, "eff": 0.8, "seed": seed + 5},
        _h("movedToOverflow", overflow=0.1 if new else 0.0, seed=seed + 6),
        _h("onlyOverflow", overflow=1.0, seed=seed + 7) if new else _h("onlyOverflow", n=0, seed=seed + 7),
        {"kind": "th3", "name": "h3Shifted", "bins": [6, -3, 3], "n": 20000, "mean": shift, "seed": seed + 8},
    ]


# case -> (relval object name, O2DPG object-name fragment, expected)
CASES = {
    "QC object shifted 0.2 sigma": ("int/TPC/Clusters/hShifted", "hShifted", "BAD"),
    "QC object unchanged": ("int/TPC/Clusters/hSame", "hSame", "not BAD"),
    "AO2D column shifted 0.2 sigma": ("DF_*/O2track/fEta", "fEta", "BAD"),
    "AO2D column unchanged": ("DF_*/O2track/fPt", "fPt", "not BAD"),
    "efficiency 0.8 -> 0.7": ("effDrop", "effDrop", "BAD"),
    "efficiency unchanged": ("effStable", "effStable", "not BAD"),
    "10% moved into overflow": ("movedToOverflow", "movedToOverflow", ">= WARNING"),
    "only overflow vs empty": ("onlyOverflow", "onlyOverflow", "BAD"),
    "TH3 shifted 0.2 sigma": ("h3Shifted", "h3Shifted", "BAD"),
}


def run_relval(new: Path, ref: Path) -> tuple[dict[str, str], int]:
    from relval.workflows.qa import compare_paths

    summary = compare_paths(new, ref)
    return {r.name: r.grade for r in summary.results}, summary.exit_code


def run_peer(o2dpg: Path, pythonpath: str, layout_so: Path, new: Path, ref: Path, out: Path):
    """O2DPG RelVal's rel-val on the pair: ({object: worst interpretation}, exit code)."""
    out.mkdir(parents=True)
    # ExtractAndFlatten.C names QualityControl's classes: ROOT runs this logon macro first.
    (out / "rootlogon.C").write_text(f'{{ gSystem->Load("{layout_so}"); }}\n')
    env = {**os.environ, "O2DPG_ROOT": str(o2dpg), "PYTHONPATH": pythonpath,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, str(o2dpg / "RelVal" / "o2dpg_release_validation.py"), "rel-val",
                          "-i", str(new), "-j", str(ref), "-o", str(out), "--no-plot"],
                         env=env, capture_output=True, text=True, timeout=1800)
    summary = out / "Summary.json"
    worst: dict[str, str] = {}
    if summary.is_file():
        for item in json.loads(summary.read_text())["objects"]:
            name, grade = item["object_name"], item["interpretation"]
            if name not in worst or RANK.get(grade, -1) > RANK.get(worst[name], -1):
                worst[name] = grade
    return worst, run.returncode, run.stdout[-400:]


def layout_library(cache: Path) -> Path:
    """The ACLiC build of the QC layout that the writer made (it compiles it on first use)."""
    import hashlib

    digest = hashlib.sha256(LAYOUT.read_bytes()).hexdigest()[:12]
    return cache / f"qc-{digest}" / "QcLayout_h.so"


def peer_grade(worst: dict[str, str], fragment: str) -> str:
    found = [grade for name, grade in worst.items() if fragment in name]
    if not found:
        return "not compared"
    return max(found, key=lambda g: RANK.get(g, -1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--o2dpg", type=Path, default=os.environ.get("O2DPG_ROOT"))
    parser.add_argument("--peer-pythonpath", default=os.environ.get("RELVAL_PEER_PYTHONPATH", ""))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="relval-kinds-"))
    cache = Path.home() / ".cache" / "relval-benchmarks"
    pairs = {side: work / f"{side}.root" for side in ("new", "ref")}
    write_files([{"path": str(path), "objects": objects(side)} for side, path in pairs.items()], cache)
    import uproot

    empty = {side: work / f"nothing_{side}.root" for side in ("new", "ref")}
    for side, path in empty.items():
        with uproot.recreate(path) as sink:
            sink["note"] = f"built by the {side} release"

    relval, relval_rc = run_relval(pairs["new"], pairs["ref"])
    _, relval_empty_rc = run_relval(empty["new"], empty["ref"])
    peer_ok = args.o2dpg is not None and (Path(args.o2dpg) / "RelVal" / "o2dpg_release_validation.py").is_file()
    peer, peer_rc, peer_empty_rc, why = {}, None, None, "no O2DPG checkout (--o2dpg or O2DPG_ROOT)"
    if peer_ok:
        so = layout_library(cache)
        peer, peer_rc, tail = run_peer(Path(args.o2dpg), args.peer_pythonpath, so, pairs["new"], pairs["ref"],
                                       work / "peer")
        _, peer_empty_rc, _ = run_peer(Path(args.o2dpg), args.peer_pythonpath, so, empty["new"], empty["ref"],
                                       work / "peer_empty")
        if not peer:
            peer_ok, why = False, f"O2DPG RelVal produced no Summary.json (exit {peer_rc}): {tail}"

    width = max(len(c) for c in CASES) + 2
    print(f"{'case':<{width}}{'expected':<12}{'relval':<14}{'O2DPG RelVal':<14}")
    for case, (name, fragment, expected) in CASES.items():
        theirs = peer_grade(peer, fragment) if peer_ok else "peer not run"
        print(f"{case:<{width}}{expected:<12}{relval.get(name, 'not compared'):<14}{theirs:<14}")
    print(f"{'exit code, these files':<{width}}{'1':<12}{relval_rc:<14}{peer_rc if peer_ok else '-':<14}")
    print(f"{'exit code, nothing comparable':<{width}}{'3':<12}{relval_empty_rc:<14}"
          f"{peer_empty_rc if peer_ok else '-':<14}")
    if not peer_ok:
        print(f"peer not run: {why}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
