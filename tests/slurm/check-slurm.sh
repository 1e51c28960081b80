#!/bin/bash
# make check-slurm: the SLURM job scripts (jobs/fesf.sbatch, jobs/sweep.sbatch) on a real
# one-node SLURM cluster that this script starts on localhost in a temporary directory:
# munged (own key and socket), slurmctld and slurmd (own slurm.conf, ports, spool, state and
# logs), then real jobs; prints TAP ("ok N - ...", "not ok N - ..."). On exit (also on failure
# or Ctrl-C) it cancels its jobs and stops the three daemons it started (by their pids), so
# no daemon stays behind; on failure it prints the daemons' logs and the jobs' output.
#
#   FESF=/path/to/fesf bash tests/slurm/check-slurm.sh    (make check-slurm does this)
# Environment: FESF (the binary; default bin/fesf), FESF_SLURM_TIMEOUT (seconds per job,
# default 150), FESF_SLURM_KEEP=1 (keep the temporary directory), FESF_SLURM_MPIRUN=0 (skip
# the mpirun-launcher job). Needs root (slurmd and munged run as root here) and the packages
# of jobs/install-slurm.sh. bash.
#
# What this machine needs (Debian 12, slurm-wlm 22.05, Open MPI 4.1, a container):
# - no cgroups: ProctrackType=proctrack/linuxproc, TaskPlugin=task/none,
#   JobAcctGatherType=jobacct_gather/none (slurmd then needs no cgroup.conf);
# - more tasks than CPUs (5 ranks on 2 cores): the jobs are submitted with --overcommit
#   (the node keeps its real CPU count, so slurmd registers without config_overrides);
# - MPI: srun --mpi=pmix (Slurm's PMIx plugin, listed by `srun --mpi=list`). Debian's Open MPI has
#   no PMI-1/PMI-2 support, so with MpiDefault=none a srun'd rank fails in MPI_Init; the scripts
#   pass --mpi=pmix themselves, so MpiDefault stays none here, as on a cluster that sets nothing.
#   Open MPI's mpirun inside the allocation (FESF_LAUNCHER=mpirun) works as well and is tested.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
FESF=${FESF:-$ROOT/bin/fesf}
case $FESF in /*) ;; *) FESF=$ROOT/$FESF ;; esac
JOB_TIMEOUT=${FESF_SLURM_TIMEOUT:-150}
START=$(date +%s)

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
note() { echo "# $*"; }
bail() { echo "Bail out! $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP check-slurm runs slurmd and munged as root: run it as root"; exit 0; }
for c in munged mungekey munge unmunge slurmctld slurmd sbatch srun squeue scontrol scancel sinfo; do
    command -v "$c" >/dev/null 2>&1 || bail "'$c' not found: run 'sh jobs/install-slurm.sh' first"
done
[ -x "$FESF" ] || bail "fesf binary '$FESF' not found: build it (make) or set FESF"

# A caller inside a SLURM job must not leak its job's variables into ours
for v in $(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\|SBATCH_[A-Za-z0-9_]*\|SRUN_[A-Za-z0-9_]*\|SALLOC_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/fesf-slurm.XXXXXX") || bail "mktemp failed"
chmod 755 "$T" # munged wants its socket directory searchable by everyone
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/log" "$T/work"
mkdir -m 700 "$T/munge-key"
export SLURM_CONF=$T/slurm.conf
PIDS=() # daemons we started: "name:pid"
JOBS=() # jobs we submitted

show_logs() {
    local f
    for f in "$T"/log/slurmctld.log "$T"/log/slurmd.log "$T"/munge/munged.log; do
        [ -f "$f" ] || continue
        echo "# ---- $f (last 40 lines)"
        tail -n 40 "$f" | sed 's/^/#   /'
    done
    for f in "$T"/work/slurm-*.out; do
        [ -f "$f" ] || continue
        echo "# ---- $f (last 40 lines)"
        tail -n 40 "$f" | sed 's/^/#   /'
    done
}
alive() { kill -0 "$1" 2>/dev/null; }
cleanup() {
    local rc=$? e name pid left
    trap - EXIT INT TERM
    # cancel our jobs still known to slurmctld and give their steps a moment to end
    if [ ${#JOBS[@]} -gt 0 ] && squeue -h >/dev/null 2>&1; then
        scancel "${JOBS[@]}" 2>/dev/null
        for _ in $(seq 20); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.5; done
    fi
    [ $failed -gt 0 ] || [ $rc -ne 0 ] && show_logs
    # stop the daemons in reverse order of start: slurmd, slurmctld, munged
    for ((e = ${#PIDS[@]} - 1; e >= 0; e--)); do
        name=${PIDS[e]%%:*} pid=${PIDS[e]#*:}
        alive "$pid" || continue
        kill "$pid" 2>/dev/null
        for _ in $(seq 40); do alive "$pid" || break; sleep 0.25; done
        if alive "$pid"; then echo "# $name (pid $pid) did not stop on SIGTERM: SIGKILL"; kill -9 "$pid" 2>/dev/null; fi
    done
    left=""
    for e in "${PIDS[@]}"; do alive "${e#*:}" && left="$left ${e%%:*}(${e#*:})"; done
    [ -z "$left" ] || echo "# WARNING: still running:$left"
    if [ "${FESF_SLURM_KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
    echo "# check-slurm: $(($(date +%s) - START)) s"
    exit $rc
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

# --- munge: a fresh key (root, 0400) and our own socket, pid, log and seed files
mungekey --create --keyfile="$T/munge-key/munge.key" >/dev/null 2>&1 \
    || dd if=/dev/urandom of="$T/munge-key/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge-key/munge.key"
MSOCK=$T/munge/munge.socket
if munged --key-file="$T/munge-key/munge.key" --socket="$MSOCK" --pid-file="$T/munge/munged.pid" \
    --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" 2>"$T/log/munged.err"; then
    for _ in $(seq 20); do [ -s "$T/munge/munged.pid" ] && break; sleep 0.25; done
    PIDS+=("munged:$(cat "$T/munge/munged.pid")")
fi
if munge -S "$MSOCK" -n 2>/dev/null | unmunge -S "$MSOCK" >/dev/null 2>&1; then
    ok "munged runs with a fresh key; a credential round-trips"
else
    nok "munged: no credential round trip"; sed 's/^/#   /' "$T/log/munged.err" 2>/dev/null
    bail "munge does not work"
fi

# --- slurm.conf: one node (this machine: real name, CPUs, memory), one partition
free_port() { # a TCP port nobody listens on, from $1 upwards
    local p=$1
    while ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || ss -Hltn "sport = :$((p + 1))" 2>/dev/null | grep -q .; do p=$((p + 2)); done
    echo "$p"
}
PORT=$(free_port $((20000 + RANDOM % 20000)))
HOST=$(hostname -s)
NODE=$(slurmd -C 2>/dev/null | sed -n '1s/^NodeName=[^ ]* //p')
if [ -z "$NODE" ]; then
    NODE="CPUs=$(nproc) RealMemory=$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
fi
cat >"$SLURM_CONF" <<EOF
# fesf check-slurm: a one-node test cluster in $T
ClusterName=fesftest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MSOCK
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# no cgroups in the container: track processes by /proc, no task binding, no accounting
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# schedule at submission (backfill would wait for its 30 s cycle)
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
KillWait=5
NodeName=$HOST NodeAddr=127.0.0.1 $NODE State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=30 State=UP
EOF
note "node: NodeName=$HOST $NODE; ports $PORT, $((PORT + 1)); directory $T"

# --- slurmctld and slurmd (they daemonize and write their pid files)
start_daemon() { # name command...
    local name=$1 pidf=$T/$1.pid _
    shift
    "$@" >>"$T/log/$name.err" 2>&1 || { echo "# $name failed to start:"; sed 's/^/#   /' "$T/log/$name.err"; return 1; }
    for _ in $(seq 40); do [ -s "$pidf" ] && break; sleep 0.25; done
    [ -s "$pidf" ] || { echo "# $name wrote no pid file"; return 1; }
    PIDS+=("$name:$(cat "$pidf")")
}
start_daemon slurmctld slurmctld -f "$SLURM_CONF" || bail "slurmctld does not start"
start_daemon slurmd slurmd -f "$SLURM_CONF" || bail "slurmd does not start"
state=""
for _ in $(seq 60); do
    state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null)
    [ "$state" = idle ] && break
    sleep 0.5
done
if [ "$state" = idle ]; then ok "slurmctld and slurmd up, node $HOST idle ($(($(date +%s) - START)) s)"
else nok "node $HOST not idle after 30 s (sinfo state '$state')"; bail "no idle node"; fi

# --- MPI through srun: 5 ranks of fesf that must form one world of 5 and talk
if srun --mpi=list 2>&1 | grep -qw pmix; then
    out=$(timeout 60 srun --overcommit --ntasks=5 --mpi=pmix "$FESF" bench agg --params 10000 --rounds 2 2>&1)
    if printf '%s\n' "$out" | grep -q '^bench agg ranks=5 '; then
        ok "srun --mpi=pmix launches 5 Open MPI ranks that form one world (fesf bench agg ranks=5)"
    else
        nok "srun --mpi=pmix: no 5-rank world"; printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
    fi
else
    skip "srun --mpi=pmix" "this SLURM has no PMIx plugin (srun --mpi=list); the job scripts fall back to mpirun"
fi

# --- jobs. submit VAR [sbatch options] SCRIPT ARGS: submits from $T/work, sets VAR to the job id
submit() {
    local var=$1 id
    shift
    id=$(cd "$T/work" && FESF_BIN=$FESF sbatch --parsable "$@" 2>"$T/log/sbatch.err") \
        || { sed 's/^/#   sbatch: /' "$T/log/sbatch.err"; return 1; }
    id=${id%%;*}
    JOBS+=("$id")
    printf -v "$var" '%s' "$id"
}
# wait_job ID: waits until the job (every task of an array) has ended; sets st to "STATE EXIT"
# of the job, or of the first task that did not complete. (Not in a $(...) subshell, so that a
# SIGTERM/SIGINT to this script is handled within a second.)
wait_job() {
    local id=$1 deadline=$(($(date +%s) + JOB_TIMEOUT)) info states reason
    while :; do
        info=$(scontrol -o show job "$id" 2>/dev/null)
        states=$(printf '%s\n' "$info" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ')
        reason=$(printf '%s\n' "$info" | sed -n 's/.*Reason=\([A-Za-z_]*\).*/\1/p' | sort -u | tr '\n' ' ')
        case " $states" in
        *" PENDING "* | *" RUNNING "* | *" CONFIGURING "* | *" REQUEUED "* | *" REQUEUE_FED "* | " ")
            case " $reason" in # pending reasons that never resolve by themselves
            *DependencyNeverSatisfied* | *PartitionTimeLimit* | *PartitionNodeLimit* | *PartitionConfig* | *BadConstraints*)
                scancel "$id"; st="NEVER_STARTS (pending, reason ${reason% })"; return ;;
            esac
            if [ "$(date +%s)" -ge $deadline ]; then
                scancel "$id"; st="TIMEOUT after ${JOB_TIMEOUT}s (state ${states% }, reason ${reason% })"; return
            fi
            sleep 1 ;;
        *)
            st=$(printf '%s\n' "$info" | awk '{ s = ""; e = ""
                for (i = 1; i <= NF; i++) { if ($i ~ /^JobState=/) s = substr($i, 10); if ($i ~ /^ExitCode=/) e = substr($i, 10) }
                if (s == "COMPLETING" && e == "0:0") s = "COMPLETED" # the script has ended; slurmd is cleaning up
                if (s != "COMPLETED" || e != "0:0") { print s, e; bad = 1; exit } }
                END { if (!bad) print "COMPLETED 0:0" }')
            return ;;
        esac
    done
}
# check_run DESC JOBID RUN_DIR: the job completed and RUN_DIR/report.md has plain and surrogate rows
check_run() {
    local desc=$1 id=$2 dir=$3
    wait_job "$id"
    if [ "$st" = "COMPLETED 0:0" ]; then ok "$desc: job $id completed"
    else nok "$desc: job $id ended $st"; sed 's/^/#   /' "$T/work/slurm-$id.out" 2>/dev/null | tail -30; return; fi
    for row in plain surrogate; do
        if grep -q "^| $row " "$dir/report.md" 2>/dev/null; then ok "$desc: $dir/report.md has the '| $row' row"
        else nok "$desc: no '| $row' row in $dir/report.md"; fi
    done
}

