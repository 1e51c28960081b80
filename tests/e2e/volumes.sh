# Volumes end to end (issue 17): a MedMNIST3D .npz (AdrenalMNIST3D, real CT
# shape volumes) through fesf prepare into [N, 1, D, H, W] shards, bit for
# bit, and fesf hide's 3-D IHM against the independent NumPy one
# (tests/py/volume_check.py), in one process and under mpirun, with a fixed
# host and with a host per volume; the IQEM's 3-D G and second pass against PyTorch
# and NumPy (tests/py/surrogate3d_check.py); the refusals of what is 2-D only.
. tests/lib.sh
ADRENAL=$DATA/adrenalmnist3d.npz
if [ ! -f "$ADRENAL" ]; then
    skip "volumes" "adrenalmnist3d.npz not in $DATA"
    echo "1..$_n"
    exit 0
fi
V="--set data.source=npz:$ADRENAL --set data.public=val"
check "prepare AdrenalMNIST3D 28^3, 4 sites" "$FESF" prepare -q $V --set run.out="$TMP/v"
check "shards hold every volume and label of the .npz once, bit for bit" \
    $PY tests/py/check_shards.py --run "$TMP/v" --npz "$ADRENAL"
h5ls "$TMP/v/site-001.h5/plain/train" >"$TMP/ls" 2>&1
grep -q 'images *Dataset {[0-9]*/Inf, 1, 28, 28, 28}' "$TMP/ls" && ok "h5ls: /plain/train/images is [N, 1, 28, 28, 28]" \
    || { nok "5-D shard layout"; sed 's/^/#   /' "$TMP/ls"; }
cp -r "$TMP/v" "$TMP/vm"
check "hide, one process" "$FESF" hide -q $V --set run.out="$TMP/v"
$PY tests/py/volume_check.py "$TMP/v" 0.3 1.0 square >"$TMP/out" 2>&1
relay "$TMP/out"
check "hide, mpirun -np 3 (coordinator + 2 site ranks)" mpirun --oversubscribe -np 3 "$FESF" hide -q $V --set run.out="$TMP/vm"
$PY tests/py/same_synthetic.py "$TMP/v" "$TMP/vm" 0 >"$TMP/cmp" 2>&1 && grep -q "bit-identical: True" "$TMP/cmp"
[ $? -eq 0 ] && ok "mpirun hide = one process: $(cat "$TMP/cmp")" || { nok "mpirun vs one process"; sed 's/^/#   /' "$TMP/cmp"; }

R="$V --set data.sites=2 --set ihm.host_mode=random --set ihm.alpha=0.5 --set ihm.beta=0.7 --set ihm.mask=circle"
check "prepare + hide with a host per volume (random), alpha 0.5, beta 0.7, circle" \
    sh -c "'$FESF' prepare -q $R --set run.out='$TMP/r' && '$FESF' hide -q $R --set run.out='$TMP/r'"
$PY tests/py/volume_check.py "$TMP/r" 0.5 0.7 circle >"$TMP/out" 2>&1
relay "$TMP/out"

check "fesf inspect --png: a grid of the volumes' middle planes" \
    "$FESF" inspect "$TMP/v/site-001.h5" --png "$TMP/mid.png" --dataset /synthetic/train/images --count 9
$PY - "$TMP/mid.png" >"$TMP/out" 2>&1 <<'PYEOF'
import struct, sys
head = open(sys.argv[1], "rb").read(24)  # the signature and IHDR: width, height
w, h = struct.unpack(">II", head[16:24])
print(f"PNG {w}x{h}")
sys.exit(0 if head[:8] == b"\x89PNG\r\n\x1a\n" and w == h and 84 <= w <= 100 else 1)  # 3 x 28 and gutters
PYEOF
[ $? -eq 0 ] && ok "a 3 x 3 grid of 28 x 28 planes: $(cat "$TMP/out")" || { nok "middle-plane grid"; sed 's/^/#   /' "$TMP/out"; }
expect_fail "keyed options on volumes are refused" "keyed options.*2-D only" \
    "$FESF" hide -q $V --set run.out="$TMP/v" --set ihm.noise=0.1

