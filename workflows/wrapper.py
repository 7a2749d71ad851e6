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

import re
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
EXIT_MISSING_OUTPUT = 95
EXIT_TOO_FEW_INPUTS = 94


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


def inputs_file(job: Job) -> str | None:
    """The name of the file listing the job's inputs when the list is too long to inline
    (a large fan-in); the wrapper reads it to link the inputs into the job's directory."""
    if sum(len(name) + 1 for name in (*job.inputs, *job.aux)) < INLINE_LIMIT:
        return None
    return job.log[:-len(".log")] + ".inputs"


def inputs_list(job: Job) -> str:
    """The content of `inputs_file`: one name per line."""
    return "".join(f"{name}\n" for name in (*job.inputs, *job.aux))


def wrapper_invocation(job: Job, cmd_file: str | None = None, list_file: str | None = None) -> str:
    """`/bin/sh relval-job.sh LOG WALL -o N OUT... -i N IN... -c WORD...`: the declared
    outputs and inputs (data and auxiliary files), then the command encoded for makeflow
    (see `relval.workflows.shell`); `-i @LIST_FILE` and `-f CMD_FILE` for long ones."""
    outputs = " ".join((f"-o {len(job.outputs)}", *job.outputs))
    names = (*job.inputs, *job.aux)
    inputs = f"-i @{list_file}" if list_file else " ".join((f"-i {len(names)}", *names))
    head = f"/bin/sh {WRAPPER_NAME} {job.log} {job.wall_time_s} {outputs} {inputs}"
    if job.tolerant:
        head += " -t"
    if job.accept is not None:  # the first len(job.inputs) inputs may be left-out placeholders
        head += f" -m {job.accept:g} {len(job.inputs)}"
    if cmd_file is not None:
        return f"{head} -f {cmd_file}"
    return f"{head} -c {' '.join(encode_words(job.command))}"