# Overrides that keep a run short (about 15 s here). The privacy audit, when fesf has it, is off
# in the plain runs and minimal in the sweep (the frontier plots its figures).
BASE=(--set data.size=28 --set data.count=400 --set train.rounds=3)
SWEEP=(--set data.size=28 --set data.count=400 --set train.rounds=3 --set train.eval_every=1 --set iqem.epochs=1)
if "$FESF" help config 2>/dev/null | grep -q '^audit\.enabled '; then
    BASE+=(--set audit.enabled=false)
    SWEEP+=(--set audit.epochs=1 --set audit.width=8)
fi
SMALL=("${BASE[@]}" --set train.eval_every=1 --set iqem.epochs=1)
DEMO=$ROOT/configs/demo.ini
st="" bad="" nosw="" past="" main="" mpir="" arr="" col=""
FESF_SBATCH=$ROOT/jobs/fesf.sbatch
SWEEP_SBATCH=$ROOT/jobs/sweep.sbatch

# Quick refusals first (they end before fesf starts): 7 tasks for 4 sites; sweep.sbatch on a
# config without a sweep; an array index beyond the sweep's points
submit bad --overcommit --ntasks=7 --time=5 "$FESF_SBATCH" "$DEMO" || bail "sbatch refused the job"
submit nosw --overcommit --ntasks=5 --time=5 --array=0 "$SWEEP_SBATCH" "$DEMO" || bail "sbatch refused the array job"
submit past --overcommit --ntasks=5 --time=5 --array=2 "$SWEEP_SBATCH" "$DEMO" --set sweep.alpha=0.1,0.5 \
    || bail "sbatch refused the array job"
