#!/bin/sh
# relval: a Python >= 3.10 virtualenv for the elastic scaler, with its pinned dependencies.
set -eu
PY=
for candidate in python3.12 python3.11 python3.10 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    PY=$candidate
    break
  fi
done
if [ -z "$PY" ]; then
  dnf -y -q install python3.11 || yum -y -q install python3.11
  PY=python3.11
fi
"$PY" -m venv {{venv}}
{{venv}}/bin/pip install -q --upgrade pip
{{venv}}/bin/pip install -q {{requirements}}
