"""Archive throughput to a local XRootD server, against plain `xrdcp` of the same files.

    venv/bin/python benchmarks/archive_xrootd.py [--size-mb 1024] [--files 16]

Makes a campaign-like directory of FILES random files (SIZE_MB in all), starts a real
xrootd on loopback (Debian's xrootd-server), then times:
- the archive: `upload_verified` (xrdcp --cksum adler32 per directory batch, then one
  `xrdfs ls -C` to verify) and `download_verified` (xrdcp, then adler32 of every file);
- the baseline: `xrdcp --recursive` of the directory up, and back down, no verification.
Prints MB/s for each and the ratio archive/xrdcp (1.0 = as fast as xrdcp).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relval.workflows.archive import open_archive  # noqa: E402
from relval.workflows.archive.backend import adler32_of  # noqa: E402
from relval.workflows.archive.transfer import download_verified, upload_verified  # noqa: E402
from tests.archive_support import local_xrootd  # noqa: E402


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("xrootd") is None or shutil.which("xrdcp") is None:
        print("xrootd-server and xrootd-client are needed (make setup installs them)")
        return 2
    with tempfile.TemporaryDirectory(prefix="relval-bench-") as tmp, local_xrootd() as server:
        source = Path(tmp) / "campaign"
        source.mkdir()
        per_file = args.size_mb * 2**20 // args.files
        for i in range(args.files):
            (source / f"pp.{i:04d}.QAresults.root").write_bytes(os.urandom(per_file))
        total_mb = per_file * args.files / 2**20
        pairs = [(p, f"run/outputs/{p.name}") for p in sorted(source.iterdir())]
        backend = open_archive(server.url("/arch/bench"))
        up = timed(lambda: upload_verified(backend, pairs))
        entries = [{"key": key, "size": p.stat().st_size, "adler32": adler32_of(p)} for p, key in pairs]
        down = timed(lambda: download_verified(backend, entries, Path(tmp) / "back"))
        subprocess.run(["xrdfs", f"root://{server.host}", "mkdir", "-p", "/arch/plain"], check=True)
        plain_up = timed(lambda: subprocess.run(
            ["xrdcp", "--silent", "--force", "--recursive", "--parallel", "4", str(source),
             f"root://{server.host}//arch/plain/"], check=True))
        (Path(tmp) / "plain").mkdir()
        plain_down = timed(lambda: subprocess.run(
            ["xrdcp", "--silent", "--force", "--recursive", "--parallel", "4",
             f"root://{server.host}//arch/plain/campaign", str(Path(tmp) / "plain") + "/"], check=True))
    print(f"{args.files} files, {total_mb:.0f} MB, local XRootD server on loopback")
    print(f"  upload   archive (verified) {total_mb / up:7.1f} MB/s   xrdcp {total_mb / plain_up:7.1f} MB/s"
          f"   ratio archive/xrdcp {plain_up / up:.2f}")
    print(f"  download archive (verified) {total_mb / down:7.1f} MB/s   xrdcp {total_mb / plain_down:7.1f} MB/s"
          f"   ratio archive/xrdcp {plain_down / down:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
