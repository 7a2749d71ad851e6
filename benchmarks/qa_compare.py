"""Benchmark `relval qa compare`, and its false alarms against O2DPG RelVal run on the same files.

1. Speed: two ROOT files of 5,000 histograms (1D and 2D mixed, 1% regressed),
   compared with every output `relval qa compare -o` makes by default (overlays
   for the non-GOOD ones, the report with every histogram drawable). Goal: <= 10 s. Where CERN ROOT
   is importable, the same pairs are also run through ROOT's own Chi2Test and
   KolmogorovTest from Python, as a side-by-side baseline for the statistics alone.
2. Held-out set like the issue's: 40 pairs of independent 20,000-entry samples
   of the same distribution, 2 real regressions (0.1 sigma mean shift, 10% wider),
   1 object present only in the reference. O2DPG RelVal runs on the same files when
   O2DPG_ROOT (a checkout) and O2DPG_PYTHON (a Python with ROOT and seaborn) are
   set; otherwise its column says "peer not run" (never a remembered figure).
3. False-alarm rates on 2,000 more same-distribution pairs.

Run: venv/bin/python benchmarks/qa_compare.py [--histograms N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot

from relval.workflows.qa import compare_paths

EDGES_1D = np.linspace(-5, 5, 101)
EDGES_2D = (np.linspace(-3, 3, 21), np.linspace(-3, 3, 21))
PEER_HELP = ("peer not run: set O2DPG_ROOT (an O2DPG checkout) and O2DPG_PYTHON (a Python with ROOT, "
             "numpy, scipy, matplotlib and seaborn, in an O2 environment: its ExtractAndFlatten.C "
             "needs the O2 QualityControl headers) to run O2DPG RelVal on the same files")


def run_peer(new: Path, ref: Path, out: Path) -> dict[str, dict[str, str]] | None:
    """O2DPG RelVal run for real on the same two files: {object: {test: interpretation}}, or None.

    Runs `o2dpg_release_validation.py rel-val` from $O2DPG_ROOT with $O2DPG_PYTHON and reads
    its Summary.json (one line per object and test, with the interpretation GOOD/BAD/...).
    """
    import json
    import subprocess

    root, python = os.environ.get("O2DPG_ROOT"), os.environ.get("O2DPG_PYTHON")
    if not root or not python:
        return None
    script = Path(root) / "RelVal" / "o2dpg_release_validation.py"
    command = [python, str(script), "rel-val", "-i", str(new), "-j", str(ref), "-o", str(out), "--no-plot"]
    # The wrapper calls the `root` executable: the one beside that Python (a venv with `pip install root`).
    path = os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")])
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "O2DPG_ROOT": root, "PATH": path}, timeout=3600)
    summary = out / "Summary.json"
    if done.returncode != 0 or not summary.is_file():
        print(f"[peer] O2DPG RelVal failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
        return None
    grades: dict[str, dict[str, str]] = {}
    for line in json.loads(summary.read_text())["objects"]:
        if "result_name" in line:
            grades.setdefault(line["object_name"], {})[line["metric_name"]] = str(line.get("interpretation"))
    return grades


def _peer_count(peer, names, metric=None) -> str:
    """How many of `names` O2DPG graded BAD (by one metric, or by any)."""
    if peer is None:
        return "peer not run"
    def bad(name):
        tests = next((t for n, t in peer.items() if n == name or n.endswith("/" + name) or n.endswith(name)), None)
        if tests is None:
            return None
        return any(v == "BAD" for m, v in tests.items() if metric is None or metric in m)
    found = [bad(n) for n in names]
    return f"{sum(bool(f) for f in found)}/{len(names)}" + (f" ({found.count(None)} absent)" if None in found else "")


def _probs_1d(mean=0.0, sigma=1.0, edges=EDGES_1D):
    cdf = np.array([0.5 * math.erfc(-(e - mean) / (sigma * math.sqrt(2))) for e in edges])
    p = np.diff(cdf)
    return p / p.sum()


def _probs_2d(shift=0.0):
    px, py = _probs_1d(shift, edges=EDGES_2D[0]), _probs_1d(edges=EDGES_2D[1])
    return np.outer(px, py)


def write_pair(directory: Path, count: int, seed: int = 1) -> tuple[Path, Path, int]:
    """Two files of `count` histograms; every 100th is regressed in the new file."""
    rng = np.random.default_rng(seed)
    p1, p1_shift = _probs_1d(), _probs_1d(0.1)
    p2, p2_shift = _probs_2d(), _probs_2d(0.1)
    new, ref = directory / "new.root", directory / "ref.root"
    regressed = 0
    with uproot.recreate(new) as f_new, uproot.recreate(ref) as f_ref:
        for i in range(count):
            bad = i % 100 == 7
            regressed += bad
            name = f"det{i % 20:02d}/h{i:05d}"
            if i % 3 == 2:  # a third are 2D
                n = 20000
                f_new[name] = (rng.multinomial(n, (p2_shift if bad else p2).ravel()).reshape(20, 20).astype(float),
                               *EDGES_2D)
                f_ref[name] = (rng.multinomial(n, p2.ravel()).reshape(20, 20).astype(float), *EDGES_2D)
            else:
                n = 20000
                f_new[name] = (rng.multinomial(n, p1_shift if bad else p1).astype(float), EDGES_1D)
                f_ref[name] = (rng.multinomial(n, p1).astype(float), EDGES_1D)
    return new, ref, regressed


def root_baseline(new: Path, ref: Path) -> float | None:
    """Seconds for ROOT's Chi2Test + KolmogorovTest over the same pairs (None without ROOT)."""
    try:
        import ROOT
    except ImportError:
        return None
    ROOT.gErrorIgnoreLevel = ROOT.kWarning
    start = time.perf_counter()
    f_new, f_ref = ROOT.TFile.Open(str(new)), ROOT.TFile.Open(str(ref))
    for d in f_ref.GetListOfKeys():
        directory_new, directory_ref = f_new.Get(d.GetName()), f_ref.Get(d.GetName())
        for key in directory_ref.GetListOfKeys():
            a, b = directory_new.Get(key.GetName()), directory_ref.Get(key.GetName())
            a.Chi2Test(b, "UU")
            a.KolmogorovTest(b)
    return time.perf_counter() - start


