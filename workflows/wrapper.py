"""The job wrapper: a POSIX shell script written into every workflow directory.

    wrapper_script(campaign: Campaign) -> str
    wrapper_invocation(job: Job) -> str     # the Makeflow command line of one job

Each rule runs `/bin/sh relval-job.sh LOG WALL_TIME_S WORD...`, the command split at
spaces into quoted words (makeflow limits one token to 1,024 characters). The script

- applies `environment.setup` (with {release} and {campaign} substituted) and exports
  `environment.variables`, in the job's own shell;
- runs COMMAND with `/bin/sh -c`, under `timeout` when the stage has `wall_time_s`;
- writes everything the payload prints to LOG (a declared output of the rule);
- fails the job when LOG matches a crash pattern (built-ins plus
  `validation.error_patterns`, matched as fixed strings), even if COMMAND exited 0.

It needs only basenames in its working directory, so it behaves the same under
`makeflow -T local` and in an HTCondor sandbox. `sh` is called explicitly because file
transfer does not always keep the executable bit.
"""

from __future__ import annotations

import re
import shlex

from relval.workflows.campaign import WRAPPER_NAME, Campaign
from relval.workflows.graph import Job

# From ALICE's log validation of the 2014 benchmark, plus ROOT's signal handler banner.
BUILTIN_PATTERNS = ("There was a crash", "AliFatal", "Segmentation fault", "std::bad_alloc",
                    "core dumped", "*** Break ***")
# Exit codes the wrapper itself uses, so a log says which check failed the job.
EXIT_SETUP_FAILED = 97
EXIT_CRASH_PATTERN = 98


def crash_patterns(campaign: Campaign) -> tuple[str, ...]:
    extra = tuple(p for p in campaign.error_patterns if p not in BUILTIN_PATTERNS)
    return BUILTIN_PATTERNS + extra


# Words shlex.quote leaves alone, and single spaces between them.
_SAFE = re.compile(r"[\w@%+=:,./-]+(?: [\w@%+=:,./-]+)*", re.ASCII)


def wrapper_invocation(job: Job) -> str:
    # One quoted word per space-separated piece: makeflow rejects any single token over
    # 1,024 characters, and a fan-in command can be far longer. The wrapper joins the
    # pieces with single spaces again, which restores the command exactly.
    command = job.command
    if _SAFE.fullmatch(command):  # nothing to quote: the common case, and much faster
        return f"/bin/sh {WRAPPER_NAME} {job.log} {job.wall_time_s} {command}"
    words = " ".join(shlex.quote(w) for w in command.split(" "))
    return f"/bin/sh {WRAPPER_NAME} {job.log} {job.wall_time_s} {words}"


def wrapper_script(campaign: Campaign) -> str:
    setup = campaign.setup.replace("{release}", campaign.release).replace("{campaign}", campaign.name)
    setup = setup.replace("{{", "{").replace("}}", "}").strip()
    exports = "".join(f"  export {name}={shlex.quote(value)}\n" for name, value in campaign.variables)
    grep_args = " ".join(f"-e {shlex.quote(p)}" for p in crash_patterns(campaign))
    setup_lines = (f"  {setup} || {{ echo \"relval-job: environment setup failed (exit $?)\"; "
                   f"return {EXIT_SETUP_FAILED}; }}\n" if setup else "")
    return f"""#!/bin/sh
# relval job wrapper: campaign {campaign.name}, release {campaign.release} (generated; do not edit).
# usage: sh {WRAPPER_NAME} LOG WALL_TIME_S COMMAND-WORDS...
log="$1"; wall="$2"; shift 2; cmd="$*"

payload() {{
{setup_lines}{exports}  if [ "$wall" -gt 0 ] 2>/dev/null && command -v timeout >/dev/null 2>&1; then
    timeout -k 30 "$wall" /bin/sh -c "$cmd"
  else
    /bin/sh -c "$cmd"
  fi
}}

start=$(date +%s)
payload > "$log" 2>&1 < /dev/null
rc=$?
# Only the payload's own output is searched: the lines below are appended afterwards.
match=$(grep -n -F -m 1 {grep_args} -- "$log" 2>/dev/null)
if [ -n "$match" ]; then
  echo "relval-job: crash pattern in log line ${{match%%:*}}: ${{match#*:}}" >> "$log"
  [ "$rc" -eq 0 ] && rc={EXIT_CRASH_PATTERN}
fi
[ "$rc" -eq 124 ] && echo "relval-job: wall time of $wall s exceeded" >> "$log"
echo "relval-job: exit code $rc after $(( $(date +%s) - start )) s on $(hostname)" >> "$log"
echo "relval-job: command: $cmd" >> "$log"
[ "$rc" -ne 0 ] && echo "relval-job: $log failed with exit code $rc" >&2
exit $rc
"""
