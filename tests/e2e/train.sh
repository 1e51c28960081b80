# fesf train end to end: FedSGD and FedAvg over MPI, metrics, model.h5, report,
# determinism, and failures that end the job quickly naming the site.
. tests/lib.sh
RUN=$TMP/run
same_params() { $PY - "$1" "$2" <<'PYEOF'
import sys, h5py
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a["params"].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names and all(a["params"][n][()].tobytes() == b["params"][n][()].tobytes() for n in names)
PYEOF
}
check "prepare 4 phantom sites" "$FESF" prepare -q --set data.size=28 --set data.count=600 --set run.out="$RUN"
check "hide" "$FESF" hide -q --set run.out="$RUN"
# most checks pin the pre-issue-13 options (FedSGD, plain SGD, unweighted loss) that their references assume
OLD="--set train.algo=fedsgd --set train.optimizer=sgd --set train.lr=0.01 --set train.class_weights=none"
T="$OLD --set run.out=$RUN --set train.input=synthetic --set train.rounds=6 --set train.eval_every=3 --set train.batch=32"
check "train FedSGD, one process" "$FESF" train -q $T
$PY - "$RUN" <<'PYEOF' >"$TMP/m" 2>&1 && ok "metrics.jsonl: one object per round, test and val figures, per site: $(cat "$TMP/m")" || { nok "metrics.jsonl"; sed 's/^/#   /' "$TMP/m"; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
assert [r["round"] for r in rows] == list(range(1, 7)), rows
assert all("loss" in r and "images_per_s" in r for r in rows)
ev = [r for r in rows if "auc" in r]
assert [r["round"] for r in ev] == [3, 6]
for r in ev:
    for k in ("accuracy", "balanced_accuracy", "macro_f1", "auc", "val_accuracy", "val_auc"):
        assert 0 <= r[k] <= 1, (k, r[k])
    assert len(r["per_site"]) == 4 and all("auc" in s for s in r["per_site"])
print(f"{len(rows)} rounds, last test AUC {ev[-1]['auc']:.3f}")
PYEOF
check "model.h5 is a fesf-model with its architecture" sh -c "'$FESF' inspect '$RUN/model.h5' | grep -q 'arch = cnn-small width=16 input=1x28x28 classes=2'"
check "report.md has the results table (pooled and per site)" grep -q '| synthetic | site 2 | best validation round |' "$RUN/report.md"

cp "$RUN/model.h5" "$TMP/one.h5"
check "train FedSGD, mpirun -np 5" mpirun --oversubscribe -np 5 "$FESF" train -q $T
cp "$RUN/model.h5" "$TMP/a.h5"
$PY - "$TMP/one.h5" "$TMP/a.h5" >"$TMP/cmp" 2>&1 <<'PYEOF' && ok "4 sites on 4 ranks = 4 sites in one process (MPI sums vs local sums): $(cat "$TMP/cmp")" || { nok "MPI vs one process"; sed 's/^/#   /' "$TMP/cmp"; }
import sys, h5py, numpy as np
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
err = max(float(np.abs(a[n][()] - b[n][()]).max() / max(np.abs(a[n][()]).max(), 1e-12)) for n in names)
print(f"max relative difference {err:.1e} over {len(names)} tensors")
assert err <= 1e-4
PYEOF
check "again, same seed" mpirun --oversubscribe -np 5 "$FESF" train -q $T
$PY - "$TMP/a.h5" "$RUN/model.h5" <<'PYEOF' && ok "same seed twice: bit-identical model.h5 parameters" || nok "reruns differ"
import sys, h5py
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names and all(a[n][()].tobytes() == b[n][()].tobytes() for n in names)
PYEOF
check "train FedAvg (2 local epochs), mpirun -np 3 (sites 1,3 and 2,4 share a rank)" \
    mpirun --oversubscribe -np 3 "$FESF" train -q $T --set train.algo=fedavg --set train.local_epochs=2
# FedProx: mu = 0 is FedAvg bit for bit; mu > 0 keeps the sites (so the average) nearer the global model
P="$T --set train.algo=fedavg --set train.local_epochs=2 --set train.rounds=1 --set train.eval_every=1"
check "FedAvg, 1 round" mpirun --oversubscribe -np 5 "$FESF" train -q $P && cp "$RUN/model.h5" "$TMP/avg.h5"
check "FedProx mu 0, 1 round" mpirun --oversubscribe -np 5 "$FESF" train -q $P --set train.prox_mu=0 && cp "$RUN/model.h5" "$TMP/p0.h5"
check "FedProx mu 10, 1 round" mpirun --oversubscribe -np 5 "$FESF" train -q $P --set train.prox_mu=10 && cp "$RUN/model.h5" "$TMP/p10.h5"
check "the initial model (lr 0)" mpirun --oversubscribe -np 5 "$FESF" train -q $P --set train.lr=0 && cp "$RUN/model.h5" "$TMP/w0.h5"
$PY - "$TMP/w0.h5" "$TMP/avg.h5" "$TMP/p0.h5" "$TMP/p10.h5" <<'PYEOF' >"$TMP/prox" 2>&1 && ok "FedProx: $(cat "$TMP/prox")" || { nok "FedProx"; sed 's/^/#   /' "$TMP/prox"; }
import sys, numpy as np
sys.path.insert(0, "tests/py")
from model_params import params
w0, avg, p0, p10 = (params(p) for p in sys.argv[1:5])
assert avg.tobytes() == p0.tobytes(), "mu = 0 differs from FedAvg"
d_avg, d_prox = np.linalg.norm(avg - w0), np.linalg.norm(p10 - w0)
assert d_prox < 0.9 * d_avg, (d_prox, d_avg)
print(f"mu = 0 = FedAvg bit for bit; mu = 10 moves the global model {d_prox:.4f} in a round, FedAvg {d_avg:.4f}")
PYEOF
# FedAdam / FedYogi: one round from the same start is the paper's server step on FedAvg's delta (NumPy)
for o in adam yogi; do
    check "Fed$o, 1 round" mpirun --oversubscribe -np 5 "$FESF" train -q $P --set train.server_optimizer=$o \
        --set train.server_lr=0.03 && cp "$RUN/model.h5" "$TMP/s$o.h5"
done
$PY - "$TMP/w0.h5" "$TMP/avg.h5" "$TMP/sadam.h5" "$TMP/syogi.h5" <<'PYEOF' >"$TMP/sopt" 2>&1 && ok "FedAdam / FedYogi: $(cat "$TMP/sopt")" || { nok "FedAdam / FedYogi"; sed 's/^/#   /' "$TMP/sopt"; }
import sys, numpy as np
sys.path.insert(0, "tests/py")
from model_params import params
w0, avg, adam, yogi = (params(p) for p in sys.argv[1:5])
lr, tau, d = 0.03, 1e-3, w0 - avg
m = 0.1 * d
v_adam = 0.99 * tau**2 + 0.01 * d * d
v_yogi = tau**2 - 0.01 * d * d * np.sign(tau**2 - d * d)
for name, got, v in (("adam", adam, v_adam), ("yogi", yogi, v_yogi)):
    want = w0 - lr * m / (np.sqrt(v) + tau)
    err = np.abs(got - want).max()
    assert err < 1e-6, (name, err)
    print(f"{name} max |fesf - NumPy| {err:.1e};", end=" ")
print(f"step {np.abs(adam - w0).max():.4f} vs FedAvg's {np.abs(avg - w0).max():.4f}")
PYEOF
Y="$P --set train.server_optimizer=yogi --set train.rounds=6 --set train.eval_every=2 --set run.checkpoint_every=2"
check "FedYogi, 6 rounds, checkpoints every 2" mpirun --oversubscribe -np 3 "$FESF" train -q $Y && cp "$RUN/model.h5" "$TMP/y6.h5"
rm -f "$RUN/ckpt-0006.h5" "$RUN/ckpt-0004.h5"
check "FedYogi --resume from round 2 (its m and v from the checkpoint)" mpirun --oversubscribe -np 3 "$FESF" train -q --resume $Y
$PY - "$TMP/y6.h5" "$RUN/model.h5" <<'PYEOF' && ok "FedYogi resumed = uninterrupted, bit for bit" || nok "FedYogi resume differs"
import sys, h5py
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a["params"].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names and all(a["params"][n][()].tobytes() == b["params"][n][()].tobytes() for n in names)
PYEOF
expect_fail "FedSGD with a server optimizer is refused" "needs train.algo = fedavg" \
    "$FESF" train -q $T --set train.server_optimizer=adam

# FedSGD over 3 sites = centralised minibatch SGD on the union of the same batches (PyTorch)
check "prepare 3 IID sites" "$FESF" prepare -q --set data.size=28 --set data.count=400 --set data.sites=3 --set run.out="$TMP/fc"
check "FedSGD, 3 sites on 3 ranks, checkpoint every round" mpirun --oversubscribe -np 4 "$FESF" train -q $OLD \
    --set run.out="$TMP/fc" --set train.input=plain --set train.rounds=6 --set train.momentum=0 --set train.lr=0.05 \
    --set train.batch=16 --set run.checkpoint_every=1 --set run.keep_checkpoints=0 --set train.eval_every=6
if $PY -c "import torch" 2>/dev/null; then
    $PY tests/py/fedsgd_central.py "$TMP/fc" "$TOOLS/fed_batches" cnn-small 16 plain 6 16 0.05 0 >"$TMP/fc.out" 2>&1 \
        && ok "FedSGD = centralised SGD on the union of the same batches: $(cat "$TMP/fc.out")" \
        || { nok "FedSGD vs centralised SGD"; sed 's/^/#   /' "$TMP/fc.out"; }
else
    skip "FedSGD vs centralised SGD" "no torch in /usr/bin/python3"
fi

# FedAvg with one site is local training: round boundaries change nothing
check "prepare 1 site" "$FESF" prepare -q --set data.size=28 --set data.count=300 --set data.sites=1 --set run.out="$TMP/one"
L="$OLD --set run.out=$TMP/one --set train.input=plain --set train.algo=fedavg --set train.momentum=0 --set train.batch=32"
check "1 site: 1 round of 4 local epochs (local training)" "$FESF" train -q $L --set train.rounds=1 --set train.local_epochs=4 --set train.eval_every=1
cp "$TMP/one/model.h5" "$TMP/local.h5"
check "1 site: 4 rounds of 1 epoch" "$FESF" train -q $L --set train.rounds=4 --set train.local_epochs=1 --set train.eval_every=4
cp "$TMP/one/model.h5" "$TMP/r4.h5"
check "1 site: 2 rounds of 2 epochs, coordinator + site" mpirun --oversubscribe -np 2 "$FESF" train -q $L --set train.rounds=2 --set train.local_epochs=2 --set train.eval_every=2
$PY - "$TMP/local.h5" "$TMP/r4.h5" "$TMP/one/model.h5" <<'PYEOF' && ok "FedAvg with one site = local training (bit-identical parameters and BN statistics)" || nok "FedAvg one site differs from local training"
import sys, h5py
fs = [h5py.File(p) for p in sys.argv[1:4]]
names = []
fs[0].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names and all(f[n][()].tobytes() == fs[0][n][()].tobytes() for f in fs[1:] for n in names)
PYEOF
check "FedAvg with server momentum 0.9" "$FESF" train -q $T --set train.algo=fedavg --set train.server_momentum=0.9 --set train.rounds=3
check "partial participation" "$FESF" train -q $T --set train.participation=0.5 --set train.rounds=3

# SCAFFOLD: one site's correction c - c_i is 0 up to rounding from round 2 on: local training
check "SCAFFOLD, 1 site: 4 rounds of 1 epoch" "$FESF" train -q $L --set train.rounds=4 --set train.local_epochs=1 \
    --set train.eval_every=4 --set train.scaffold=true
$PY - "$TMP/local.h5" "$TMP/one/model.h5" <<'PYEOF' >"$TMP/sc1" 2>&1 && ok "SCAFFOLD with one site = local training: $(cat "$TMP/sc1")" || { nok "SCAFFOLD one site"; sed 's/^/#   /' "$TMP/sc1"; }
import sys
sys.path.insert(0, "tests/py")
import numpy as np
from model_params import params
a, b = params(sys.argv[1]), params(sys.argv[2])
err = np.abs(a - b).max()
assert err <= 1e-6, err
print(f"max |difference| {err:.1e} over {a.size} parameters (c - c_i rounds to about 1e-12)")
PYEOF
S="$OLD --set run.out=$TMP/fc --set train.input=plain --set train.algo=fedavg --set train.momentum=0 --set train.lr=0.05 \
    --set train.batch=16 --set train.rounds=4 --set train.eval_every=2 --set run.checkpoint_every=2 --set train.scaffold=true"
check "SCAFFOLD, 3 sites on 3 ranks, 4 rounds" mpirun --oversubscribe -np 4 "$FESF" train -q $S && cp "$TMP/fc/model.h5" "$TMP/sc4.h5"
$PY - "$TMP/fc" <<'PYEOF' >"$TMP/sc" 2>&1 && ok "SCAFFOLD: $(cat "$TMP/sc")" || { nok "SCAFFOLD's control variates"; sed 's/^/#   /' "$TMP/sc"; }
import sys, h5py, numpy as np
d = sys.argv[1]
ck = h5py.File(f"{d}/ckpt-0004.h5")
np_ = sum(o.size for o in [ck["params"][g][n] for g in ck["params"] for n in ck["params"][g]])
c = ck["optim/state"][()][-np_:].astype(np.float64)  # the coordinator's c, last in the server state
ci = [h5py.File(f"{d}/site-{k:03d}/train-state-0004.h5")["state"][()].astype(np.float64) for k in (1, 2, 3)]
assert all(h5py.File(f"{d}/site-{k:03d}/train-state-0004.h5").attrs["round"] == 4 for k in (1, 2, 3))
err = np.abs(c - np.mean(ci, axis=0)).max()
assert err <= 1e-5 * max(np.abs(c).max(), 1e-12) and np.abs(c).max() > 0, (err, np.abs(c).max())
print(f"c = the mean of the 3 sites' c_i within {err:.1e} (|c| up to {np.abs(c).max():.3f}), each c_i in its site's folder")
PYEOF
rm -f "$TMP/fc/ckpt-0004.h5"
check "SCAFFOLD --resume from round 2 (c from the checkpoint, c_i from the sites' folders)" \
    mpirun --oversubscribe -np 4 "$FESF" train -q --resume $S
check "SCAFFOLD resumed = uninterrupted (bit-identical)" same_params "$TMP/sc4.h5" "$TMP/fc/model.h5"
expect_fail "SCAFFOLD with FedSGD is refused" "train.scaffold corrects FedAvg" "$FESF" train -q $T --set train.scaffold=true

# SIGKILL half-way, --resume: bit-identical to the uninterrupted run
K="--set run.out=$RUN --set train.input=synthetic --set train.rounds=150 --set train.eval_every=10 --set run.checkpoint_every=10 --set train.batch=16"
check "uninterrupted run with checkpoints" mpirun --oversubscribe -np 5 "$FESF" train -q $K
cp "$RUN/model.h5" "$TMP/full.h5" && cp "$RUN/metrics.jsonl" "$TMP/full.jsonl" && rm -f "$RUN"/ckpt-*.h5
mpirun --oversubscribe -np 5 "$FESF" train -q $K >/dev/null 2>&1 &
pid=$!
i=0; while [ ! -f "$RUN/ckpt-0030.h5" ] && [ $i -lt 600 ]; do sleep 0.02; i=$((i + 1)); done
kill -9 $pid; wait $pid 2>/dev/null
done_rounds=$(wc -l <"$RUN/metrics.jsonl")
[ -f "$RUN/ckpt-0030.h5" ] && [ "$done_rounds" -lt 150 ] && ok "killed with SIGKILL after $done_rounds of 150 rounds" \
    || nok "kill came too late ($done_rounds rounds)"
check "--resume from the newest checkpoint" mpirun --oversubscribe -np 5 "$FESF" train -q --resume $K
$PY - "$TMP/full.h5" "$RUN/model.h5" "$TMP/full.jsonl" "$RUN/metrics.jsonl" <<'PYEOF' && ok "resumed run = uninterrupted run: bit-identical model.h5 parameters and metrics" || nok "resume differs"
import sys, json, h5py
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names and all(a[n][()].tobytes() == b[n][()].tobytes() for n in names)
strip = lambda p: [{k: v for k, v in json.loads(l).items() if k != "images_per_s"} for l in open(p)]
assert strip(sys.argv[3]) == strip(sys.argv[4])
PYEOF
expect_fail "--resume with another learning rate is refused" "made with another configuration" \
    "$FESF" train -q --resume $K --set train.lr=0.5

expect_fail "train on surrogates before enhance" "has no /surrogate images \(run 'fesf enhance' first\)" \
    "$FESF" train -q --set run.out="$RUN"
# a corrupt shard and a shard of another image size end the job naming the site
cp -r "$RUN" "$TMP/bad"
head -c 2000 "$RUN/site-002.h5" >"$TMP/bad/site-002.h5"
start=$(date +%s)
mpirun --oversubscribe -np 5 "$FESF" train -q $T --set run.out="$TMP/bad" >"$TMP/o" 2>"$TMP/e"; rc=$?
secs=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $secs -lt 10 ] && grep -q "\[site 2\] error: site 2: .*site-002.h5" "$TMP/e" \
    && ok "a corrupt shard ends the job in ${secs} s: $(grep 'error' "$TMP/e" | head -1)" \
    || { nok "corrupt shard (exit $rc, ${secs} s)"; sed 's/^/#   /' "$TMP/e" | head; }
