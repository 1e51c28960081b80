# DP-SGD end to end (train_dp.c): the accountant's epsilon per round in
# metrics.jsonl, within the target; the report and summary.tsv; reruns,
# other rank counts and resumes bit-identical (keyed noise and batches); the
# noise the coordinator receives has the calibrated standard deviation;
# batch norm refused.
. tests/lib.sh
RUN=$TMP/run
check "prepare 4 phantom sites" "$FESF" prepare -q --set data.size=28 --set data.count=600 --set run.out="$RUN"
check "hide" "$FESF" hide -q --set run.out="$RUN"
T="--set run.out=$RUN --set train.input=synthetic --set train.rounds=12 --set train.eval_every=4 --set train.dp_epsilon=3"
check "FedAvg + DP-SGD (target epsilon 3), mpirun -np 5" mpirun --oversubscribe -np 5 "$FESF" train -q $T \
    --set run.checkpoint_every=4 --set run.keep_checkpoints=0
cp "$RUN/model.h5" "$TMP/a.h5" && cp "$RUN/metrics.jsonl" "$TMP/a.jsonl"
$PY - "$RUN" <<'PYEOF' >"$TMP/m" 2>&1 && ok "epsilon per round: $(cat "$TMP/m")" || { nok "epsilon per round"; sed 's/^/#   /' "$TMP/m"; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
eps = [r["epsilon"] for r in rows]
assert len(eps) == 12 and all(b > a for a, b in zip(eps, eps[1:])), eps
assert 2.9 <= eps[-1] <= 3.0 + 1e-9, eps[-1]  # the noise is solved for exactly these rounds
print(f"rising from {eps[0]:.3f} to {eps[-1]:.4f} over 12 rounds (target 3)")
PYEOF
check "report.md: the privacy section with each site's epsilon" grep -q '^| 1 | .* | 3.000 | 1e-05 |$' "$RUN/report.md"
check "report.md: what the epsilon does not cover" grep -q 'It does not cover: the surrogates themselves' "$RUN/report.md"
check "summary.tsv: the privacy line" grep -q '^# privacy dp=on epsilon=3 delta=1e-05 clip=1 ' "$RUN/summary.tsv"
check "model.h5: instance norm in the architecture" sh -c "'$FESF' inspect '$RUN/model.h5' | grep -q 'norm=instance'"

same() { # model a, model b: bit-identical parameters
    $PY - "$1" "$2" <<'PYEOF'
import sys, h5py
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names and all(a[n][()].tobytes() == b[n][()].tobytes() for n in names)
PYEOF
}
close() { # model a, model b: the same up to the order of the float sums (as train.sh's MPI vs one process)
    $PY - "$1" "$2" <<'PYEOF'
import sys, h5py, numpy as np
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
err = max(float(np.abs(a[n][()] - b[n][()]).max() / max(np.abs(a[n][()]).max(), 1e-12)) for n in names)
print(f"max relative difference {err:.1e}")
assert err <= 1e-4
PYEOF
}
check "again, same seed, same ranks" mpirun --oversubscribe -np 5 "$FESF" train -q $T
check "rerun: bit-identical model (keyed batches and noise)" same "$TMP/a.h5" "$RUN/model.h5"
# other rank counts: the sites' work is the same (their keys, batches and noise); only the order of the
# float sums of their updates differs, which training amplifies: compared after 3 rounds
check "3 rounds on 5 ranks" mpirun --oversubscribe -np 5 "$FESF" train -q $T --set train.rounds=3 --set train.eval_every=3
cp "$RUN/model.h5" "$TMP/r3.h5"
check "3 rounds on 3 ranks (sites share ranks)" mpirun --oversubscribe -np 3 "$FESF" train -q $T --set train.rounds=3 \
    --set train.eval_every=3
close "$TMP/r3.h5" "$RUN/model.h5" >"$TMP/c" 2>&1 && ok "3 ranks = 5 ranks up to the sums' order: $(cat "$TMP/c")" || { nok "3 ranks vs 5"; sed 's/^/#   /' "$TMP/c"; }

check "uninterrupted run with checkpoints" mpirun --oversubscribe -np 5 "$FESF" train -q $T \
    --set run.checkpoint_every=4 --set run.keep_checkpoints=0
rm -f "$RUN/ckpt-0008.h5" "$RUN/ckpt-0012.h5"
check "--resume from round 4" mpirun --oversubscribe -np 5 "$FESF" train -q --resume $T \
    --set run.checkpoint_every=4 --set run.keep_checkpoints=0
check "resumed = uninterrupted: bit-identical model" same "$TMP/a.h5" "$RUN/model.h5"
check "resumed = uninterrupted: the same epsilon per round" sh -c \
    "grep -o '\"epsilon\": [0-9.e+-]*' '$TMP/a.jsonl' >'$TMP/e1'; grep -o '\"epsilon\": [0-9.e+-]*' '$RUN/metrics.jsonl' >'$TMP/e2'; cmp -s '$TMP/e1' '$TMP/e2'"

check "FedSGD + DP-SGD (noise multiplier 1.1), mpirun -np 5" mpirun --oversubscribe -np 5 "$FESF" train -q \
    --set run.out="$RUN" --set train.input=synthetic --set train.rounds=6 --set train.eval_every=3 \
    --set train.algo=fedsgd --set train.dp_noise=1.1
expect_fail "batch norm under DP-SGD is refused" "model.norm = batch mixes the examples" \
    "$FESF" train -q $T --set model.norm=batch
expect_fail "noise and target together are refused" "give the noise or the target, not both" \
    "$FESF" train -q $T --set train.dp_noise=1

# The noise as the coordinator receives it: one site, FedSGD, SGD at lr 1, a
# noise multiplier of 1000 (the clipped gradients' sum, at most 32 x clip,
# is under 0.1% of the noise's norm): the update's standard deviation is
# sigma * clip / (q n) = 1000 * 0.01 / 32 per parameter.
N="--set run.out=$TMP/one --set train.input=plain --set train.rounds=1 --set train.eval_every=1 --set train.algo=fedsgd \
   --set train.optimizer=sgd --set train.momentum=0 --set train.dp_noise=1000 --set train.dp_clip=0.01 --set train.batch=32"
check "prepare 1 site" "$FESF" prepare -q --set data.size=28 --set data.count=400 --set data.sites=1 --set run.out="$TMP/one"
check "one DP-SGD round at lr 0 (the initial model)" mpirun --oversubscribe -np 2 "$FESF" train -q $N --set train.lr=0
cp "$TMP/one/model.h5" "$TMP/init.h5"
check "one DP-SGD round at lr 1" mpirun --oversubscribe -np 2 "$FESF" train -q $N --set train.lr=1
$PY - "$TMP/init.h5" "$TMP/one/model.h5" <<'PYEOF' >"$TMP/n" 2>&1 && ok "noise: $(cat "$TMP/n")" || { nok "noise calibration"; sed 's/^/#   /' "$TMP/n"; }
import sys, h5py, numpy as np
a, b = (h5py.File(p) for p in sys.argv[1:3])
d = []
a.visititems(lambda n, o: d.append((a[n][()] - b[n][()]).ravel()) if isinstance(o, h5py.Dataset) and "param" in n else None)
d = np.concatenate(d).astype(np.float64)
want = 1000 * 0.01 / 32
ratio = d.std() / want
print(f"update std {d.std():.5f} over {d.size} parameters, calibrated {want:.5f} (ratio {ratio:.4f}), mean {d.mean():.1e}")
assert abs(ratio - 1) < 5 / np.sqrt(2 * d.size) + 2e-3, ratio
assert abs(d.mean()) < 5 * want / np.sqrt(d.size)
PYEOF
echo "1..$_n"
