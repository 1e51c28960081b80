# Secure aggregation (src/fed/secagg.c): the masked sums against the exact
# sum within the fixed-point bound, the same for any number of ranks; what
# the coordinator receives on the wire (the PMPI probe's copies of every
# message towards rank 0: uniform bytes, unlike the plain run's updates,
# and unrelated to them); training under it equals the plain run within the
# quantisation, bit-identical across reruns, rank counts and resumes; the
# report and the refusal with one site rank.
. tests/lib.sh
PRELOAD=$(cd "$TOOLS" 2>/dev/null && pwd)/libpmpi_sizes.so
for np in 3 4 5; do
    check "masked sum of 7 sites x 100003 floats and doubles, mpirun -np $np" \
        sh -c "mpirun --oversubscribe -np $np '$TOOLS/secagg_sum' 7 100003 >'$TMP/sum$np'"
    sed 's/^/# /' "$TMP/sum$np"
done
h3=$(awk '{print $NF}' "$TMP/sum3"); h5=$(awk '{print $NF}' "$TMP/sum5"); h4=$(awk '{print $NF}' "$TMP/sum4")
[ -n "$h3" ] && [ "$h3" = "$h4" ] && [ "$h3" = "$h5" ] && ok "the decoded sum is bit-identical on 3, 4 and 5 ranks ($h3)" \
    || nok "decoded sums differ across rank counts: $h3 $h4 $h5"
mpirun --oversubscribe -np 4 "$TOOLS/secagg_sum" 7 1000 clamp >"$TMP/cl" 2>&1
grep -q 'warning: secure aggregation: 2 of 1000 entries were not finite or beyond +-2^31 and were clamped' "$TMP/cl" &&
    ok "1e10 and NaN are clamped, counted and warned of" || { nok "clamping"; sed 's/^/#   /' "$TMP/cl"; }

RUN=$TMP/run
check "prepare 4 phantom sites" "$FESF" prepare -q --set data.size=28 --set data.count=600 --set run.out="$RUN"
check "hide" "$FESF" hide -q --set run.out="$RUN"
T="--set run.out=$RUN --set train.input=synthetic --set train.rounds=6 --set train.eval_every=3"
mkdir -p "$TMP/plain" "$TMP/secure"
check "plain FedAvg, mpirun -np 5, every message to rank 0 copied" mpirun --oversubscribe -np 5 \
    -x LD_PRELOAD="$PRELOAD" -x FESF_PMPI_DUMP="$TMP/plain" "$FESF" train -q $T
cp "$RUN/model.h5" "$TMP/plain.h5"
check "secure FedAvg, mpirun -np 5, every message to rank 0 copied" mpirun --oversubscribe -np 5 \
    -x LD_PRELOAD="$PRELOAD" -x FESF_PMPI_DUMP="$TMP/secure" "$FESF" train -q $T --set train.secure_agg=true \
    --set run.checkpoint_every=3 --set run.keep_checkpoints=0
cp "$RUN/model.h5" "$TMP/secure.h5"
$PY tests/py/secagg_wire.py "$TMP/secure" "$TMP/plain" >"$TMP/wire" 2>&1
relay "$TMP/wire"
grep -q '^not ok\|Error' "$TMP/wire" && sed 's/^/#   /' "$TMP/wire" | tail -20
diff_models() { # a b: max abs difference of the float tensors, "bitwise" if none
    $PY - "$1" "$2" <<'PYEOF'
import sys, h5py, numpy as np
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
d = max(float(np.abs(a[n][()].astype(np.float64) - b[n][()]).max()) for n in names)
print("bitwise" if all(a[n][()].tobytes() == b[n][()].tobytes() for n in names) else f"{d:.3g}")
PYEOF
}
d=$(diff_models "$TMP/secure.h5" "$TMP/plain.h5")
case "$d" in bitwise) nok "secure = plain bit for bit: the quantisation did nothing?" ;;
*) $PY -c "import sys; sys.exit(not float('$d') <= 1e-4)" && ok "after 6 rounds the secure model is the plain one within $d (max abs; 1e-4 allowed)" \
    || nok "secure vs plain after 6 rounds: $d" ;; esac
check "again on 3 ranks (sites share ranks)" mpirun --oversubscribe -np 3 "$FESF" train -q $T --set train.secure_agg=true
d=$(diff_models "$TMP/secure.h5" "$RUN/model.h5")
[ "$d" = bitwise ] && ok "3 ranks = 5 ranks bit for bit (integer sums, fresh keys)" || nok "3 vs 5 ranks: $d"
cp "$TMP/secure.h5" "$RUN/model.h5"
rm -f "$RUN/ckpt-0006.h5"
check "--resume from round 3" mpirun --oversubscribe -np 4 "$FESF" train -q --resume $T --set train.secure_agg=true \
    --set run.checkpoint_every=3 --set run.keep_checkpoints=0
d=$(diff_models "$TMP/secure.h5" "$RUN/model.h5")
[ "$d" = bitwise ] && ok "resumed = uninterrupted bit for bit" || nok "resume: $d"
check "report.md: the secure aggregation section" grep -q '^On: every model update' "$RUN/report.md"
check "report.md: what is revealed in the clear" grep -q 'Revealed in the clear: each site' "$RUN/report.md"
check "summary.tsv: '# secure_agg on'" grep -qx '# secure_agg on' "$RUN/summary.tsv"
mpirun --oversubscribe -np 2 "$FESF" train -q $T --set train.secure_agg=true >"$TMP/o" 2>"$TMP/e"; rc=$?
n=$(grep -c "needs at least 2 site ranks" "$TMP/e")
[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$n" -eq 1 ] && ! grep -q "MPI_ABORT" "$TMP/e" \
    && ok "one site rank refused, once, no MPI_Abort: $(grep 'needs at least' "$TMP/e")" \
    || { nok "one site rank (exit $rc, $n lines)"; sed 's/^/#   /' "$TMP/e"; }
expect_fail "one process refused" 'train.secure_agg needs at least 2 site ranks' \
    "$FESF" train -q $T --set train.secure_agg=true
# fesf run: the IQEM GAN's rounds and both trainings under it, named in the run's report
check "fesf run with train.secure_agg, mpirun -np 4" mpirun --oversubscribe -np 4 "$FESF" run configs/demo.ini -q \
    --set data.size=28 --set data.count=200 --set iqem.epochs=1 --set audit.enabled=false --set run.baseline_plain=false \
    --set train.rounds=3 --set train.secure_agg=true --set run.out="$TMP/fullrun"
n=$(grep -c "secure aggregation, the coordinator saw only the sums" "$TMP/fullrun/report.md")
[ "$n" -eq 2 ] && ok "the run's report.md: secure aggregation for both trainings" || nok "run report: $n lines"
