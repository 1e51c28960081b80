# Pre-emption and bounded waits (issue 16): a real SIGTERM to a running `fesf run` under
# mpirun (to mpirun itself, and to one site rank only) writes a checkpoint and ends every rank
# with one line; rerunning the same command resumes and ends bit-identical to an uninterrupted
# run; checkpoints are found by a directory scan and only the newest run.keep_checkpoints stay;
# a SIGSTOPped site ends the job within run.timeout, naming its rank.
. tests/lib.sh
# 120 rounds: mpirun holds a SIGTERM 2 s (odls_base_sigkill_timeout) while a fast machine runs ~30 rounds,
# and the second stop must still find the training running
R="configs/demo.ini -q --set data.size=28 --set data.count=400 --set iqem.enabled=false --set audit.enabled=false \
--set run.baseline_plain=false --set train.rounds=120 --set run.checkpoint_every=5 --set run.keep_checkpoints=2"
TR=train-synthetic

check "uninterrupted fesf run (reference)" mpirun -np 5 "$FESF" run $R --set run.out="$TMP/ref"

# rank_pid RANK CMD: the pid of the fesf process of MPI rank RANK (its environment says it)
rank_pid() {
    for _p in $(pgrep -f "$FESF $2"); do
        tr '\0' '\n' <"/proc/$_p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$_p"; return; }
    done
}
# wait_file PATH: up to 60 s for PATH to appear
wait_file() { _i=0; while [ ! -e "$1" ] && [ $_i -lt 1200 ]; do sleep 0.05; _i=$((_i + 1)); done; [ -e "$1" ]; }
LINE="^fesf run: SIGTERM: checkpoint of repeat 1 round [0-9]+ written to '[^']*/ckpt-[0-9]+\.h5'; rerun the same command to resume$"

# 1. SIGTERM to mpirun (as an interactive Ctrl-C or a batch system would): mpirun sends the ranks
# SIGCONT, then SIGTERM odls_base_sigkill_timeout (default 1) s later and SIGKILL as long again
# after that; 2 s leave the ranks time to end the round and write the checkpoint on a loaded machine
OMPI_MCA_odls_base_sigkill_timeout=2 mpirun -np 5 "$FESF" run $R --set run.out="$TMP/int" >"$TMP/o1" 2>"$TMP/e1" &
pid=$!
wait_file "$TMP/int/$TR/ckpt-0005.h5" && kill -TERM $pid
wait $pid; rc=$?
n=$(grep -cE "$LINE" "$TMP/e1")
ck=$(ls "$TMP/int/$TR"/ckpt-*.h5 2>/dev/null | wc -l)
if [ $rc -ne 0 ] && [ "$n" -eq 1 ] && [ "$ck" -ge 1 ] && [ ! -f "$TMP/int/$TR/model.h5" ] && [ ! -f "$TMP/int/report.md" ]; then
    ok "SIGTERM to mpirun: exit $rc, one line: $(grep -E "$LINE" "$TMP/e1")"
else
    nok "SIGTERM to mpirun: exit $rc, $n matching lines, $ck checkpoints"; sed 's/^/#   /' "$TMP/e1" | tail -20
fi
left=$(find "$TMP/int" -name '*.tmp' | wc -l)
[ "$left" -eq 0 ] && ok "no .tmp file left behind" || nok "$left .tmp files left"
done1=$(sed -n 's/.*round \([0-9]*\) written.*/\1/p' "$TMP/e1")

# 2. SIGTERM to one site rank only (what a launcher may do): every rank stops together, exit 75
mpirun -np 5 "$FESF" run $R --set run.out="$TMP/int" >"$TMP/o2" 2>"$TMP/e2" &
pid=$!
i=0; p=""; while [ -z "$p" ] && [ $i -lt 600 ]; do p=$(rank_pid 2 "run"); sleep 0.05; i=$((i + 1)); done
wait_file "$TMP/int/$TR/ckpt-$(printf %04d $(((done1 / 5 + 1) * 5))).h5" # the next checkpoint after resuming
[ -n "$p" ] && kill -TERM "$p"
wait $pid; rc=$?
n=$(grep -cE "$LINE" "$TMP/e2")
done2=$(sed -n 's/.*round \([0-9]*\) written.*/\1/p' "$TMP/e2")
if [ $rc -eq 75 ] && [ "$n" -eq 1 ] && [ "${done2:-0}" -gt "${done1:-0}" ]; then
    ok "SIGTERM to site rank 2 only (resumed from round $done1): every rank stops after round $done2, one line, exit 75"