check "prepare 32 px phantoms" "$FESF" prepare -q --set data.size=32 --set data.count=200 --set run.out="$TMP/p32"
check "hide them" "$FESF" hide -q --set run.out="$TMP/p32"
cp -r "$RUN" "$TMP/bad2" && cp "$TMP/p32/site-003.h5" "$TMP/bad2/site-003.h5"
start=$(date +%s)
mpirun --oversubscribe -np 5 "$FESF" train -q $T --set run.out="$TMP/bad2" >"$TMP/o" 2>"$TMP/e"; rc=$?
secs=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $secs -lt 10 ] && grep -q "\[site 3\] error: site 3: '.*/bad2/site-003.h5': images are 1x32x32 but site-001.h5 has 1x28x28" "$TMP/e" \
    && ok "a shard of another image size ends the job in ${secs} s naming site 3" \
    || { nok "mismatched shard (exit $rc, ${secs} s)"; sed 's/^/#   /' "$TMP/e" | head; }
# a shard with another class count
$PY -c "
import numpy as np
r = np.random.default_rng(0)
np.savez('$TMP/k3.npz', train_images=r.integers(0, 256, (120, 28, 28), dtype=np.uint8), train_labels=np.arange(120) % 3)
"
check "prepare a 3-class dataset" "$FESF" prepare -q --set data.source="npz:$TMP/k3.npz" --set data.public=0.1 --set run.out="$TMP/k3"
check "hide it" "$FESF" hide -q --set run.out="$TMP/k3"
cp -r "$RUN" "$TMP/bad3" && cp "$TMP/k3/site-003.h5" "$TMP/bad3/site-003.h5"
start=$(date +%s)
mpirun --oversubscribe -np 5 "$FESF" train -q $T --set run.out="$TMP/bad3" >"$TMP/o" 2>"$TMP/e"; rc=$?
secs=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $secs -lt 10 ] && grep -q "\[site 3\] error: site 3: '.*/bad3/site-003.h5' has 3 classes (\['0', '1', '2'\]) but site-001.h5 has 2" "$TMP/e" \
    && ok "a shard with another class count ends the job in ${secs} s naming site 3" \
    || { nok "class count mismatch (exit $rc, ${secs} s)"; sed 's/^/#   /' "$TMP/e" | head; }
