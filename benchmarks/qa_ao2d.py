"""Benchmark: compare two AO2D-like files (tables x columns x rows), wall time and peak memory.

Two files are written with uproot, each with TABLES trees `DF_<n>/O2table<i>` of
COLUMNS float columns of ROWS rows (ZSTD level 5, O2's AO2D default 505), the new file
with one column shifted by 0.2 sigma. `compare_paths` then runs in a child
process (no plots), so its peak resident memory is its own; the script prints the
wall time, the CPU time (what the machine's load does not change), the peak memory,
the load average, and whether the shifted column was caught.

Goal (issue 13): 20 tables x 30 columns x 1,000,000 rows in <= 30 s and <= 2 GB.

Run: venv/bin/python benchmarks/qa_ao2d.py [--tables 20] [--columns 30] [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
from relval.workflows.qa import compare_paths
start = time.perf_counter()
summary = compare_paths(sys.argv[1], sys.argv[2], plots=False)
wall = time.perf_counter() - start
bad = [r.name for r in summary.results if r.grade == "BAD"]
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": wall, "peak_kib": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime,
                  "objects": len(summary.results), "bad": bad, "verdict": summary.verdict}))
"""


def write(path: Path, tables: int, columns: int, rows: int, seed: int, shifted: str | None) -> None:
    import uproot

    rng = np.random.default_rng(seed)
    with uproot.recreate(path, compression=uproot.ZSTD(5)) as sink:
        for t in range(tables):
            name = f"DF_{1000 + seed}/O2table{t}"
            data = {}
            for c in range(columns):
                mean = 0.2 if shifted == f"DF_*/O2table{t}/f{c}" else 0.0
                data[f"f{c}"] = rng.normal(mean, 1.0, rows).astype(np.float32)
            tree = sink.mktree(name, {column: np.float32 for column in data})  # a TTree, not an RNTuple
            tree.extend(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="relval-ao2d-"))
    work.mkdir(parents=True, exist_ok=True)
    new, ref = work / "new.root", work / "ref.root"
    shifted = "DF_*/O2table3/f7"
    if not (new.exists() and ref.exists()):
        start = time.perf_counter()
        write(ref, args.tables, args.columns, args.rows, 1, None)
        write(new, args.tables, args.columns, args.rows, 2, shifted)
        print(f"wrote 2 files of {args.tables} tables x {args.columns} columns x {args.rows:,} rows "
              f"({(new.stat().st_size + ref.stat().st_size) / 1e9:.2f} GB) in {time.perf_counter() - start:.1f} s")
    run = subprocess.run([sys.executable, "-c", CHILD, str(new), str(ref)], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"comparison failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"compare: {result['objects']} columns in {result['wall']:.1f} s wall (goal <= 30 s), "
          f"{result['cpu']:.1f} s CPU, peak memory {result['peak_kib'] / 1024 / 1024:.2f} GB (goal <= 2 GB); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"verdict {result['verdict']}; BAD: {result['bad']} (planted: {shifted})")
    if not args.keep:
        for path in (new, ref):
            path.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
