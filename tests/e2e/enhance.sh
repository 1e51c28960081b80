# fesf enhance end to end: surrogates written with quality measures, training on
# surrogates, and the privacy invariant with a trained generator.
. tests/lib.sh
RUN=$TMP/run
check "prepare 4 phantom sites (28 px)" "$FESF" prepare -q --set data.size=28 --set data.count=400 --set run.out="$RUN"
expect_fail "enhance before hide" "has no /synthetic images \(run 'fesf hide' first\)" "$FESF" enhance -q --set run.out="$RUN"
check "hide" "$FESF" hide -q --set run.out="$RUN"
check "enhance, mpirun -np 5 (federated GAN)" mpirun --oversubscribe -np 5 "$FESF" enhance -q --set run.out="$RUN" --set iqem.epochs=2
$PY - "$RUN" >"$TMP/q" 2>&1 <<'PYEOF' && ok "surrogates: every split, plaintext labels, finite, quality attributes: $(cat "$TMP/q")" || { nok "surrogates"; sed 's/^/#   /' "$TMP/q"; }
import sys, glob, h5py, numpy as np
run = sys.argv[1]
for p in sorted(glob.glob(run + "/site-*.h5")):
    f = h5py.File(p)
    for s in ("train", "val", "test"):
        x, y = f[f"surrogate/{s}/images"][()], f[f"surrogate/{s}/labels"][()]
        assert x.shape == f[f"plain/{s}/images"].shape and x.dtype == np.float32 and np.isfinite(x).all()
        assert (y == f[f"plain/{s}/labels"][()]).all()
    a = f["surrogate"].attrs
    for k in ("alpha2", "beta2", "psnr_synthetic_plain", "ssim_surrogate_plain", "ssim_surrogate_host", "outside01_surrogate"):
        assert k in a, k
g = h5py.File(run + "/iqem.h5")
assert g.attrs["format"] == "fesf-model" and g.attrs["arch"].startswith("iqem-g")
assert g.attrs["frechet_synthetic_hosts"] >= 0 and g.attrs["frechet_surrogate_hosts"] >= 0
assert g.attrs["arch_d"].startswith("iqem-d") and "D/params/c1/weight" in g and "params/enc1.conv/weight" in g
a = h5py.File(run + "/site-001.h5")["surrogate"].attrs
print(f"site 1 SSIM vs plaintext: synthetic {a['ssim_synthetic_plain']:.3f}, surrogate {a['ssim_surrogate_plain']:.3f}")
PYEOF
check "a figure per site: host | plaintext | synthetic | surrogate" sh -c "head -c 8 '$RUN/site-004/figures/iqem.png' | od -c | grep -q 'P   N   G'"
check "train on surrogates" "$FESF" train -q --set run.out="$RUN" --set train.rounds=4 --set train.eval_every=2

cp -r "$RUN" "$TMP/loc"
check "iqem.mode = local: one G per site (mpirun -np 3, two sites per rank)" mpirun --oversubscribe -np 3 "$FESF" enhance -q \
    --set run.out="$TMP/loc" --set iqem.epochs=1 --set iqem.mode=local
[ -f "$TMP/loc/iqem-site-001.h5" ] && [ -f "$TMP/loc/iqem-site-004.h5" ] && ok "  each site saved its own G" || nok "per-site G files"

# federated training with one site equals local training
check "prepare 1 site" "$FESF" prepare -q --set data.size=28 --set data.count=200 --set data.sites=1 --set run.out="$TMP/one"
check "hide it" "$FESF" hide -q --set run.out="$TMP/one"
check "enhance federated, coordinator + 1 site" mpirun --oversubscribe -np 2 "$FESF" enhance -q --set run.out="$TMP/one" --set iqem.epochs=2
cp "$TMP/one/site-001.h5" "$TMP/fed.h5"
check "enhance local, one process" "$FESF" enhance -q --set run.out="$TMP/one" --set iqem.epochs=2 --set iqem.mode=local
$PY - "$TMP/fed.h5" "$TMP/one/site-001.h5" <<'PYEOF' && ok "federated GAN training with one site = local training (bit-identical surrogates)" || nok "federated vs local differ"
import sys, h5py
a, b = (h5py.File(p) for p in sys.argv[1:3])
for s in ("train", "val", "test"):
    assert a[f"surrogate/{s}/images"][()].tobytes() == b[f"surrogate/{s}/images"][()].tobytes(), s
PYEOF

# Privacy invariant with a trained G: the plaintext rotated by 180 degrees (same amplitude,
# conjugate phase) gives the same surrogate.
cp -r "$RUN" "$TMP/rot"
$PY - "$TMP/rot" <<'PYEOF'
import sys, glob, h5py, numpy as np
for p in glob.glob(sys.argv[1] + "/site-*.h5"):
    with h5py.File(p, "r+") as f:
        for s in ("train", "val", "test"):
            d = f[f"plain/{s}/images"]
            x = d[()]
            d[...] = np.roll(x[:, :, ::-1, ::-1], 1, axis=(2, 3))  # x(-u, -v): |F| unchanged
PYEOF
check "hide the rotated plaintext" "$FESF" hide -q --set run.out="$TMP/rot"
check "enhance it with the trained G (--load)" mpirun --oversubscribe -np 5 "$FESF" enhance -q --set run.out="$TMP/rot" --load "$RUN/iqem.h5"
$PY - "$RUN" "$TMP/rot" >"$TMP/inv" 2>&1 <<'PYEOF' && ok "same amplitude, other phase: surrogates unchanged with a trained G: $(cat "$TMP/inv")" || { nok "privacy invariant"; sed 's/^/#   /' "$TMP/inv"; }
import sys, glob, os, h5py, numpy as np
a, b = sys.argv[1:3]
worst, worst_x = 0.0, 0.0
for p in sorted(glob.glob(a + "/site-*.h5")):
    fa, fb = h5py.File(p), h5py.File(os.path.join(b, os.path.basename(p)))
    for s in ("train", "val", "test"):
        worst = max(worst, float(np.abs(fa[f"surrogate/{s}/images"][()] - fb[f"surrogate/{s}/images"][()]).max()))
        worst_x = max(worst_x, float(np.abs(fa[f"plain/{s}/images"][()].astype(float) - fb[f"plain/{s}/images"][()]).max()))
print(f"max abs surrogate difference {worst:.2e} (the plaintexts differ by up to {worst_x:.0f} grey levels)")
assert worst <= 1e-5 and worst_x > 50
PYEOF
echo "1..$_n"