def _children_cpu() -> float:
    """User + system CPU seconds of the child processes that have exited."""
    times = os.times()
    return times.children_user + times.children_system


def speed(count: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = keep or Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        new, ref, regressed = write_pair(base, count)
        written = time.perf_counter() - start
        start, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
        summary = compare_paths(new, ref, out_dir=base / "qa")  # every output it makes by default
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        worker = _children_cpu() - children  # the overlay worker process, once it has exited
        plots = len(summary.plots)
        print(f"[speed] {count} histograms per file (1D 100 bins and 2D 20x20, {regressed} regressed); "
              f"files written in {written:.1f} s")
        print(f"[speed] relval qa compare: {elapsed:.2f} s wall (goal <= 10 s), {cpu + worker:.2f} s CPU "
              f"({cpu:.2f} s in the process, {worker:.2f} s in its overlay worker), "
              f"{plots} overlays, Summary.json + index.html + report_data.js "
              f"({(base / 'qa' / 'report_data.js').stat().st_size / 1e6:.1f} MB, every histogram drawable) "
              f"+ junit.xml, counts {summary.counts}")
        load = os.getloadavg()[0]
        print(f"[speed] load average {load:.1f} on {os.cpu_count()} CPUs"
              + ("; the machine is shared, the CPU time is the fairer figure" if load > (os.cpu_count() or 1) else ""))
        start, cpu = time.perf_counter(), time.process_time()
        compare_paths(new, ref)
        bare, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"[speed] relval statistics only (no outputs, no plots): {bare:.2f} s wall, {cpu:.2f} s CPU")
        baseline = root_baseline(new, ref)
        if baseline is not None:
            print(f"[speed] ROOT Chi2Test+KolmogorovTest loop (statistics only, no outputs): {baseline:.2f} s; "
                  f"relval/ROOT time ratio {bare / baseline:.1f} (statistics only)")
        else:
            print("[speed] ROOT not importable: no baseline")


