# fesf audit end to end: the learned inversion attack runs over MPI, its
# baselines and attack scores match an independent NumPy/PyTorch recomputation
# from the files, reruns are byte-identical across rank counts, the attack does
# not beat the prior when the released image carries no information (beta = 0)
# but does when it does (beta = 1), and failures are one clear line.
. tests/lib.sh
MPI="mpirun --oversubscribe"

# ---- the demo pipeline, small: 2 sites of 28 px phantoms, 80 public images ----
RUN=$TMP/run
SETS="-c configs/demo.ini --set run.out=$RUN --set data.size=28 --set data.count=400 --set data.sites=2"
SETS="$SETS --set iqem.epochs=1 --set audit.epochs=2 --set audit.width=8"
check "prepare 2 phantom sites (28 px)" "$FESF" prepare -q $SETS
check "hide, mpirun -np 3" $MPI -np 3 "$FESF" hide -q $SETS
check "enhance (1 epoch), mpirun -np 3" $MPI -np 3 "$FESF" enhance -q $SETS
start=$(date +%s)
check "audit (2 epochs, width 8), mpirun -np 3" $MPI -np 3 "$FESF" audit -q $SETS
ok "  (audit took $(( $(date +%s) - start )) s)"

$PY - "$RUN" >"$TMP/rows" 2>&1 <<'PYEOF' && ok "audit.tsv: synthetic/surrogate x all, 1, 2; image counts = the shards' test images; all = image-weighted site mean: $(cat "$TMP/rows")" || { nok "audit.tsv rows"; sed 's/^/#   /' "$TMP/rows"; }
import sys, glob, h5py, math
run = sys.argv[1]
lines = open(run + "/audit.tsv").read().splitlines()
assert lines[0].startswith("# fesf audit config_hash=") and len(lines[0].split("=")[1]) == 16, lines[0]
head = lines[1].split("\t")
assert head == ["target", "site", "images", "psnr_attack", "ssim_attack", "psnr_prior", "ssim_prior", "psnr_host",
                "ssim_host", "psnr_released", "ssim_released", "advantage_db", "advantage_ssim", "reid_top1", "reid_top5",
                "chance_top1", "chance_top5", "mia_auc", "mia_tpr_1pct", "mia_tpr_01pct"], head
rows = [l.split("\t") for l in lines[2:]]
keys = [(r[0], r[1]) for r in rows]
assert keys == [(t, s) for t in ("synthetic", "surrogate") for s in ("all", "1", "2")], keys
val = {(r[0], r[1]): dict(zip(head[2:], map(float, r[2:]))) for r in rows}
n = {}
for p in sorted(glob.glob(run + "/site-*.h5")):
    f = h5py.File(p, "r")
    n[str(f.attrs["site_id"])] = len(f["plain/test/images"])
    assert len(f["synthetic/test/images"]) == len(f["surrogate/test/images"]) == n[str(f.attrs["site_id"])]
for t in ("synthetic", "surrogate"):
    assert val[(t, "all")]["images"] == sum(n.values()), (t, val[(t, "all")]["images"], n)
    for s in n:
        assert val[(t, s)]["images"] == n[s]
    for k, v in val.items():
        assert all(math.isfinite(x) for x in v.values()), k
        assert abs(v["advantage_db"] - (v["psnr_attack"] - v["psnr_prior"])) <= 2e-6, k
        assert abs(v["advantage_ssim"] - (v["ssim_attack"] - v["ssim_prior"])) <= 2e-6, k
    for c in head[3:]:
        pooled = sum(val[(t, s)][c] * n[s] for s in n) / sum(n.values())
        assert abs(pooled - val[(t, "all")][c]) <= 2e-6, (t, c, pooled, val[(t, "all")][c])
print(f"{sum(n.values())} test images ({', '.join(f'site {s}: {k}' for s, k in n.items())})")
PYEOF

$PY tests/py/audit_ref.py baselines "$RUN" >"$TMP/ref" 2>&1 \
    && ok "prior, host and released baselines (PSNR, SSIM) = NumPy recomputation from the files (1e-4): $(tail -1 "$TMP/ref")" \
    || { nok "baselines differ from the NumPy recomputation"; sed 's/^/#   /' "$TMP/ref"; }

