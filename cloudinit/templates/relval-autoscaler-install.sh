#!/bin/sh
# relval: a Python >= 3.10 virtualenv for the elastic scaler, with its pinned dependencies.
# The unit runs this before every start (ExecStartPre): once done it does nothing, and a
# failure (dnf, pip, the network) is retried at the unit's next restart, 30 s later.
set -eu
VENV={{venv}}
STAMP_CONTENT={{stamp}}
if [ -f "$VENV/.relval-installed" ] && [ "$(cat "$VENV/.relval-installed")" = "$STAMP_CONTENT" ]; then
  exit 0
fi
PY=
for candidate in python3.12 python3.11 python3.10 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    PY=$candidate
    break
  fi
done
if [ -z "$PY" ]; then
  dnf -y -q install python3.11 || yum -y -q install python3.11 || true
  if ! command -v python3.11 >/dev/null 2>&1; then
    echo "relval-autoscaler-install: no Python >= 3.10 here and none installable" \
         "(an EL7 image such as CernVM 4?); retried at the next start" >&2
    exit 1
  fi
  PY=python3.11
fi
rm -rf "$VENV"   # what a failed attempt left
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q {{requirements}}
echo "$STAMP_CONTENT" > "$VENV/.relval-installed"