def held_out(seed: int = 2026) -> None:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        p = _probs_1d()
        new_objects = {f"same/pair{i:02d}": (rng.multinomial(20000, p).astype(float), EDGES_1D) for i in range(40)}
        ref_objects = {f"same/pair{i:02d}": (rng.multinomial(20000, p).astype(float), EDGES_1D) for i in range(40)}
        new_objects["regression/shifted"] = (rng.multinomial(20000, _probs_1d(0.1)).astype(float), EDGES_1D)
        new_objects["regression/broadened"] = (rng.multinomial(20000, _probs_1d(0, 1.1)).astype(float), EDGES_1D)
        for name in ("regression/shifted", "regression/broadened", "only_in_reference"):
            ref_objects[name] = (rng.multinomial(20000, p).astype(float), EDGES_1D)
        for path, objects in ((base / "new.root", new_objects), (base / "ref.root", ref_objects)):
            with uproot.recreate(path) as sink:
                for key, value in objects.items():
                    sink[key] = value
        summary = compare_paths(base / "new.root", base / "ref.root")
        start = time.perf_counter()
        peer = run_peer(base / "new.root", base / "ref.root", base / "o2dpg")
        peer_seconds = time.perf_counter() - start
    results = {r.name: r for r in summary.results}
    same = [r for n, r in results.items() if n.startswith("same/")]
    ks_bad = sum(r.tests["ks"]["grade"] == "BAD" for r in same)
    chi2_bad = sum(r.tests["chi2"]["grade"] == "BAD" for r in same)
    warnings = sum(r.grade == "WARNING" for r in same)
    bad = sum(r.grade == "BAD" for r in same)
    caught = [n for n in ("regression/shifted", "regression/broadened") if results[n].grade == "BAD"]
    missing = results.get("only_in_reference")
    print("[held-out] 40 same-distribution pairs (20k entries), 2 regressions, 1 object only in the reference")
    same_names = sorted(n for n in results if n.startswith("same/"))
    regressions = ["regression/shifted", "regression/broadened"]
    peer_missing = "peer not run" if peer is None else (
        "reported" if any(n.endswith("only_in_reference") for n in peer) else "dropped")
    print(f"{'':28}{'relval':>28}{'O2DPG RelVal (run here)':>28}")
    print(f"{'KS false BAD':28}{f'{ks_bad}/40':>28}{_peer_count(peer, same_names, 'kolmogorov'):>28}")
    print(f"{'chi2 false BAD':28}{f'{chi2_bad}/40':>28}{_peer_count(peer, same_names, 'chi2'):>28}")
    print(f"{'histogram false BAD':28}{f'{bad}/40':>28}{_peer_count(peer, same_names):>28}")
    print(f"{'histogram WARNING':28}{f'{warnings}/40 (design 1-2%)':>28}{'-':>28}")
    print(f"{'regressions BAD':28}{f'{len(caught)}/2':>28}{_peer_count(peer, regressions):>28}")
    detail = ", ".join(f"{n.split('/')[1]}: chi2 p {results[n].tests['chi2']['p']:.1e}, "
                       f"KS p {results[n].tests['ks']['p']:.1e}" for n in regressions)
    print(f"{'':28}{detail}")
    shown = f"{missing.grade} ({missing.status})" if missing else "not reported"
    print(f"{'object only in reference':28}{shown:>28}{peer_missing:>28}")
    if peer is None:
        print(f"[held-out] {PEER_HELP}")
    else:
        print(f"[held-out] O2DPG RelVal took {peer_seconds:.1f} s on these {len(results)} objects")


def false_alarms(pairs: int = 2000, seed: int = 9) -> None:
    """Per-test and per-histogram rates over many pairs, through the same grading code."""
    from relval.workflows.qa.grading import grade_pair
    from relval.workflows.qa.hist import from_arrays
    from relval.workflows.qa.thresholds import load_thresholds

    settings = load_thresholds(None).for_name("x")
    rng = np.random.default_rng(seed)
    for label, probs, edges, n in (("1D gaus, 100 bins, 20k", _probs_1d(), EDGES_1D, 20000),
                                   ("2D gaus, 20x20, 20k", _probs_2d(), EDGES_2D, 20000),
                                   ("1D gaus, 100 bins, 1k", _probs_1d(), EDGES_1D, 1000)):
        grades = {"chi2": [], "ks": [], "hist": []}
        for _ in range(pairs):
            shape = probs.shape
            a = from_arrays(rng.multinomial(n, probs.ravel()).reshape(shape), edges)
            b = from_arrays(rng.multinomial(n, probs.ravel()).reshape(shape), edges)
            result = grade_pair("x", a, b, settings)
            grades["chi2"].append(result.tests["chi2"]["grade"])
            grades["ks"].append(result.tests["ks"]["grade"])
            grades["hist"].append(result.grade)
        def rate(values, grade):
            return f"{100 * sum(v == grade for v in values) / pairs:.2f}%"
        print(f"[false alarms] {label}, {pairs} pairs: WARNING chi2 {rate(grades['chi2'], 'WARNING')}, "
              f"KS {rate(grades['ks'], 'WARNING')}, histogram {rate(grades['hist'], 'WARNING')} "
              f"(design 1% per test); BAD histogram {rate(grades['hist'], 'BAD')} (limit 1%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histograms", type=int, default=5000)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the files and report here.")
    args = parser.parse_args()
    speed(args.histograms, args.keep)
    held_out()
    false_alarms()


if __name__ == "__main__":
    main()
