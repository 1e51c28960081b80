#!/bin/sh
# Issue 16: does the timeout name the stalled rank wherever it stops? (not a test; about 10 s a stop)
#   sh bench/stall_names.sh N LOCAL_EPOCHS
# N times: fesf train under mpirun -np 5 (run.timeout = 3) on 4 phantom sites, SIGSTOP of rank 3 at
# a random moment (0.1-1 s after the first round), then one line: exit code, seconds from the stop to
# the end, and the coordinator's message (which should name rank 3 alone).
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
F=$(mktemp /tmp/fesf-stall.XXXXXX); cp bin/fesf "$F"; chmod 700 "$F" # its own name: pgrep finds only these ranks
R=${OUT:-runs/stall-names}
[ -f $R/site-001.h5 ] || { $F prepare -q --set data.size=28 --set data.count=400 --set run.out=$R; $F hide -q --set run.out=$R; }
rank_pid() { for _p in $(pgrep -f "$F train"); do tr '\0' '\n' <"/proc/$_p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$_p"; return; }; done; }
for i in $(seq $1); do
  rm -f $R/metrics.jsonl
  mpirun -np 5 $F train -q --set run.out=$R --set train.input=synthetic --set train.local_epochs=$2 --set train.rounds=2000 --set run.timeout=3 --set run.checkpoint_every=0 >"$R.out" 2>"$R.err" &
  pid=$!
  p=""; while [ -z "$p" ]; do p=$(rank_pid 3); sleep 0.05; done
  while [ ! -e $R/metrics.jsonl ]; do sleep 0.05; done
  sleep 0.$(shuf -i 100-999 -n 1)
  kill -STOP $p; t0=$(date +%s.%N)
  wait $pid; rc=$?
  t1=$(date +%s.%N)
  kill -CONT $p 2>/dev/null; kill -9 $p 2>/dev/null
  echo "$i rc=$rc took=$(echo "$t1 $t0" | awk '{printf "%.1f", $1-$2}') $(grep -o '\[coord\] error: timeout: .*' "$R.err" | head -1)"
done
rm -f "$F"