# ---- class weights from the sites' summed label counts; the still-improving and near-chance flags ----
CW=$TMP/cw
CS="$OLD --set run.out=$CW --set data.size=28 --set data.count=300 --set data.sites=2 --set data.partition=dirichlet"
CS="$CS --set train.input=synthetic --set train.rounds=3 --set train.eval_every=1 --set train.batch=16"
check "class weights: prepare and hide 2 skewed sites" sh -c "'$FESF' prepare -q $CS && '$FESF' hide -q $CS"
for lr in 0.05 0; do
    mpirun --oversubscribe -np 3 "$FESF" train $CS --set train.class_weights=balanced --set train.lr=$lr >"$TMP/cw$lr.log" 2>&1 \
        && cp "$CW/summary.tsv" "$TMP/cw$lr.tsv" && cp "$CW/metrics.jsonl" "$TMP/cw$lr.jsonl" && cp "$CW/report.md" "$TMP/cw$lr.md" \
        || nok "train with class weights, lr $lr: $(tail -2 "$TMP/cw$lr.log")"
done
$PY - "$CW" "$TMP/cw0.05.log" >"$TMP/cw.out" 2>&1 <<'PYEOF' && ok "balanced class weights = N / (K n_c) of the shards' summed training labels: $(cat "$TMP/cw.out")" || { nok "class weights"; sed 's/^/#   /' "$TMP/cw.out"; }
import glob, re, sys, h5py, numpy as np
counts = sum(np.bincount(h5py.File(p, "r")["synthetic/train/labels"][()], minlength=2) for p in glob.glob(sys.argv[1] + "/site-*.h5"))
line = [l for l in open(sys.argv[2]) if "class weights (balanced" in l][0]
got = [(float(a), float(b)) for a, b in re.findall(r"([0-9.]+) -> ([0-9.]+)", line)]
want = counts.sum() / (len(counts) * counts)
assert [g[0] for g in got] == list(counts), (got, counts)
assert np.allclose([g[1] for g in got], want, atol=1e-4), (got, want)
print(f"counts {list(counts)}, weights {[round(w, 4) for w in want]}")
PYEOF
$PY - "$TMP" >"$TMP/flags" 2>&1 <<'PYEOF' && ok "the still-improving and near-chance flags appear in the log, report.md and summary.tsv exactly when they should: $(cat "$TMP/flags")" || { nok "training flags"; sed 's/^/#   /' "$TMP/flags"; }
import json, sys
tmp, seen = sys.argv[1], []
for lr in ("0.05", "0"):
    rows = [json.loads(l) for l in open(f"{tmp}/cw{lr}.jsonl") if "val_auc" in l]
    best = max(rows, key=lambda r: (r["val_auc"], -r["round"]))["round"]  # the first round of the best AUC
    tsv = [l.split("\t") for l in open(f"{tmp}/cw{lr}.tsv") if l.startswith("synthetic\tall\tbest")][0]
    bal = float(tsv[6])
    log, md = open(f"{tmp}/cw{lr}.log").read(), open(f"{tmp}/cw{lr}.md").read()
    still, chance = best == 3, bal <= 0.5 + 0.02
    assert ("was still improving" in log) == still and ("**Still improving" in md) == still, (lr, best, still)
    assert ("within 0.02 of chance" in log) == chance and ("**Near chance" in md) == chance, (lr, bal, chance)
    flags = dict(kv.split("=") for kv in [l for l in open(f"{tmp}/cw{lr}.tsv") if l.startswith("# flags ")][0].split()[2:])
    assert (int(flags["still_improving"]), int(flags["near_chance"])) == (int(still), int(chance)), flags
    seen.append(f"lr {lr}: best round {best}/3 (flag {'on' if still else 'off'}), balanced accuracy {bal:.3f} (flag {'on' if chance else 'off'})")