# The main job (srun launcher, the default) and the mpirun fallback, side by side
submit main --overcommit --ntasks=5 --time=10 "$FESF_SBATCH" "$DEMO" "${SMALL[@]}" || bail "sbatch refused the job"
if [ "${FESF_SLURM_MPIRUN:-1}" = 1 ]; then
    # (its last two overrides come through FESF_SET, to test that too)
    FESF_LAUNCHER=mpirun FESF_SET="iqem.epochs=1 train.eval_every=1" \
        submit mpir --overcommit --ntasks=5 --time=10 "$FESF_SBATCH" "$DEMO" "${BASE[@]}" || bail "sbatch refused the job"
fi
note "submitted: $bad (ntasks 7), $nosw and $past (sweep refusals), $main (srun), ${mpir:-none} (mpirun)"

# refused JOB OUTFILE PATTERN DESC: the job failed and its output has the message
refused() {
    wait_job "$1"
    if [ "${st%% *}" != COMPLETED ] && grep -q -- "$3" "$2" 2>/dev/null; then
        ok "$4: $(grep -o 'error: .*' "$2" | head -1)"
    else
        nok "$4: ended $st without /$3/"; sed 's/^/#   /' "$2" 2>/dev/null | tail -10
    fi
}
refused "$bad" "$T/work/slurm-$bad.out" "ntasks = 7 but .* data.sites = 4: submit with --ntasks=5" \
    "fesf.sbatch refuses --ntasks=7 for 4 sites"
