"""The job wrapper: a POSIX shell script written into every workflow directory.

    wrapper_script(campaign: Campaign) -> str
    wrapper_invocation(job: Job, cmd_file=None) -> str   # the Makeflow command line of one job
    command_file(job: Job) -> str | None    # where a too-long command goes instead

Each rule runs `/bin/sh relval-job.sh LOG WALL_TIME_S -c WORD...`, the command encoded
so that makeflow's parser cannot change a byte of it (`relval.workflows.shell`), or
`-f CMD_FILE` when the command is too long for one command line. The script

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

import shlex

from relval.workflows.campaign import WRAPPER_NAME, Campaign, render_shell
from relval.workflows.graph import Job
from relval.workflows.resources import MONITOR
from relval.workflows.shell import encode_words

# From ALICE's log validation of the 2014 benchmark, plus ROOT's signal handler banner.
BUILTIN_PATTERNS = ("There was a crash", "AliFatal", "Segmentation fault", "std::bad_alloc",
                    "core dumped", "*** Break ***")
# Exit codes the wrapper itself uses, so a log says which check failed the job.
EXIT_SETUP_FAILED = 97
EXIT_CRASH_PATTERN = 98


def crash_patterns(campaign: Campaign) -> tuple[str, ...]:
    extra = tuple(p for p in campaign.error_patterns if p not in BUILTIN_PATTERNS)
    return BUILTIN_PATTERNS + extra


# A rule's command line must stay well below Linux's 128 KiB limit on one argument
# (makeflow runs it with `/bin/sh -c`); a longer payload command goes into a file.
INLINE_LIMIT = 32 * 1024


def command_file(job: Job) -> str | None:
    """The name of the file holding the job's command when it is too long to inline."""
    if len(job.command) * 4 + len(job.log) < INLINE_LIMIT:  # fast: the worst case fits
        return None
    if len(" ".join(encode_words(job.command))) < INLINE_LIMIT:
        return None
    return job.log[:-len(".log")] + ".cmd"


def wrapper_invocation(job: Job, cmd_file: str | None = None) -> str:
    """`/bin/sh relval-job.sh LOG WALL -c WORD...` with the command encoded for makeflow
    (see `relval.workflows.shell`), or `... -f CMD_FILE` for a long command."""
    if cmd_file is not None:
        return f"/bin/sh {WRAPPER_NAME} {job.log} {job.wall_time_s} -f {cmd_file}"
    words = " ".join(encode_words(job.command))
    return f"/bin/sh {WRAPPER_NAME} {job.log} {job.wall_time_s} -c {words}"


def wrapper_script(campaign: Campaign) -> str:
    setup = render_shell(campaign.setup, {"release": campaign.release, "campaign": campaign.name}).strip()
    exports = "".join(f"  export {name}={shlex.quote(value)}\n" for name, value in campaign.variables)
    grep_args = " ".join(f"-e {shlex.quote(p)}" for p in crash_patterns(campaign))
    setup_lines = (f"  {setup} || {{ echo \"relval-job: environment setup failed (exit $?)\"; "
                   f"return {EXIT_SETUP_FAILED}; }}\n" if setup else "")
    assert "'" not in MONITOR  # it goes into the script between single quotes
    return f"""#!/bin/sh
# relval job wrapper: campaign {campaign.name}, release {campaign.release} (generated; do not edit).
# usage: sh {WRAPPER_NAME} LOG WALL_TIME_S -c ENCODED-WORD... | -f COMMAND-FILE
log="$1"; wall="$2"; mode="$3"; shift 3
if [ "$mode" = -f ]; then
  cmd="(the command in $1)"; set -- /bin/sh "$1"  # name the file before $1 is replaced
else
  # Words of [A-Za-z0-9_@+=:,./-]; any other byte is %ooo (octal), because makeflow's
  # parser rewrites backslashes and quotes; a word starting with %_ continues the last.
  enc=""
  for w in "$@"; do
    case "$w" in %_*) enc="$enc${{w#%_}}";; *) enc="${{enc:+$enc }}$w";; esac
  done
  cmd=$(printf '%b' "$(printf '%s' "$enc" | sed 's/%\\([0-7][0-7][0-7]\\)/\\\\0\\1/g')")
  set -- /bin/sh -c "$cmd"
fi

# One line `relval-job: metrics ...` (relval.workflows.resources.parse_metrics reads it).
metrics_line() {{
  cpu=$(awk 'NR == 2 {{ t = 0; for (i = 1; i <= NF; i++) {{ v = $i; sub(/s$/, "", v); split(v, p, "m");
          t += p[1] * 60 + p[2] }}; printf "%.2f", t }}' "$log.times" 2>/dev/null)
  set -- $(cat "$log.rss" 2>/dev/null) ""
  written=$(awk '$1 == "wchar:" {{ print $2 }}' /proc/$$/io 2>/dev/null)
  rm -f "$log.times" "$log.rss"
  printf 'relval-job: metrics'
  [ -n "$cpu" ] && printf ' cpu_s=%s' "$cpu"
  printf ' wall_s=%s' "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {{ printf "%.2f", b - a }}')"
  [ "${{1:-0}}" != 0 ] && printf ' max_rss_kb=%s' "$1"  # 0: gone before the first sample
  [ -n "$written" ] && printf ' bytes_written=%s' "$written"
  echo
}}

payload() {{
{setup_lines}{exports}  if [ "$wall" -gt 0 ] 2>/dev/null && command -v timeout >/dev/null 2>&1; then
    timeout -k 30 "$wall" "$@"
  else
    "$@"
  fi
}}

start=$(date +%s)
t0=$(date +%s.%N)
# The payload runs in the background so that its process tree can be measured (see
# relval.workflows.resources); its subshell records its children's CPU time with `times`.
( payload "$@"; rc=$?; times > "$log.times" 2>/dev/null; exit $rc ) > "$log" 2>&1 < /dev/null &
job=$!
# Memory is sampled only in jobs that outlive a second, so a short job pays a `sleep`, not
# a Python start; the sampler ignores the TERM below once it runs.
( sleep 1; kill -0 "$job" 2>/dev/null && command -v python3 >/dev/null 2>&1 &&
  exec python3 -c '{MONITOR}' "$job" ) > "$log.rss" 2>/dev/null < /dev/null &
mon=$!
trap 'kill "$job" "$mon" 2>/dev/null' TERM INT HUP
wait "$job"
rc=$?
kill "$mon" 2>/dev/null
wait "$mon" 2>/dev/null
# Only the payload's own output is searched: the lines below are appended afterwards.
match=$(grep -n -F -m 1 {grep_args} -- "$log" 2>/dev/null)
if [ -n "$match" ]; then
  echo "relval-job: crash pattern in log line ${{match%%:*}}: ${{match#*:}}" >> "$log"
  [ "$rc" -eq 0 ] && rc={EXIT_CRASH_PATTERN}
fi
metrics_line >> "$log"
[ "$rc" -eq 124 ] && echo "relval-job: wall time of $wall s exceeded" >> "$log"
echo "relval-job: exit code $rc after $(( $(date +%s) - start )) s on $(hostname)" >> "$log"
echo "relval-job: command: $cmd" >> "$log"
[ "$rc" -ne 0 ] && echo "relval-job: $log failed with exit code $rc" >&2
exit $rc
"""