print("; ".join(seen))
PYEOF
# ---- train.rounds = auto: a plateau stops training, never before train.min_steps, at most max_rounds ----
A="$CS --set train.rounds=auto --set train.eval_every=1 --set train.lr=0"
auto_rounds() { # NAME SETS...: train, then print the rounds metrics.jsonl holds
    _nm=$1; shift
    mpirun --oversubscribe -np 3 "$FESF" train $A "$@" >"$TMP/$_nm.log" 2>&1 || { echo "failed: $(tail -1 "$TMP/$_nm.log")"; return; }
    cp "$CW/report.md" "$TMP/$_nm.md"
    grep -c '"round"' "$CW/metrics.jsonl"
}
n=$(auto_rounds plateau --set train.patience=2 --set train.min_steps=0 --set train.max_rounds=30)
[ "$n" = 3 ] && grep -q "Repeat 1 stopped after round 3: the validation AUC had not improved" "$TMP/plateau.md" \
    && ok "rounds = auto, lr 0 (a flat validation AUC, best at round 1), patience 2: stops after round 3, and report.md says why" \
    || nok "auto plateau: $n rounds"
n=$(auto_rounds minsteps --set train.patience=2 --set train.min_steps=10 --set train.max_rounds=30)
[ "$n" = 10 ] && ok "  with train.min_steps = 10 (FedSGD: one step a round) it trains 10 rounds first" || nok "auto min_steps (FedSGD): $n rounds"
per=$($PY -c "import glob,h5py,math; print(min(math.ceil(len(h5py.File(p,'r')['synthetic/train/labels'])/16) for p in glob.glob('$CW/site-*.h5')))")
want=$(( (20 + per - 1) / per )); [ "$want" -lt 2 ] && want=2
n=$(auto_rounds fedavg --set train.algo=fedavg --set train.patience=1 --set train.min_steps=20 --set train.max_rounds=30)
[ "$n" = "$want" ] && ok "  FedAvg ($per steps a round on the smallest site), min_steps 20, patience 1: stops after round $want" \
    || nok "auto min_steps (FedAvg, $per steps a round): $n rounds, want $want"
