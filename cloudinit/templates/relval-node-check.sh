#!/bin/sh
# relval: check what the image must bring. Writes each problem to stderr and to
# /var/log/relval-node-check.log, and exits 1 if there is one.
#   condor    HTCondor >= 9 (IDTOKENS, recommended_v9_0) with condor_token_create;
#   makeflow  makeflow on PATH (the head runs campaigns with `makeflow -T condor`).
set -u
PATH="$PATH:/usr/local/sbin:/usr/local/bin"
LOG=${RELVAL_CHECK_LOG:-/var/log/relval-node-check.log}
failed=0
problem() {
  echo "relval: $*" >&2
  echo "$(date -u +%FT%TZ) $*" >> "$LOG"
  failed=1
}
for what in "$@"; do
  case "$what" in
    condor)
      if ! command -v condor_version >/dev/null 2>&1; then
        problem "HTCondor is not installed: this node cannot join the pool"
      else
        version=$(condor_version | sed -n 's/^\$CondorVersion: \([0-9][0-9]*\)\..*/\1/p' | head -n 1)
        if [ -z "$version" ] || [ "$version" -lt 9 ]; then
          problem "HTCondor ${version:-of unknown version} is older than 9: no IDTOKENS, no recommended_v9_0"
        fi
      fi
      command -v condor_token_create >/dev/null 2>&1 ||
        problem "condor_token_create is missing: the node cannot mint its pool token"
      ;;
    makeflow)
      command -v makeflow >/dev/null 2>&1 ||
        problem "makeflow is missing on the head: set relval:makeflow to a CCTools release (EPEL 9 has none)"
      ;;
    *) problem "unknown check $what" ;;
  esac
done
exit "$failed"
