"""The shell script that runs a detached makeflow on the head and ends it when nothing
can run any more (pure: it only builds the text).

    supervisor_script(interval_s=15, quiet_s=60) -> str
    SUPERVISOR_NAME   the file name on the head

usage on the head: `sh relval-makeflow.sh LOG MAKEFLOW-ARGV...`

Why: makeflow 8 under `-T condor` never exits once a rule has failed for good while rules
after it are left: it spins in its main loop (measured here with real makeflow and the
`tests/fake_condor.py` stand-in; under `-T local` it exits). The campaign would then be
"running" for ever. The supervisor reads the transaction log every `interval_s`: when
the log has not grown for `quiet_s`, no rule is running (last state 1) and one has failed
(last state 3), makeflow is stopped with SIGTERM, which makes it remove its batch jobs
and write `# ABORTED`; `relval status` then reports the failure. A SIGTERM to the
supervisor (`relval cancel`) is passed on to makeflow the same way.
"""

from __future__ import annotations

SUPERVISOR_NAME = "relval-makeflow.sh"


def supervisor_script(interval_s: int = 15, quiet_s: int = 60) -> str:
    return f"""#!/bin/sh
# relval: run makeflow; stop it once nothing runs and a rule failed for good (generated).
log="$1"; shift
"$@" &
mf=$!
trap 'kill -TERM $mf 2>/dev/null' TERM INT HUP
stuck() {{  # no node's last state is 1 (running) and one's is 3 (failed)
  awk '!/^#/ && NF >= 10 {{ s[$2] = $3 }}
       END {{ r = 0; f = 0; for (n in s) {{ if (s[n] == 1) r++; if (s[n] == 3) f++ }}; exit !(r == 0 && f > 0) }}' "$log"
}}
quiet=0; last=""
while kill -0 $mf 2>/dev/null; do
  sleep {interval_s} & wait $!
  size=$(wc -c < "$log" 2>/dev/null)
  if [ "$size" = "$last" ]; then quiet=$((quiet + {interval_s})); else quiet=0; last="$size"; fi
  if [ $quiet -ge {quiet_s} ] && stuck; then
    echo "relval: a rule failed for good and nothing else can run; stopping makeflow"
    kill -TERM $mf 2>/dev/null
    break
  fi
done
while kill -0 $mf 2>/dev/null; do wait $mf; done
wait $mf
"""
