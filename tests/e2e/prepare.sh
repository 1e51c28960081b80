# fesf prepare end to end: phantom, npz (grey, RGB, real PneumoniaMNIST), PNG folder,
# partitions, determinism, HDF5 tools, deployment mode and mpirun.
. tests/lib.sh
FX=$TMP/fx
$PY tests/py/make_fixtures.py "$FX" || { nok "make fixtures"; exit 1; }
SMALL="--set data.size=32 --set data.count=400"
# same_ds A B OBJ: h5diff finds the dataset OBJ equal in both files (h5diff exits 0 but
# prints "not comparable" when shapes differ, so its output must be empty too)
same_ds() { _o=$(h5diff "$1" "$2" "$3" 2>&1) && [ -z "$_o" ]; }

check "phantom, 4 sites" "$FESF" prepare -q $SMALL --set run.out="$TMP/a"
n=$(ls "$TMP/a" | grep -c '^site-00[1-4]\.h5$')
[ "$n" -eq 4 ] && [ -f "$TMP/a/hosts.h5" ] && ok "hosts.h5 and site-001..004.h5 written" || nok "files: $(ls "$TMP/a")"
ls "$TMP/a" | grep -q '\.tmp$' && nok "temporary files left" || ok "no temporary files left"
for f in "$TMP"/a/*.h5; do
    check "h5ls -r $(basename "$f")" h5ls -r "$f"
    check "h5dump -A $(basename "$f")" h5dump -A "$f"
done
h5dump -A "$TMP/a/site-002.h5" >"$TMP/attrs"
for a in format version fesf_version created config site_id n_sites class_names partition; do
    grep -q "ATTRIBUTE \"$a\"" "$TMP/attrs" || missing="$missing $a"
done
[ -z "$missing" ] && ok "shard root attributes present" || nok "missing attributes:$missing"
check "fesf inspect of a shard" sh -c "'$FESF' inspect '$TMP/a/site-001.h5' | grep -q 'plain/train/labels  int32'"
check "fesf inspect --png of the host pool" "$FESF" inspect "$TMP/a/hosts.h5" --png "$TMP/hosts.png" --count 9
check "the grid PNG is a PNG" sh -c "head -c 8 '$TMP/hosts.png' | od -c | grep -q 'P   N   G'"

check "same seed again" "$FESF" prepare -q $SMALL --set run.out="$TMP/b"
same=1
for f in site-001 site-002 site-003 site-004; do
    for s in train val test; do
        same_ds "$TMP/a/$f.h5" "$TMP/b/$f.h5" /plain/$s/images &&
            same_ds "$TMP/a/$f.h5" "$TMP/b/$f.h5" /plain/$s/labels || same=0
    done
done
same_ds "$TMP/a/hosts.h5" "$TMP/b/hosts.h5" /images || same=0
[ $same -eq 1 ] && ok "same seed twice: identical image and label datasets (h5diff)" || nok "same seed differs"
$PY - "$TMP/a" "$TMP/b" <<'PYEOF' && ok "same seed twice: byte-identical datasets (h5py)" || nok "byte-identical (h5py)"
import sys, glob, os, h5py, numpy as np
a, b = sys.argv[1:3]
for p in sorted(glob.glob(a + "/*.h5")):
    fa, fb = h5py.File(p), h5py.File(os.path.join(b, os.path.basename(p)))
    names = []
    fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    for n in names:
        x, y = fa[n][()], fb[n][()]
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), n
PYEOF
check "another seed" "$FESF" prepare -q $SMALL --set data.seed=1 --set run.out="$TMP/c"
same_ds "$TMP/a/site-001.h5" "$TMP/c/site-001.h5" /plain/train/images \
    && nok "another seed gives the same partition" || ok "another seed gives another partition"

check "partition dirichlet" "$FESF" prepare -q $SMALL --set data.partition=dirichlet --set data.dirichlet=0.3 \
    --set run.out="$TMP/dirichlet"
check "partition quantity" "$FESF" prepare -q $SMALL --set data.partition=quantity --set data.dirichlet=1 \
    --set run.out="$TMP/quantity"
$PY - "$TMP" <<'PYEOF' && ok "partitions: iid balanced, dirichlet skews labels, quantity skews sizes" || nok "partition shapes"
import sys, h5py, numpy as np
t = sys.argv[1]
def table(run):
    return np.array([h5py.File(f"{run}/site-{s:03d}.h5")["plain/train"].attrs["class_counts"] for s in range(1, 5)])
iid, dr, qu = table(t + "/a"), table(t + "/dirichlet"), table(t + "/quantity")
frac = lambda m: m[:, 1] / m.sum(1)
assert np.ptp(iid.sum(1)) <= 4 and np.ptp(frac(iid)) < 0.1, iid
assert np.ptp(frac(dr)) > 0.3, dr
big = qu.sum(1) >= 30
assert qu.sum(1).max() > 2 * qu.sum(1).min() and np.ptp(frac(qu[big])) < 0.2, qu
PYEOF

check "RGB npz, 3 classes, 2 sites" "$FESF" prepare -q --set data.source="npz:$FX/rgb.npz" --set data.sites=2 \
    --set data.public=0.2 --set run.out="$TMP/rgb"
check "RGB shards match NumPy bit for bit" $PY tests/py/check_shards.py --run "$TMP/rgb" --npz "$FX/rgb.npz"
check "PNG folder with a split column" "$FESF" prepare -q --set data.source="png:$FX/png:$FX/png/split.csv" \
    --set data.sites=2 --set data.public=0.2 --set run.out="$TMP/png"
$PY - "$TMP/png" "$FX" <<'PYEOF' && ok "PNG shards hold the PNG pixels and CSV labels" || nok "PNG shard content"
import sys, h5py, numpy as np, glob
run, fx = sys.argv[1:3]
z = np.load(fx + "/good.npz")
want = sorted((z["train_images"][i].tobytes(), int(z["train_labels"][i, 0])) for i in range(8))
got = []
for p in glob.glob(run + "/site-*.h5"):
    f = h5py.File(p)
    for s in ("train", "val", "test"):
        got += [(im[0].tobytes(), int(l)) for im, l in zip(f[f"plain/{s}/images"][()], f[f"plain/{s}/labels"][()])]
    assert f["plain/test"].attrs["count"] >= 1
h = h5py.File(run + "/hosts.h5")
got += [(np.rint(im[0] * 255).astype(np.uint8).tobytes(), int(l)) for im, l in zip(h["images"][()], h["labels"][()])]
assert sorted(got) == want
PYEOF
check "deployment mode: one site ingests its own folder" "$FESF" prepare -q --site 3 \
    --set data.source="png:$FX/png:$FX/png/labels.csv" --set run.out="$TMP/deploy"
[ "$(ls "$TMP/deploy")" = "site-003.h5" ] && ok "deployment mode writes only site-003.h5" || nok "deploy: $(ls "$TMP/deploy")"
h5dump -a /site_id "$TMP/deploy/site-003.h5" | grep -q '(0): 3' && ok "deployment shard has site_id 3" || nok "site_id"

check "mpirun -np 3 prepare" mpirun --oversubscribe -np 3 "$FESF" prepare -q $SMALL --set run.out="$TMP/mpi"
same_ds "$TMP/a/site-004.h5" "$TMP/mpi/site-004.h5" /plain/train/images \
    && ok "mpirun output equals the single-process output" || nok "mpirun output differs"

# The phantom's label is not given away by a global statistic (datasets/README.md).
"$TOOLS/phantom_dump" 2000 28 3 "$TMP/ph.raw" && $PY tests/py/phantom_stats.py --raw "$TMP/ph.raw" 2000 28 >"$TMP/st" 2>&1 \
    && ok "phantom: no global statistic gives the label: $(tr '\n' ' ' <"$TMP/st" | cut -c1-200)" \
    || { nok "phantom statistics"; sed 's/^/#   /' "$TMP/st"; }

if [ -f "$PNEUMONIA" ]; then
    check "PneumoniaMNIST, 4 IID sites" "$FESF" prepare -q --set data.source="npz:$PNEUMONIA" \
        --set data.classes=normal,pneumonia --set run.out="$TMP/pm"
    check "PneumoniaMNIST shards = NumPy's npz bit for bit, class counts = README" \
        $PY tests/py/check_shards.py --run "$TMP/pm" --npz "$PNEUMONIA" --readme "$DATA/README.md"
    check "PneumoniaMNIST, public = val" "$FESF" prepare -q --set data.source="npz:$PNEUMONIA" \
        --set data.public=val --set run.out="$TMP/pmv"
    check "public = val: shards + hosts = NumPy's npz, counts = README" \
        $PY tests/py/check_shards.py --run "$TMP/pmv" --npz "$PNEUMONIA" --readme "$DATA/README.md"
else
    skip "PneumoniaMNIST shards" "$PNEUMONIA is absent"
    skip "PneumoniaMNIST cross-check" "$PNEUMONIA is absent"
fi
echo "1..$_n"