# The IQEM on volumes: 3-D G and D trained federatedly, the second 3-D IHM pass. A small
# AdrenalMNIST3D (48 / 12 / 12 volumes) keeps it to seconds; G rebuilt in PyTorch from
# iqem.h5 and the NumPy 3-D IHM must give every surrogate volume.
$PY tests/py/small_npz.py "$ADRENAL" "$TMP/small.npz"
E="--set data.source=npz:$TMP/small.npz --set data.public=val --set data.sites=2 --set iqem.epochs=1"
check "prepare + hide + enhance (3-D G and D, one epoch) on 48 volumes, 2 sites" \
    sh -c "'$FESF' prepare -q $E --set run.out='$TMP/e' && '$FESF' hide -q $E --set run.out='$TMP/e' && cp -r '$TMP/e' '$TMP/em' && '$FESF' enhance -q $E --set run.out='$TMP/e'"
$PY tests/py/surrogate3d_check.py "$TMP/e" square >"$TMP/out" 2>&1
relay "$TMP/out"
check "enhance under mpirun -np 3 (coordinator + 2 site ranks)" \
    mpirun --oversubscribe -np 3 "$FESF" enhance -q $E --set run.out="$TMP/em"
$PY tests/py/same_synthetic.py "$TMP/e" "$TMP/em" 0 surrogate >"$TMP/cmp" 2>&1 && grep -q "bit-identical: True" "$TMP/cmp"
[ $? -eq 0 ] && ok "mpirun enhance = one process, surrogates: $(cat "$TMP/cmp")" || { nok "mpirun vs one process (surrogates)"; sed 's/^/#   /' "$TMP/cmp"; }
[ -s "$TMP/e/site-001/figures/iqem.png" ] && ok "site-001/figures/iqem.png: the volumes' middle planes" || nok "no iqem.png"
check "audit on volumes: the 3-D attacker (attack-cnn in 3-D) on both targets" \
    "$FESF" audit -q $E --set run.out="$TMP/e" --set audit.width=4 --set audit.epochs=1
grep -q "attack-cnn width=4 input=1x28x28x28" "$TMP/e/audit.md" && [ -s "$TMP/e/site-002/figures/audit-surrogate.png" ]
[ $? -eq 0 ] && ok "audit.md: the 3-D attacker's figures" || { nok "audit.md of volumes"; sed 's/^/#   /' "$TMP/e/audit.md" | head -20; }
$PY tests/py/linkage_ref.py "$TMP/e" >"$TMP/lk" 2>&1 && ok "linkage on volumes (3-D masked amplitudes) = NumPy: $(tail -1 "$TMP/lk")" \
    || { nok "linkage on volumes vs NumPy"; sed 's/^/#   /' "$TMP/lk"; }
check "fesf run on volumes, unchanged but for model.arch = cnn3d-small (and augmented): prepare, hide, enhance, train, audit, report" \
    "$FESF" run -q $E --set run.out="$TMP/run" --set audit.width=4 --set audit.epochs=1 --set train.rounds=2 \
    --set model.arch=cnn3d-small --set train.augment=flip+shift
grep -q "cnn3d-small" "$TMP/run/report.md" && grep -q "linkage attack re-identified" "$TMP/run/report.md" && ! grep -q "nan%" "$TMP/run/report.md"
[ $? -eq 0 ] && ok "report.md of a volume run: the 3-D model, the audit with its linkage figures" \
    || { nok "report.md of volumes"; grep -n "nan\|Linkage" "$TMP/run/report.md" | sed 's/^/#   /' | head; }