$PY tests/py/linkage_ref.py "$RUN" >"$TMP/lk" 2>&1 \
    && ok "linkage (re-identification, membership) = NumPy recomputation from the files: $(tail -1 "$TMP/lk")" \
    || { nok "linkage differs from the NumPy recomputation"; sed 's/^/#   /' "$TMP/lk"; }
awk -F'\t' '$2 == "all" && $14 != "1.000000" { bad = 1 } END { exit bad }' "$RUN/audit.tsv" \
    && ok "  beta = 1, no noise: the linkage re-identifies every released test image (top-1 = 1)" \
    || nok "  beta = 1 should re-identify every image: $(cut -f1,2,14 "$RUN/audit.tsv" | tr '\n' ' ')"
grep -q '| synthetic | all | 100 | \*\*1.000\*\* (0.0077)' "$RUN/audit.md" \
    && ok "  audit.md has the linkage table (top-1 against chance)" || nok "audit.md linkage table"

missing=
for t in synthetic surrogate; do
    for s in 001 002; do
        head -c 8 "$RUN/site-$s/figures/audit-$t.png" 2>/dev/null | od -c | grep -q 'P   N   G' || missing="$missing site-$s/figures/audit-$t.png"
    done
done
[ -z "$missing" ] && ok "reconstruction figures: site-{001,002}/figures/audit-{synthetic,surrogate}.png are PNGs" \
    || nok "figures missing or not PNG:$missing"
check "the attackers load: fesf inspect audit-synthetic.h5" "$FESF" inspect "$RUN/audit-synthetic.h5"
grep -q 'arch = attack-cnn width=8 input=1x28x28' "$TMP/out" && ok "  arch attack-cnn width=8 input=1x28x28" || nok "attacker arch"
check "fesf inspect audit-surrogate.h5" "$FESF" inspect "$RUN/audit-surrogate.h5"
grep -q '| synthetic | all | ' "$RUN/audit.md" && grep -q '| surrogate | all | ' "$RUN/audit.md" \
    && ok "audit.md has the table" || nok "audit.md table"

cp "$RUN/audit.tsv" "$TMP/first.tsv"
check "audit again, mpirun -np 2 (one rank holds both sites)" $MPI -np 2 "$FESF" audit -q $SETS
check "  audit.tsv byte-identical to the first (-np 3)" cmp "$TMP/first.tsv" "$RUN/audit.tsv"

# ---- a trained attacker: 200 public images, 8 epochs (about 100 Adam steps) ----
# beta = 1 leaks the plaintext's low-frequency amplitude, beta = 0 releases the
# host itself; the attacker is trained the same way for both. Synthetic target
# only (iqem.enabled = false) to keep the suite within a minute.
PUB=$TMP/pub
TRAIN="--set data.size=28 --set data.count=400 --set data.sites=2 --set data.public=0.5"
TRAIN="$TRAIN --set audit.epochs=8 --set audit.width=8 --set audit.lr=0.003 --set audit.batch=16"
check "prepare 2 sites with 200 public images" "$FESF" prepare -q -c configs/demo.ini --set run.out="$PUB" $TRAIN
cp -r "$PUB" "$TMP/b0"
B1="-c configs/demo.ini --set run.out=$PUB $TRAIN --set iqem.enabled=false"
B0="-c configs/demo.ini --set run.out=$TMP/b0 $TRAIN --set ihm.beta=0 --set iqem.enabled=false"
check "beta = 1 (no IQEM): hide (mpirun -np 3)" $MPI -np 3 "$FESF" hide -q $B1
start=$(date +%s)
check "beta = 1: audit (8 epochs, width 8), mpirun -np 3" $MPI -np 3 "$FESF" audit -q $B1
ok "  (audit took $(( $(date +%s) - start )) s)"
$PY tests/py/audit_ref.py attack "$PUB" >"$TMP/att" 2>&1 \
    && ok "attack PSNR/SSIM = PyTorch rebuild of audit-*.h5 on the released test images, clipped, NumPy scores (1e-3): $(tail -1 "$TMP/att")" \
    || { nok "attack scores differ from the PyTorch recomputation"; sed 's/^/#   /' "$TMP/att"; }