n=$(auto_rounds maxr --set train.patience=100 --set train.min_steps=0 --set train.max_rounds=4)
[ "$n" = 4 ] && grep -q "Repeat 1 stopped after round 4: train.max_rounds reached" "$TMP/maxr.md" \
    && ok "  patience 100, max_rounds 4: stops at max_rounds and says so" || nok "auto max_rounds: $n rounds"
echo "1..$_n"

# train.augment: the same batches on any rank layout, reruns bit-identical, and really applied
G="$T --set train.algo=fedavg --set train.rounds=1 --set train.augment=flip+shift"
check "augment flip+shift, FedAvg, mpirun -np 5" mpirun --oversubscribe -np 5 "$FESF" train -q $G
cp "$RUN/model.h5" "$TMP/aug5.h5"
check "  again" mpirun --oversubscribe -np 5 "$FESF" train -q $G
cp "$RUN/model.h5" "$TMP/aug5b.h5"
check "  on 3 ranks (two sites a rank)" mpirun --oversubscribe -np 3 "$FESF" train -q $G
cp "$RUN/model.h5" "$TMP/aug3.h5"
check "  and without augmentation" mpirun --oversubscribe -np 5 "$FESF" train -q $G --set train.augment=none
$PY - "$TMP/aug5.h5" "$TMP/aug5b.h5" "$TMP/aug3.h5" "$RUN/model.h5" >"$TMP/aug" 2>&1 <<'PYEOF' && ok "augmentation: reruns bit-identical, 5 ranks = 3 ranks, and it changes the model: $(cat "$TMP/aug")" || { nok "augmentation"; sed 's/^/#   /' "$TMP/aug"; }
import sys, h5py, numpy as np
f = [h5py.File(p) for p in sys.argv[1:5]]
names = []
f[0].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
rel = lambda a, b: max(float(np.abs(a[n][()] - b[n][()]).max() / max(np.abs(a[n][()]).max(), 1e-12)) for n in names)
assert names and all(f[0][n][()].tobytes() == f[1][n][()].tobytes() for n in names)
r3, rn = rel(f[0], f[2]), rel(f[0], f[3])
print(f"5 vs 3 ranks {r3:.1e}, with vs without {rn:.1e}")
assert r3 <= 1e-4 and rn > 1e-2
PYEOF