def wrapper_script(campaign: Campaign) -> str:
    setup = render_shell(campaign.setup, {"release": campaign.release, "campaign": campaign.name}).strip()
    exports = "".join(f"  export {name}={shlex.quote(value)}\n" for name, value in campaign.variables)
    grep_args = " ".join(f"-e {shlex.quote(p)}" for p in crash_patterns(campaign))
    setup_lines = setup_block(setup)
    assert "'" not in MONITOR  # it goes into the script between single quotes
    return f"""#!/bin/sh
# relval job wrapper: campaign {campaign.name}, release {campaign.release} (generated; do not edit).
# usage: sh {WRAPPER_NAME} LOG WALL_TIME_S -o N OUTPUT... -i N INPUT...|-i @LIST -c ENCODED-WORD...|-f COMMAND-FILE
# The job runs in a private directory (.relval-jobs/<log>) holding links to its declared
# inputs; only its declared outputs are moved out (so under HTCondor no stray file is sent
# back), and its log is written beside them.
if [ "$1" = --payload ]; then  # the payload's own process group: setup, environment, command
  wall="$2"; shift 2
{setup_lines}{exports}  if [ "$wall" -gt 0 ] 2>/dev/null && command -v timeout >/dev/null 2>&1; then
    exec timeout -k 30 "$wall" "$@"
  fi
  exec "$@"
fi
log="$1"; wall="$2"; shift 2
top=$(pwd); outputs=""; inputs=""; tolerant=""; accept=""; notes=""
while :; do
  case "$1" in
    -t) tolerant=1; shift; continue;;
    -m) accept="$2"; ndata="$3"; shift 3; continue;;
    -o|-i) ;;
    *) break;;
  esac
  opt="$1"; n="$2"; shift 2; list=""
  case "$n" in
    @*) list=$(cat -- "$top/${{n#@}}") || exit 96;;
    *) while [ "$n" -gt 0 ]; do list="$list $1"; shift; n=$((n - 1)); done;;
  esac
  if [ "$opt" = -o ]; then outputs="$list"; else inputs="$list"; fi
done
mode="$1"; shift
if [ "$mode" = -f ]; then
  cmd="(the command in $1)"; set -- /bin/sh "$top/$1"  # name the file before $1 is replaced
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

if [ -n "$accept" ]; then  # inputs may have been left out upstream (min_success_fraction)
  set -f; i=0; good=""; missing=""; rest=""
  for name in $inputs; do
    i=$((i + 1))
    if [ $i -gt "$ndata" ]; then rest="$rest $name"
    elif [ -s "$top/$name" ]; then good="$good $name"
    else missing="$missing $name"; fi
  done
  set +f
  ngood=$(echo $good | wc -w)
  if [ -z "$good" ] && [ "$ndata" -eq 1 ]; then  # its only input was left out: so is this job
    for name in $outputs; do : > "$top/$name"; done
    echo "relval-job: left out: its input$missing was left out upstream" > "$top/$log"
    exit 0
  fi
  if ! awk -v g="$ngood" -v k="$ndata" -v f="$accept" 'BEGIN {{ exit !(g >= f * k - 1e-9) }}'; then
    echo "relval-job: only $ngood of $ndata inputs succeeded, fewer than min_success_fraction $accept asks; left out:$missing" > "$top/$log"
    echo "relval-job: ${{log##*/}} failed with exit code {EXIT_TOO_FEW_INPUTS}" >&2
    exit {EXIT_TOO_FEW_INPUTS}
  fi
  inputs="$good$rest"
  RELVAL_INPUTS=$(echo $good); export RELVAL_INPUTS
  [ -n "$missing" ] && notes="relval-job: $ngood of $ndata inputs used; left out:$missing"
fi

box="$top/.relval-jobs/$log"
rm -rf "$box" && mkdir -p "$box" || {{ echo "relval-job: cannot create $box" >&2; exit 96; }}
set -f  # names are plain words; never globs
for name in $inputs; do ln -s "$top/$name" "$box/$name" || exit 96; done
set +f

# The payload gets a process group of its own (setsid), so a stop reaches every process it
# started, also under `timeout`, which would otherwise leave its own group behind.
# The trap is set before the payload starts: a stop that lands between its start and the
# trap would otherwise kill this shell and leave the payload running.
pid= mon=
stop() {{
  pid=${{pid:-$!}}
  [ -n "$pid" ] || {{ rm -rf "$box"; exit 143; }}
  kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  # Until the payload is gone or a zombie (it stays one until waited for), at most 2 s.
  i=0; while [ $i -lt 20 ] && [ -e "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat" 2>/dev/null; do
    sleep 0.1; i=$((i + 1)); done
  # The payload itself first: a TERM can land before it has called setsid (no group yet),
  # and once it is dead it starts nothing new that the group kill would miss.
  kill -KILL "$pid" 2>/dev/null; kill -KILL "-$pid" 2>/dev/null
  stop_sampler  # only now: it ignores TERM and ends when the payload has
  echo "relval-job: stopped by a signal; the payload's processes were killed" >> "$top/$log"
  rm -rf "$box"
  exit 143
}}
start=$(date +%s)
t0=$(date +%s.%N)
cd "$box" || exit 96
# The sampler (and its `sleep`) inherit every descriptor, the run's flock included:
# they must be gone when the job is, or the next run finds the directory locked.
stop_sampler() {{ [ -n "$mon" ] || return 0; pkill -P "$mon" 2>/dev/null; kill "$mon" 2>/dev/null; wait "$mon" 2>/dev/null; }}
trap stop TERM INT HUP
if command -v setsid >/dev/null 2>&1; then
  setsid /bin/sh "$top/{WRAPPER_NAME}" --payload "$wall" "$@" > "$top/$log" 2>&1 < /dev/null &
else
  /bin/sh "$top/{WRAPPER_NAME}" --payload "$wall" "$@" > "$top/$log" 2>&1 < /dev/null &
fi
pid=$!
# Memory is sampled only in jobs that outlive 0.2 s, so a tiny job pays a `sleep`, not a
# Python start (relval.workflows.resources reads the figures; each process's own peak).
( sleep 0.2; kill -0 "$pid" 2>/dev/null && command -v python3 >/dev/null 2>&1 &&
  exec python3 -c '{MONITOR}' "$pid" ) > "$top/$log.rss" 2>/dev/null < /dev/null &
mon=$!
wait "$pid"
rc=$?
trap - TERM INT HUP
stop_sampler
times > "$top/$log.times" 2>/dev/null  # line 2: the CPU time of the waited-for payload tree
cd "$top" || exit 96
log="$top/$log"
# Only the payload's own output is searched: the lines below are appended afterwards.
match=$(grep -n -F -m 1 {grep_args} -- "$log" 2>/dev/null)
if [ -n "$match" ]; then
  echo "relval-job: crash pattern in log line ${{match%%:*}}: ${{match#*:}}" >> "$log"
  [ "$rc" -eq 0 ] && rc={EXIT_CRASH_PATTERN}
fi
metrics_line >> "$log"
[ "$rc" -eq 124 ] && echo "relval-job: wall time of $wall s exceeded" >> "$log"
[ -n "$notes" ] && echo "$notes" >> "$log"
set -f
if [ "$rc" -ne 0 ] && [ -n "$tolerant" ]; then  # left out: empty outputs mark it downstream
  echo "relval-job: failure tolerated (min_success_fraction): exit code $rc; its outputs are left out" >> "$log"
  for name in $outputs; do rm -f "$box/$name"; : > "$top/$name"; done
  outputs=""; rc=0
fi
for name in $outputs; do
  if [ -f "$box/$name" ] && [ ! -L "$box/$name" ]; then
    mv -f "$box/$name" "$top/$name"
  else
    echo "relval-job: declared output $name was not written" >> "$log"
    [ "$rc" -eq 0 ] && rc={EXIT_MISSING_OUTPUT}
  fi
done
set +f
rm -rf "$box"
echo "relval-job: exit code $rc after $(( $(date +%s) - start )) s on $(hostname)" >> "$log"
echo "relval-job: command: $cmd" >> "$log"
[ "$rc" -ne 0 ] && echo "relval-job: ${{log##*/}} failed with exit code $rc" >&2
exit $rc
"""


def setup_block(setup: str) -> str:
    """The environment setup, run with `set -e` so that any failing command fails the job
    with a clear line. `eval $(CMD)` is split into an assignment and an eval, because
    `eval` of an empty output succeeds: `eval $(alienv printenv X)` passes when alienv is
    missing, and the payload then runs without its release."""
    if not setup:
        return ""
    setup = EVAL_SUBST.sub(lambda m: 'relval_env=$(%s); eval "$relval_env"'
                           % next(g for g in m.groups() if g is not None), setup)
    return (f"  relval_setup={shlex.quote(setup)}\n"
            "  trap 'echo \"relval-job: environment setup failed (exit $?): $relval_setup\"; "
            f"exit {EXIT_SETUP_FAILED}' EXIT\n"
            f"  set -e\n  {setup}\n  set +e\n  trap - EXIT\n")


# `eval $(...)`, `eval "$(...)"` or eval `...` without nested parentheses.
EVAL_SUBST = re.compile(r'eval\s+(?:"\$\(([^()"]*)\)"|\$\(([^()]*)\)|`([^`]*)`)')