else
    nok "SIGTERM to one site: exit $rc, $n matching lines"; sed 's/^/#   /' "$TMP/e2" | tail -20
fi
ck=$(ls "$TMP/int/$TR"/ckpt-*.h5 | wc -l)
[ "$ck" -le 2 ] && ok "run.keep_checkpoints = 2: $ck checkpoints kept ($(ls "$TMP/int/$TR" | grep ckpt | tr '\n' ' '))" \
    || nok "$ck checkpoints kept"

# 3. the same command again: resumes, ends bit-identical to the uninterrupted run
mpirun -np 5 "$FESF" run $R --set run.out="$TMP/int" -v >"$TMP/o3" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "resuming from '.*/$TR/ckpt-[0-9]*.h5': repeat 1, [0-9]* rounds done" "$TMP/o3"; then
    ok "rerun resumes: $(grep -o "resuming from .*" "$TMP/o3" | head -1 | sed "s|$TMP/||")"
else
    nok "rerun (exit $rc) did not resume"; grep -E "error|resum|stage" "$TMP/o3" | sed 's/^/#   /' | tail -20
fi
$PY tests/py/same_training.py "$TMP/ref/$TR" "$TMP/int/$TR" 120 >"$TMP/py" 2>&1 \
    && ok "interrupted twice + resumed = uninterrupted: model.h5 datasets, summary.tsv, metrics.jsonl bit-identical" \
    || { nok "resumed run differs"; sed 's/^/#   /' "$TMP/py"; }
[ -f "$TMP/int/report.md" ] && ok "the resumed run wrote report.md" || nok "no report.md after the rerun"

# 4. the newest checkpoint is found by scanning: a number beyond 9999 is the newest
cp "$(ls "$TMP/int/$TR"/ckpt-*.h5 | tail -1)" "$TMP/int/ckpt-12345.h5"
"$FESF" train -c $R --set run.out="$TMP/int" --set train.input=synthetic --resume -v >"$TMP/o4" 2>&1
grep -q "resuming from '.*ckpt-12345.h5'" "$TMP/o4" && ok "--resume finds ckpt-12345.h5 (past 9999) by a directory scan" \
    || { nok "ckpt-12345.h5 not found"; grep -E "resum|error" "$TMP/o4" | sed 's/^/#   /'; }

# 5. a site that stalls (SIGSTOP): the job ends within run.timeout, naming its rank, wherever it
# stopped: in its computing (the coordinator's meeting point names the rank that did not arrive), or
# after it arrived there (waiting for the others, or moving data: the coordinator's roll call names the
# rank that does not answer)
T="-q --set run.out=$TMP/ref --set train.input=synthetic --set train.local_epochs=4 --set train.rounds=2000 --set run.timeout=3 --set run.checkpoint_every=0"
start=$(date +%s)
mpirun -np 5 "$FESF" train $T >"$TMP/o5" 2>"$TMP/e5" &
pid=$!
i=0; p=""; while [ -z "$p" ] && [ $i -lt 600 ]; do p=$(rank_pid 3 "train"); sleep 0.05; i=$((i + 1)); done
wait_file "$TMP/ref/metrics.jsonl"; sleep 1
[ -n "$p" ] && kill -STOP "$p" && stopped=$(date +%s)
i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $pid 2>/dev/null && { kill -CONT "$p"; kill -9 "$p"; }
wait $pid; rc=$?
took=$(($(date +%s) - ${stopped:-$start}))
[ -n "$p" ] && kill -0 "$p" 2>/dev/null && { kill -CONT "$p"; kill -9 "$p"; } # a leftover
if [ $rc -ne 0 ] && [ $took -le 13 ] && grep -Eq "timeout: rank 3 did not (arrive within|answer the coordinator within 2 s after a collective did not complete within) 3 s \(run\.timeout\) in round [0-9]+ of repeat 1" "$TMP/e5"; then
    ok "SIGSTOP of rank 3: the job ended $took s later (run.timeout = 3), exit $rc: $(grep -o 'timeout: rank 3 [^(]*(run.timeout)[^(]*' "$TMP/e5")"
else
    nok "SIGSTOP of rank 3: exit $rc after $took s"; sed 's/^/#   /' "$TMP/e5" | tail -20
fi
echo "1..$_n"