refused "$nosw" "$T/work/slurm-${nosw}_0.out" "has no sweep" "sweep.sbatch refuses a config without a sweep"
refused "$past" "$T/work/slurm-${past}_2.out" "array index 2 is not a point .* it has 2 points" \
    "sweep.sbatch refuses array index 2 of a 2-point sweep"

check_run "fesf.sbatch configs/demo.ini (srun)" "$main" "$T/work/runs/demo-$main"
if grep -q "5 tasks (4 sites + coordinator), launcher srun" "$T/work/slurm-$main.out" 2>/dev/null &&
    [ -s "$T/work/runs/demo-$main/fesf-$main.log" ]; then
    ok "the srun job ran 5 tasks through srun --mpi=pmix; log in runs/demo-$main/fesf-$main.log"
else
    nok "the srun job: no 'launcher srun' line or no fesf-$main.log in the run directory"
fi
if [ -n "$mpir" ]; then
    check_run "fesf.sbatch configs/demo.ini (FESF_LAUNCHER=mpirun)" "$mpir" "$T/work/runs/demo-$mpir"
    if grep -q "launcher mpirun" "$T/work/slurm-$mpir.out" && grep -q "mpirun -np 5 .*--set iqem.epochs=1 --set train.eval_every=1" "$T/work/slurm-$mpir.out"; then
        ok "the mpirun job ran 'mpirun -np 5' inside the allocation, with the FESF_SET overrides"
    else
        nok "the mpirun job: no 'launcher mpirun' line or FESF_SET not passed on"; grep 'fesf.sbatch:' "$T/work/slurm-$mpir.out" | sed 's/^/#   /'
    fi
else
    skip "FESF_LAUNCHER=mpirun job" "FESF_SLURM_MPIRUN=0"
fi

