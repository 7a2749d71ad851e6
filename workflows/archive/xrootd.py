"""The root:// backend (EOS, or any XRootD server) through the `xrdcp` and `xrdfs` tools
(Debian's `xrootd-client`, present on CernVM and lxplus): `root://HOST[:PORT]//PATH`.

Files bound for one directory go up in one `xrdcp` call (several sources, `--parallel`),
each with `--cksum adler32` (the server computes the adler32 of what it stored and xrdcp
compares it with the source's) and `--posc` (a failed transfer leaves no partial file).
`stat` is one `xrdfs ls -l -R -C` of the run directory: the size and the server's adler32
of every file. Timeouts are short by default (`XRD_CONNECTIONWINDOW`, `XRD_REQUESTTIMEOUT`
from the environment win), so an unreachable server is reported in seconds, not minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from relval.workflows.archive.backend import ArchiveError, Remote, join_key

PARALLEL = 4
TOOL_TIMEOUT_S = 3600
XRD_DEFAULTS = {"XRD_CONNECTIONWINDOW": "10", "XRD_CONNECTIONRETRY": "2", "XRD_REQUESTTIMEOUT": "120",
                "XRD_STREAMTIMEOUT": "120"}


def split_url(url: str) -> tuple[str, str]:
    """`root://host:1094//eos/x` -> (`root://host:1094`, `/eos/x`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("root", "xroot") or not parts.netloc:
        raise ArchiveError(f"{url}: an XRootD archive URL looks like root://HOST[:PORT]//PATH")
    return f"{parts.scheme}://{parts.netloc}", "/" + parts.path.lstrip("/")


class XRootDBackend:
    checksum_kind = "adler32"

    def __init__(self, url: str):
        for tool in ("xrdcp", "xrdfs"):
            if shutil.which(tool) is None:
                raise ArchiveError(f"{url}: `{tool}` not found: install the XRootD client "
                                   "(Debian/Ubuntu: apt-get install xrootd-client)")
        self.url = url
        self.server, self.base = split_url(url)
        self.env = {**XRD_DEFAULTS, **os.environ}

    def _path(self, key: str) -> str:
        return "/" + join_key(self.base, key)

    def _url(self, key: str) -> str:
        return f"{self.server}/{self._path(key)}"

    def _run(self, argv: list[str], what: str) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                                  timeout=TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ArchiveError(f"{self.url}: {what}: {argv[0]} timed out") from None
        return done

    def _xrdfs(self, *args: str) -> subprocess.CompletedProcess:
        return self._run(["xrdfs", self.server, *args], f"xrdfs {args[0]}")

    def _mkdir(self, path: str) -> None:
        done = self._xrdfs("mkdir", "-p", path)
        if done.returncode != 0 and "exists" not in done.stderr:
            raise ArchiveError(f"{self.url}: cannot create {path}: {_error(done)}")

    def put(self, pairs: list[tuple[Path, str]]) -> None:
        # One xrdcp per target directory; a source whose name differs from its key's goes alone.
        batches: dict[str, list[Path]] = defaultdict(list)
        single: list[tuple[Path, str]] = []
        for source, key in pairs:
            if Path(source).name == key.rsplit("/", 1)[-1]:
                batches[key.rsplit("/", 1)[0] if "/" in key else ""].append(Path(source))
            else:
                single.append((Path(source), key))
        for directory, sources in batches.items():
            self._mkdir(self._path(directory))
            target = self._url(directory).rstrip("/") + "/"
            self._copy([str(s) for s in sources], target, f"upload to {directory or '/'}")
        for source, key in single:
            self._copy([str(source)], self._url(key), f"upload {key}")

    def _copy(self, sources: list[str], target: str, what: str) -> None:
        argv = ["xrdcp", "--force", "--nopbar", "--cksum", "adler32", "--parallel", str(PARALLEL)]
        if target.startswith("root:") or target.startswith("xroot:"):
            argv.append("--posc")
        done = self._run(argv + sources + [target], what)
        if done.returncode != 0:
            raise ArchiveError(f"{self.url}: {what} failed: {_error(done)}")

    def stat(self, keys: list[str]) -> dict[str, Remote]:
        if not keys:
            return {}
        # One listing of the deepest directory that holds every key.
        common = os.path.commonpath(["/" + k for k in keys]).lstrip("/")
        if common in keys:
            common = common.rsplit("/", 1)[0] if "/" in common else ""
        listed = {r.key: r for r in self._listing(common, checksums=True)}
        return {k: listed[k] for k in keys if k in listed}

    def _listing(self, prefix: str, checksums: bool) -> list[Remote]:
        args = ["ls", "-l", "-R"] + (["-C"] if checksums else []) + [self._path(prefix)]
        done = self._xrdfs(*args)
        if done.returncode != 0:
            if "[3011]" in done.stderr:  # no such directory: nothing archived there yet
                return []
            raise ArchiveError(f"{self.url}: cannot list {prefix or '/'}: {_error(done)}")
        base = "/" + join_key(self.base) + "/" if join_key(self.base) else "/"
        found = []
        for line in done.stdout.splitlines():
            fields = line.split(maxsplit=7 if checksums else 6)
            if not fields or not fields[0].startswith("-"):
                continue  # directories
            path = fields[-1]
            checksum = fields[4].split(":", 1)[1] if checksums else None
            found.append(Remote(path[len(base):] if path.startswith(base) else path.lstrip("/"),
                                int(fields[3]), checksum))
        return found

    def get(self, pairs: list[tuple[str, Path]]) -> None:
        batches: dict[Path, list[str]] = defaultdict(list)
        single: list[tuple[str, Path]] = []
        for key, target in pairs:
            if Path(target).name == key.rsplit("/", 1)[-1]:
                batches[Path(target).parent].append(key)
            else:
                single.append((key, Path(target)))
        for directory, keys in batches.items():
            directory.mkdir(parents=True, exist_ok=True)
            self._copy([self._url(k) for k in keys], str(directory) + "/", f"download to {directory}")
        for key, target in single:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._copy([self._url(key)], str(target), f"download {key}")

    def list(self, prefix: str) -> list[Remote]:
        return self._listing(prefix, checksums=False)

    def read(self, key: str) -> bytes:
        try:
            done = subprocess.run(["xrdcp", "--silent", self._url(key), "-"], capture_output=True,
                                  env=self.env, timeout=TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ArchiveError(f"{self.url}: reading {key} timed out") from None
        if done.returncode != 0:
            raise ArchiveError(f"{self.url}: cannot read {key}: "
                               f"{_error_text(done.stderr.decode(errors='replace'))}")
        return done.stdout

    def write(self, key: str, data: bytes) -> None:
        with tempfile.TemporaryDirectory(prefix="relval-xrd-") as tmp:
            local = Path(tmp) / key.rsplit("/", 1)[-1]
            local.write_bytes(data)
            self.put([(local, key)])


def _error(done: subprocess.CompletedProcess) -> str:
    return _error_text(done.stderr or done.stdout or f"exit {done.returncode}")


def _error_text(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "error" in line] or lines
    return " ".join(dict.fromkeys(errors[:3])) or "unknown error"
