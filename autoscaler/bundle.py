"""A self-contained zip of the scaler for the head node (`python bundle.pyz --config F`).

cloud-init delivers it inside the head's user-data, so it must be small: only the
daemon's modules, with docstrings and comments stripped. It is byte-for-byte
reproducible, because a changed user-data makes Nova replace the head.
"""

from __future__ import annotations

import ast
import io
import zipfile
from importlib import resources

# relval.autoscaler modules the daemon imports (the simulator and fakes stay behind).
DAEMON_MODULES = ("__init__", "__main__", "model", "config", "core", "state", "controller",
                  "interfaces", "metrics", "daemon", "teardown", "adapters/__init__",
                  "adapters/condor", "adapters/openstack", "adapters/ec2")
SHARED_MODULES = ("__init__", "errors", "fields")
ENTRY = "import runpy\nrunpy.run_module('relval.autoscaler', run_name='__main__')\n"
FIXED_TIME = (2000, 1, 1, 0, 0, 0)


def _strip_docstrings(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree) + "\n"


def _read(package: str, module: str) -> str:
    return resources.files(package).joinpath(f"{module}.py").read_text()


def bundle_daemon() -> bytes:
    """The zip application's bytes."""
    files = {"__main__.py": ENTRY}
    for module in SHARED_MODULES:
        files[f"relval/{module}.py"] = _strip_docstrings(_read("relval", module))
    for module in DAEMON_MODULES:
        files[f"relval/autoscaler/{module}.py"] = _strip_docstrings(_read("relval.autoscaler", module))
    # Stored, not deflated: the user-data gzips the whole zip in one stream
    # (`bundle_gzip_b64`), which compresses across modules and keeps the head's
    # user-data under Nova's 64 KiB.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            archive.writestr(info, files[name])
    return buffer.getvalue()


def bundle_gzip_b64() -> str:
    """The zip as cloud-init's `gz+b64` write_files content (reproducible: no gzip mtime)."""
    import base64
    import gzip

    return base64.b64encode(gzip.compress(bundle_daemon(), compresslevel=9, mtime=0)).decode()


# The daemon's third-party imports, pinned like requirements.txt (a test keeps them equal).
DAEMON_REQUIREMENTS = ("openstacksdk==4.22.0", "htcondor==25.14.1", "PyYAML==6.0.3")
EC2_REQUIREMENTS = ("boto3==1.43.11",)