$PY tests/py/audit_ref.py baselines "$PUB" >"$TMP/ref" 2>&1 \
    && ok "  and its baselines = NumPy recomputation: $(tail -1 "$TMP/ref")" \
    || { nok "baselines (200 public images)"; sed 's/^/#   /' "$TMP/ref"; }
cp "$PUB/audit.tsv" "$TMP/b1.tsv"
check "audit again, mpirun -np 2" $MPI -np 2 "$FESF" audit -q $B1
check "  audit.tsv byte-identical to -np 3 (trained attacker)" cmp "$TMP/b1.tsv" "$PUB/audit.tsv"
check "audit again, one process" "$FESF" audit -q $B1
check "  audit.tsv byte-identical to mpirun -np 3" cmp "$TMP/b1.tsv" "$PUB/audit.tsv"
cp "$TMP/b1.tsv" "$PUB/audit.tsv"

check "beta = 0 (no IQEM): hide (mpirun -np 3)" $MPI -np 3 "$FESF" hide -q $B0
check "beta = 0: audit, same attacker training" $MPI -np 3 "$FESF" audit -q $B0
$PY - "$TMP/b0/audit.tsv" "$TMP/b1.tsv" >"$TMP/priv" 2>&1 <<'PYEOF'
import sys
def rows(p):
    lines = open(p).read().splitlines()
    head = lines[1].split("\t")
    return {(r[0], r[1]): dict(zip(head[2:], map(float, r[2:]))) for r in (l.split("\t") for l in lines[2:])}
b0, b1 = rows(sys.argv[1])[("synthetic", "all")], rows(sys.argv[2])[("synthetic", "all")]
print(f"beta 0: advantage {b0['advantage_db']:+.3f} dB, {b0['advantage_ssim']:+.4f} SSIM (attack {b0['psnr_attack']:.2f} dB / "
      f"{b0['ssim_attack']:.3f}, prior {b0['psnr_prior']:.2f} / {b0['ssim_prior']:.3f}, released {b0['psnr_released']:.2f} / "
      f"{b0['ssim_released']:.3f}, host {b0['psnr_host']:.2f} / {b0['ssim_host']:.3f}); "
      f"beta 1: advantage {b1['advantage_db']:+.3f} dB, {b1['advantage_ssim']:+.4f} SSIM")
for k, v in (("released_is_host", abs(b0["psnr_released"] - b0["psnr_host"]) <= 1e-4 and abs(b0["ssim_released"] - b0["ssim_host"]) <= 1e-4),
             ("no_gain_db", b0["advantage_db"] < 0.5), ("no_gain_ssim", b0["advantage_ssim"] < 0.02),
             ("trained", b0["advantage_db"] > -1.5), ("leak_seen", b1["advantage_db"] > b0["advantage_db"] + 1.0)):
    print(f"{k}={int(bool(v))}")
PYEOF
sed 's/^/# /' "$TMP/priv" | head -1
grep -q '^released_is_host=1' "$TMP/priv" && ok "beta = 0: the released image scores as the host (it is the host)" || nok "beta = 0: released != host"
grep -q '^no_gain_db=1' "$TMP/priv" && ok "beta = 0: the attack does not beat the prior in PSNR (advantage < 0.5 dB)" || nok "beta = 0: attack beats the prior by >= 0.5 dB"
grep -q '^no_gain_ssim=1' "$TMP/priv" && ok "beta = 0: nor in SSIM (advantage < 0.02)" || nok "beta = 0: attack beats the prior by >= 0.02 SSIM"
grep -q '^trained=1' "$TMP/priv" && ok "beta = 0: the attacker is trained (within 1.5 dB of the prior; untrained is 4 to 9 dB below)" || nok "beta = 0: attacker far below the prior: the no-gain checks are vacuous"
grep -q '^leak_seen=1' "$TMP/priv" && ok "the same attacker gains > 1 dB more at beta = 1: it uses the information when it is there" || nok "beta = 1 advantage not > beta = 0 advantage + 1 dB"
awk -F'\t' '$1 == "synthetic" && $2 == "all" { d = $14 - $16; exit !(d < 1e-6 && d > -1e-6 && $18 == 0.5) }' "$TMP/b0/audit.tsv" \
    && ok "beta = 0: every release is the host, so the linkage scores chance (top-1 = 1 / gallery, membership AUC 0.5)" \
    || nok "beta = 0: linkage above chance: $(awk -F'\t' '$2 == "all" { print $14, $16, $18 }' "$TMP/b0/audit.tsv")"