# train.normalise = image: invariant to a per-image affine change of intensity (pooled is not)
$PY -c "
import numpy as np
r = np.random.default_rng(1)
y = np.arange(240) % 2
x = (r.random((240, 28, 28)) * 0.3 + 0.35 * y[:, None, None] * (np.arange(28) < 14)[None, None, :]).astype(np.float32)
a, b = r.uniform(0.3, 1, (240, 1, 1)), r.uniform(0, 0.3, (240, 1, 1))
np.savez('$TMP/n1.npz', train_images=x, train_labels=y)
np.savez('$TMP/n2.npz', train_images=(a * x + b).astype(np.float32), train_labels=y)
"
for k in 1 2; do
    check "prepare intensity set $k" "$FESF" prepare -q --set data.source="npz:$TMP/n$k.npz" --set data.public=0.05 --set run.out="$TMP/n$k"
done
for nm in image pooled; do
    for k in 1 2; do
        mpirun --oversubscribe -np 3 "$FESF" train -q --set run.out="$TMP/n$k" --set train.input=plain --set train.rounds=4 \
            --set train.eval_every=2 --set train.batch=16 --set train.normalise=$nm >"$TMP/n$k$nm.log" 2>&1 \
            && cp "$TMP/n$k/model.h5" "$TMP/n$k$nm.h5" || nok "train normalise=$nm on set $k: $(tail -1 "$TMP/n$k$nm.log")"
    done
done
$PY - "$TMP" >"$TMP/nm" 2>&1 <<'PYEOF' && ok "normalise = image: images scaled and offset one by one train the same model, pooled does not: $(cat "$TMP/nm")" || { nok "normalise = image"; sed 's/^/#   /' "$TMP/nm"; }
import sys, h5py, numpy as np
t = sys.argv[1]
def rel(p, q):
    a, b = h5py.File(p), h5py.File(q)
    names = []
    a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
    return max(float(np.abs(a[n][()] - b[n][()]).max() / max(np.abs(a[n][()]).max(), 1e-12)) for n in names)
ri, rp = rel(f"{t}/n1image.h5", f"{t}/n2image.h5"), rel(f"{t}/n1pooled.h5", f"{t}/n2pooled.h5")
print(f"image {ri:.1e}, pooled {rp:.1e}")
assert ri < 1e-3 and rp > 1e-2
PYEOF