# --- sweep.sbatch for real: an array job, one point per task, then the dependent collecting
# --- job, once fesf run has --point
if "$FESF" help run 2>&1 | grep -q -- '--point'; then
    submit arr --overcommit --ntasks=5 --time=10 --array=0-1 "$SWEEP_SBATCH" "$DEMO" "${SWEEP[@]}" --set sweep.alpha=0.1,0.5 \
        || bail "sbatch refused the array job"
    submit col --overcommit --ntasks=5 --time=10 --dependency=afterok:"$arr" "$FESF_SBATCH" "$DEMO" "${SWEEP[@]}" \
        --set sweep.alpha=0.1,0.5 --set run.out="runs/demo-$arr" || bail "sbatch refused the collecting job"
    wait_job "$arr"
    if [ "$st" = "COMPLETED 0:0" ]; then ok "sweep.sbatch --array=0-1 (sweep.alpha = 0.1,0.5): both points completed"
    else nok "sweep.sbatch --array=0-1: ended $st"; for f in "$T/work/slurm-${arr}"_*.out; do sed 's/^/#   /' "$f" | tail -15; done; fi
    wait_job "$col"
    if [ "$st" = "COMPLETED 0:0" ] && [ -s "$T/work/runs/demo-$arr/report.md" ]; then
        ok "the collecting fesf.sbatch job (afterok:$arr) wrote runs/demo-$arr/report.md"
    else
        nok "the collecting job $col ended $st"; sed 's/^/#   /' "$T/work/slurm-$col.out" 2>/dev/null | tail -20
    fi
else
    skip "sweep.sbatch array job and collecting job" "fesf run has no --point option yet ('fesf help run')"
fi

# --- pre-emption: SIGTERM to the batch shell of a running job (what --signal=B:TERM@300 sends before
# --- the time limit, and scancel --signal=TERM --batch here): the script passes it on as SIGUSR1, fesf
# --- checkpoints and exits 75, the script requeues the job, and the requeued job (same id, same run
# --- directory) resumes and ends bit-identical to an uninterrupted run (made here with mpirun)
PRE=(--set data.size=28 --set data.count=400 --set train.rounds=40 --set run.checkpoint_every=5
    --set iqem.enabled=false --set audit.enabled=false --set run.baseline_plain=false)
pre=""
submit pre --overcommit --ntasks=5 --time=10 "$FESF_SBATCH" "$DEMO" "${PRE[@]}" || bail "sbatch refused the job"
(cd "$T/work" && OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    mpirun -np 5 "$FESF" run "$DEMO" -q "${PRE[@]}" --set run.out="$T/work/ref-pre" >"$T/log/ref-pre.log" 2>&1) &
refpid=$!
PDIR=$T/work/runs/demo-$pre
for _ in $(seq 600); do [ -e "$PDIR/train-synthetic/ckpt-0005.h5" ] && break; sleep 0.2; done
if [ -e "$PDIR/train-synthetic/ckpt-0005.h5" ]; then
    scancel --signal=TERM --batch "$pre"
    note "job $pre: SIGTERM to its batch shell after the checkpoint of round 5"
    # SLURM holds a requeued job for about two minutes (its EligibleTime): release it once the node has
    # cleaned up after its first run (released at once, its step failed to launch)
    for _ in $(seq 300); do
        scontrol -o show job "$pre" 2>/dev/null | grep -q "JobState=PENDING.*Restarts=1" && break
        sleep 0.2
    done
    for _ in $(seq 120); do [ "$(sinfo -h -n "$HOST" -o %t 2>/dev/null)" = idle ] && break; sleep 0.5; done
    sleep 5
    scontrol update JobId="$pre" StartTime=now 2>/dev/null
    wait_job "$pre"
    wait "$refpid"
    out=$T/work/slurm-$pre.out
    if [ "$st" = "COMPLETED 0:0" ] && grep -Eq "^fesf run: SIGUSR1: checkpoint of repeat 1 round [0-9]+ written to" "$out" &&
        grep -q "requeueing job $pre" "$out" && grep -q "restart 1 of job $pre: resuming in" "$out"; then
        ok "SIGTERM to job $pre: '$(grep -Eo "SIGUSR1: checkpoint of repeat 1 round [0-9]+" "$out")', requeued, restart 1 completed"
    else
        nok "SIGTERM to job $pre: ended $st"; sed 's/^/#   /' "$out" 2>/dev/null | grep -v warning | tail -30
    fi
    if /usr/bin/python3 tests/py/same_training.py "$T/work/ref-pre/train-synthetic" "$PDIR/train-synthetic" 40 >"$T/log/cmp.log" 2>&1
    then ok "the requeued job's training = an uninterrupted run: model.h5, summary.tsv, metrics.jsonl bit-identical"
    else nok "requeued job differs from the uninterrupted run"; sed 's/^/#   /' "$T/log/cmp.log" "$T/log/ref-pre.log" | tail -20; fi
else
    nok "job $pre wrote no checkpoint within 120 s"; wait "$refpid"
fi

echo "1..$n"
[ $failed -eq 0 ]