# fesf predict at a site: its new volumes through the same hosts, 3-D IHM, G and cnn3d-small give the
# training's own test evaluation
check "a volume run's test splits exported (npz pools of volumes)" $PY tests/py/predict_check.py export "$TMP/run" "$TMP/pv"
PM="--model $TMP/run/train-surrogate/model.h5 --hosts $TMP/run/hosts.h5 --iqem $TMP/run/iqem.h5"
"$FESF" predict $PM "$TMP/pv/site1.npz" -o "$TMP/pv1.csv" >"$TMP/plog" 2>&1 || { nok "predict volumes"; sed 's/^/#   /' "$TMP/plog"; }
$PY tests/py/predict_check.py compare "$TMP/run/train-surrogate/summary.tsv" "$TMP/pv1.csv" 1 >"$TMP/cmp" 2>&1; relay "$TMP/cmp"
auc=$(awk -F'\t' '$2 == 1 && $3 == "best" { printf "%.4f", $11 }' "$TMP/run/train-surrogate/summary.tsv")
grep -q "AUC $auc," "$TMP/plog" && ok "predict on volumes: site 1's logged AUC is the training's ($auc)" \
    || { nok "predict volumes AUC $auc"; grep AUC "$TMP/plog" | sed 's/^/#   /'; }
expect_fail "--keep-surrogates with a volume model is refused" "keeps 2-D images only" \
    "$FESF" predict -q $PM "$TMP/pv/site1.npz" -o "$TMP/pv2.csv" --keep-surrogates "$TMP/pv2.h5"
# data.size = D,H,W on an .npz of volumes: AdrenalMNIST3D's 64^3 volumes resampled to 28^3 as
# PyTorch's trilinear interpolate (align_corners=False) does, the size recorded on the shard
A64=$DATA/adrenalmnist3d_64.npz
if [ -f "$A64" ]; then
    check "prepare adrenalmnist3d_64.npz with data.size = 28,28,28 (one site)" "$FESF" prepare -q \
        --set data.source=npz:"$A64" --set data.size=28,28,28 --set data.sites=1 --set data.public=val --set run.out="$TMP/r64"
    $PY - "$A64" "$TMP/r64/site-001.h5" >"$TMP/out" 2>&1 <<'PYEOF'
import sys, h5py, numpy as np, torch, torch.nn.functional as F
z, f = np.load(sys.argv[1]), h5py.File(sys.argv[2], "r")
x, src = f["plain/test/images"][()], z["test_images"]
ref = F.interpolate(torch.from_numpy(src[:, None].astype(np.float32) / 255), size=(28, 28, 28), mode="trilinear",
                    align_corners=False).numpy()
err = float(np.abs(ref - x).max())
attrs = list(f.attrs["size"]) == [28, 28, 28] and int(f.attrs["resampled"]) == 1
print(f"{len(x)} test volumes 64^3 -> 28^3 = torch trilinear, max abs {err:.2e}; size/resampled recorded: {attrs}")
sys.exit(0 if err <= 1e-5 and attrs and (f["plain/test/labels"][()] == z["test_labels"].ravel()).all() else 1)
PYEOF
    [ $? -eq 0 ] && ok "$(cat "$TMP/out")" || { nok "npz resample"; sed 's/^/#   /' "$TMP/out"; }
else
    skip "npz resample" "adrenalmnist3d_64.npz not in $DATA"
fi
[ -f "$DATA/pneumoniamnist_28.npz" ] && expect_fail "data.size = D,H,W on an .npz of 2-D images is refused" \
    "holds 2-D images of 28x28: data.size resamples volumes only" \
    "$FESF" prepare -q --set data.source=npz:"$DATA/pneumoniamnist_28.npz" --set data.size=28,28,28 --set run.out="$TMP/x2"
expect_fail "data.size of a phantom is one number" "phantom's size is one number" \
    "$FESF" prepare --set data.size=28,28,28 --set run.out="$TMP/x"
echo "1..$_n"