# ---- random host mode: no single host, so no host baseline ----
RND="--set run.out=$TMP/rnd --set data.size=28 --set data.count=200 --set data.sites=2 --set ihm.host_mode=random"
RND="$RND --set iqem.enabled=false --set audit.epochs=1 --set audit.width=4"
check "host_mode = random: prepare, hide, audit (one process)" sh -c "'$FESF' prepare -q $RND &&
    '$FESF' hide -q $RND && '$FESF' audit -q $RND"
$PY tests/py/audit_ref.py baselines "$TMP/rnd" >"$TMP/ref" 2>&1 \
    && ok "  prior and released baselines = NumPy recomputation: $(tail -1 "$TMP/ref")" \
    || { nok "random hosts: baselines differ"; sed 's/^/#   /' "$TMP/ref"; }
$PY tests/py/linkage_ref.py "$TMP/rnd" >"$TMP/lk" 2>&1 \
    && ok "  linkage with a host per image (each release's own host) = NumPy: $(tail -1 "$TMP/lk")" \
    || { nok "random hosts: linkage differs from NumPy"; sed 's/^/#   /' "$TMP/lk"; }
host=$(awk -F'\t' '$1 == "synthetic" && $2 == "all" { print $8 " " $9 }' "$TMP/rnd/audit.tsv")
case "$host" in
    *[1-9]*|*0.0*|"") nok "random hosts: the host columns claim a score ('$host'), want no value (nan or -)" ;;
    *) ok "  the host columns hold no score: '$host'" ;;
esac

# ---- failures: one line naming the missing thing, non-zero exit (one process) ----
mkdir -p "$TMP/empty"
expect_fail "audit without shards" "no site-001.h5 in '.*empty'" "$FESF" audit -q --set run.out="$TMP/empty"
check "prepare only (no hide)" "$FESF" prepare -q --set data.size=28 --set data.count=100 --set data.sites=2 --set run.out="$TMP/nohide"
expect_fail "audit before hide" "site 1: .*site-001.h5' has no /synthetic images \(run 'fesf hide' first\)" \
    "$FESF" audit -q --set run.out="$TMP/nohide" --set iqem.enabled=false --set audit.epochs=1 --set audit.width=2
expect_fail "audit of the surrogates of shards without them, checked before training" \
    "site 1: .* has no /synthetic images" "$FESF" audit -q --set run.out="$TMP/nohide" --set audit.epochs=1 --set audit.width=2
check "hide only (no enhance)" "$FESF" hide -q --set data.size=28 --set data.count=100 --set data.sites=2 --set run.out="$TMP/nohide"
expect_fail "audit before enhance" "site 1: .* has no /surrogate images \(run 'fesf enhance' first\)" \
    "$FESF" audit -q --set run.out="$TMP/nohide" --set audit.synthetic=false --set audit.epochs=1 --set audit.width=2
check "enhance, then lose iqem.h5" sh -c "'$FESF' enhance -q --set data.size=28 --set data.count=100 --set data.sites=2 --set iqem.epochs=1 --set run.out='$TMP/nohide' && rm '$TMP/nohide/iqem.h5'"
expect_fail "audit of the surrogates without G" "surrogate audit needs G: .*iqem.h5" \
    "$FESF" audit -q --set run.out="$TMP/nohide" --set audit.synthetic=false --set audit.epochs=1 --set audit.width=2
rm "$TMP/nohide/hosts.h5"
expect_fail "audit without hosts.h5" "cannot open '.*hosts.h5'" "$FESF" audit -q --set run.out="$TMP/nohide" --set iqem.enabled=false
echo "1..$_n"
