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
# data.hosts: a separate public host set (no labels), so nothing of the source is carved for hosts
$PY - "$FX" <<'PYEOF' && ok "host-set fixtures: hosts.npz (5 train, 2 test images, no labels), hostpng/" || nok "host-set fixtures"
import os, sys
import numpy as np
sys.path.insert(0, "tests/py")
from make_fixtures import png_bytes
fx = sys.argv[1]
h = np.random.default_rng(7).integers(0, 256, (5, 28, 28), dtype=np.uint8)
np.savez_compressed(f"{fx}/hosts.npz", train_images=h, test_images=h[:2])  # the test split is not a host
os.makedirs(f"{fx}/hostpng/sub.png")  # a folder named like a PNG is no image
for name, i in (("b.png", 0), ("a.png", 1), ("c10.png", 2), ("c9.png", 3)):
    open(f"{fx}/hostpng/{name}", "wb").write(png_bytes(h[i]))
open(f"{fx}/hostpng/notes.txt", "w").write("not an image\n")
PYEOF
# hosts_check RUN ORDER: hosts.h5 holds exactly the images of hosts.npz's train_images in ORDER
# (indices), as float32 u8/255 with no labels, and the shards hold every image of good.npz
hosts_check() {
    $PY - "$1" "$FX" "$2" <<'PYEOF'
import glob, sys
import h5py, numpy as np
run, fx, order = sys.argv[1], sys.argv[2], [int(i) for i in sys.argv[3].split(",")]
h = np.load(f"{fx}/hosts.npz")["train_images"]
f = h5py.File(f"{run}/hosts.h5")
assert f.attrs["format"] == b"fesf-hosts" or f.attrs["format"] == "fesf-hosts", f.attrs["format"]
got, want = f["images"][()], (h[order].astype(np.float32) / np.float32(255))[:, None]
assert got.dtype == np.float32 and got.shape == want.shape and got.tobytes() == want.tobytes(), (got.shape, want.shape)
assert "labels" not in f and f.attrs["count"] == len(order), list(f)
z = np.load(f"{fx}/good.npz")
src = sorted((im.tobytes(), int(l)) for s in ("train", "test") for im, l in zip(z[f"{s}_images"], z[f"{s}_labels"][:, 0]))
shards = []
for p in glob.glob(f"{run}/site-*.h5"):
    g = h5py.File(p)["plain"]
    shards += [(im[0].tobytes(), int(l)) for s in ("train", "val", "test")
               for im, l in zip(g[f"{s}/images"][()], g[f"{s}/labels"][()])]
assert sorted(shards) == src, (len(shards), len(src))
PYEOF
}
G="--set data.source=npz:$FX/good.npz --set data.sites=2"
"$FESF" prepare $G --set data.hosts="npz:$FX/hosts.npz" --set run.out="$TMP/hnpz" >"$TMP/hlog" 2>&1 \
    && ok "data.hosts = npz:PATH" || { nok "data.hosts = npz:PATH"; sed 's/^/#   /' "$TMP/hlog" | tail -5; }
grep -q "host pool: 5 images of data.hosts .*no image of data.source is a host (data.public does not apply)" "$TMP/hlog" \
    && ok "the log says the pool is data.hosts and data.public does not apply" || nok "data.hosts log line"
grep -q "public = 0$" "$TMP/hlog" && ok "the effective config shows data.public = 0" || nok "effective data.public"
hosts_check "$TMP/hnpz" 0,1,2,3,4 && ok "npz hosts: hosts.h5 = its train_images exactly, no labels; shards hold all 40 source images" \
    || nok "npz hosts content"
check "data.hosts = png:DIR" "$FESF" prepare -q $G --set data.hosts="png:$FX/hostpng" --set run.out="$TMP/hpng"
hosts_check "$TMP/hpng" 1,0,2,3 && ok "png hosts: hosts.h5 = the *.png files sorted by name (a b c10 c9); shards hold all 40" \
    || nok "png hosts content"
expect_fail "data.hosts of another shape" "data.hosts 'npz:.*rgb\.npz' has images of 3 x 16 x 16 .*data\.source 'npz:.*good\.npz' has 1 x 28 x 28" \
    "$FESF" prepare -q $G --set data.hosts="npz:$FX/rgb.npz" --set run.out="$TMP/hbad"
[ -e "$TMP/hbad" ] && nok "a refused data.hosts left '$TMP/hbad'" || ok "a refused data.hosts writes nothing"
expect_fail "data.hosts with data.public = val" "data.public = val and data.hosts = .* exclude each other" \
    "$FESF" prepare -q $G --set data.public=val --set data.hosts="npz:$FX/hosts.npz" --set run.out="$TMP/hbad"
expect_fail "data.hosts of an unknown kind" "data.hosts = 'jpg:x': expected npz:PATH \| png:DIR" \
    "$FESF" prepare -q $G --set data.hosts=jpg:x --set run.out="$TMP/hbad"
expect_fail "data.hosts folder without PNGs" "data.hosts: '.*/sub.png': no .png files" \
    "$FESF" prepare -q $G --set data.hosts="png:$FX/hostpng/sub.png" --set run.out="$TMP/hbad"
# hide on a run with data.hosts: beta = 0 gives the host exactly, so /synthetic is hosts.h5's image 4
check "fesf hide after data.hosts (ihm.beta = 0, host_index 4)" "$FESF" hide -q $G --set data.hosts="npz:$FX/hosts.npz" \
    --set run.out="$TMP/hnpz" --set ihm.beta=0 --set ihm.host_index=4
$PY - "$TMP/hnpz" <<'PYEOF' && ok "hide used data.hosts' image 4 as the host" || nok "hide with data.hosts"
import glob, sys
import h5py, numpy as np
run = sys.argv[1]
host = h5py.File(f"{run}/hosts.h5")["images"][4]
for p in glob.glob(f"{run}/site-*.h5"):
    s = h5py.File(p)["synthetic/train/images"][()]
    assert len(s) and np.abs(s - host).max() < 1e-5, (p, np.abs(s - host).max())
PYEOF

# data.partition = natural: a dataset split by hospital keeps its split (train_sites/test_sites in an
# .npz, a site column in a CSV); made from PneumoniaMNIST when present, else from random arrays
$PY - "$PNEUMONIA" "$TMP/nat" "$FX" <<'PYEOF' && ok "natural-partition fixtures: nat.npz (3 sites), odd.npz, nosites.npz, png/sites.csv" \
    || nok "natural-partition fixtures"
import os, sys
import numpy as np
src, out, fx = sys.argv[1:4]
os.makedirs(out)
r = np.random.default_rng(18)
if os.path.exists(src):
    z = np.load(src)
    tr, trl, te, tel = z["train_images"][:150], z["train_labels"][:150], z["test_images"][:45], z["test_labels"][:45]
else:
    tr, te = r.integers(0, 256, (150, 28, 28), dtype=np.uint8), r.integers(0, 256, (45, 28, 28), dtype=np.uint8)
    trl, tel = r.integers(0, 2, (150, 1)), r.integers(0, 2, (45, 1))
trs = np.concatenate([np.full(n, s) for s, n in ((1, 80), (2, 50), (3, 20))])
r.shuffle(trs)
tes = r.integers(1, 4, 45).astype(np.uint8)
np.savez_compressed(f"{out}/nat.npz", train_images=tr, train_labels=trl, train_sites=trs, test_images=te,
                    test_labels=tel, test_sites=tes)
np.savez_compressed(f"{out}/odd.npz", train_images=tr, train_labels=trl, train_sites=np.where(trs == 3, 5, trs))
np.savez_compressed(f"{out}/nosites.npz", train_images=tr, train_labels=trl, train_sites=trs, test_images=te,
                    test_labels=tel)
lab = np.load(f"{fx}/good.npz")["train_labels"][:8, 0]  # the labels of png/img0..7.png
rows = ["file,label,site,split"] + [f"img{i}.png,{lab[i]},{1 + i % 2},{'test' if i >= 6 else 'train'}" for i in range(8)]
open(f"{fx}/png/sites.csv", "w").write("\n".join(rows) + "\n")
PYEOF
N="--set data.partition=natural --set data.sites=3"
"$FESF" prepare $N --set data.source="npz:$TMP/nat/nat.npz" --set run.out="$TMP/nat/a" >"$TMP/nlog" 2>&1 \
    && ok "natural partition of an npz with train_sites/test_sites" || { nok "natural npz"; sed 's/^/#   /' "$TMP/nlog" | tail -5; }
grep -q "partition (natural, train images per class)" "$TMP/nlog" && h5dump -a /partition_scheme "$TMP/nat/a/site-002.h5" |
    grep -q '"natural"' && ok "the partition table and the shards' partition_scheme say natural" || nok "natural not recorded"
check "natural partition again" "$FESF" prepare -q $N --set data.source="npz:$TMP/nat/nat.npz" --set run.out="$TMP/nat/b"
check "natural partition of a CSV with a site column" "$FESF" prepare -q --set data.partition=natural --set data.sites=2 \
    --set data.public=0.2 --set data.source="png:$FX/png:$FX/png/sites.csv" --set run.out="$TMP/nat/png"
# nat_check RUN SOURCE: every image of SOURCE is in exactly one place: the site its array names
# (train, val carved from train, test) or the host pool (train only), with its label
nat_check() {
    $PY - "$@" <<'PYEOF'
import glob, sys
from collections import Counter
import h5py, numpy as np
run, kind = sys.argv[1], sys.argv[2]
if kind == "npz":
    z = np.load(sys.argv[3])
    src = {s: (z[f"{s}_images"], z[f"{s}_labels"].reshape(-1), z[f"{s}_sites"]) for s in ("train", "test")}
else:  # png: the fixture's images and CSV
    z, rows = np.load(sys.argv[3]), [l.split(",") for l in open(sys.argv[4]).read().split()[1:]]
    idx = {s: [int(r[0][3:-4]) for r in rows if r[3] == s] for s in ("train", "test")}
    im, lab = z["train_images"][:8], z["train_labels"][:8, 0]
    src = {s: (im[i], lab[i], np.array([int(r[2]) for r in rows if r[3] == s])) for s, i in idx.items()}
home = {s: {} for s in src}
for s, (im, lab, site) in src.items():
    for x, l, k in zip(im, lab, site):
        home[s].setdefault(x.tobytes(), set()).add((int(l), int(k)))
seen = Counter()
for p in sorted(glob.glob(run + "/site-*.h5")):
    f = h5py.File(p)
    k = int(f.attrs["site_id"])
    for s in ("train", "val", "test"):
        g = f[f"plain/{s}"]
        for x, l in zip(g["images"][()], g["labels"][()]):
            b = x[0].tobytes()
            origin = "test" if s == "test" and b in home["test"] else "train"
            assert (int(l), k) in home[origin].get(b, ()), (p, s, "image not at its site")
            seen[origin, b] += 1
h = h5py.File(run + "/hosts.h5")
for x in h["images"][()]:
    b = np.rint(x[0] * 255).astype(np.uint8).tobytes()
    assert b in home["train"], "a host that is not a train image"
    seen["train", b] += 1
want = Counter((s, x.tobytes()) for s, (im, _, _) in src.items() for x in im)
assert seen == want, "not every image dealt exactly once"
print(f"{sum(want.values())} images, {len(h['images'])} hosts")
PYEOF
}
nat_check "$TMP/nat/a" npz "$TMP/nat/nat.npz" >"$TMP/nout" 2>&1 \
    && ok "natural npz: every image at the site its train_sites/test_sites names, or a host ($(cat "$TMP/nout"))" \
    || { nok "natural npz content"; sed 's/^/#   /' "$TMP/nout" | tail -5; }
nat_check "$TMP/nat/png" png "$FX/good.npz" "$FX/png/sites.csv" >"$TMP/nout" 2>&1 \
    && ok "natural PNG: every image at the site its CSV row names, or a host ($(cat "$TMP/nout"))" \
    || { nok "natural PNG content"; sed 's/^/#   /' "$TMP/nout" | tail -5; }
"$FESF" prepare -q --set data.sites=3 --set data.source="npz:$TMP/nat/nat.npz" --set run.out="$TMP/nat/iid" &&
    ! nat_check "$TMP/nat/iid" npz "$TMP/nat/nat.npz" >/dev/null 2>&1 \
    && ok "the check has teeth: an iid partition of the same npz fails it" || nok "the natural check passes an iid partition"
$PY - "$TMP/nat/a" "$TMP/nat/b" <<'PYEOF' && ok "natural partition twice: byte-identical shards" || nok "natural determinism"
import sys, glob, os, h5py
a, b = sys.argv[1:3]
for p in sorted(glob.glob(a + "/*.h5")):
    fa, fb = h5py.File(p), h5py.File(os.path.join(b, os.path.basename(p)))
    for s in ("train", "val", "test"):
        for d in ("images", "labels"):
            n = f"plain/{s}/{d}" if "site" in p else d
            if n in fa:
                assert fa[n][()].tobytes() == fb[n][()].tobytes(), (p, n)
PYEOF
expect_fail "natural with data.sites = 4 for 3 sites" "names 3 distinct sites but data.sites = 4; set data.sites = 3" \
    "$FESF" prepare -q --set data.partition=natural --set data.sites=4 --set data.source="npz:$TMP/nat/nat.npz" \
    --set run.out="$TMP/nat/bad"
expect_fail "natural with a site id outside 1..data.sites" "train image [0-9]+ of 'npz:.*odd\.npz' has site 5, outside 1\.\.3" \
    "$FESF" prepare -q $N --set data.source="npz:$TMP/nat/odd.npz" --set run.out="$TMP/nat/bad"
expect_fail "natural without test_sites.npy" "natural: '.*nosites\.npz': no 'test_sites\.npy' member" \
    "$FESF" prepare -q $N --set data.source="npz:$TMP/nat/nosites.npz" --set run.out="$TMP/nat/bad"
expect_fail "natural without site information (npz)" "data.partition = natural needs a site column / train_sites.npy in 'npz:.*good\.npz'" \
    "$FESF" prepare -q $N --set data.source="npz:$FX/good.npz" --set run.out="$TMP/nat/bad"
expect_fail "natural without a site column (CSV)" "needs a site column / train_sites.npy in 'png:.*split\.csv'" \
    "$FESF" prepare -q $N --set data.source="png:$FX/png:$FX/png/split.csv" --set run.out="$TMP/nat/bad"
expect_fail "natural on the phantom" "needs a site column / train_sites.npy in 'phantom" \
    "$FESF" prepare -q $N --set run.out="$TMP/nat/bad"
[ -e "$TMP/nat/bad" ] && nok "a refused natural partition left '$TMP/nat/bad'" || ok "a refused natural partition writes nothing"

# Deployment mode: a site ingests its own data; its public hosts must come from data.hosts
expect_fail "prepare --site without data.hosts" "prepare --site 3 needs data.hosts" \
    "$FESF" prepare -q --site 3 --set data.source="png:$FX/png:$FX/png/labels.csv" --set run.out="$TMP/deploy"
[ -e "$TMP/deploy" ] && nok "a refused --site left '$TMP/deploy'" || ok "a refused --site writes nothing"
check "deployment mode: site 3 ingests its own folder" "$FESF" prepare -q --site 3 \
    --set data.source="png:$FX/png:$FX/png/labels.csv" --set data.hosts="npz:$FX/hosts.npz" --set run.out="$TMP/deploy"
[ "$(ls "$TMP/deploy" | tr '\n' ' ')" = "hosts.h5 site-003.h5 " ] && ok "deployment mode writes only site-003.h5 and hosts.h5" \
    || nok "deploy: $(ls "$TMP/deploy")"
h5dump -a /site_id "$TMP/deploy/site-003.h5" | grep -q '(0): 3' && ok "deployment shard has site_id 3" || nok "site_id"
check "deployment mode: site 2 ingests its own npz" "$FESF" prepare -q --site 2 $G --set data.hosts="npz:$FX/hosts.npz" \
    --set run.out="$TMP/deploy2"
[ "$(ls "$TMP/deploy2" | tr '\n' ' ')" = "hosts.h5 site-002.h5 " ] && ok "deployment mode writes only site-002.h5 and hosts.h5" \
    || nok "deploy2: $(ls "$TMP/deploy2")"
$PY - "$TMP/deploy2/site-002.h5" <<'PYEOF' && ok "site 2's shard holds all 40 images of its source" || nok "site 2 shard count"
import sys, h5py
g = h5py.File(sys.argv[1])["plain"]
assert sum(len(g[f"{s}/labels"]) for s in ("train", "val", "test")) == 40
PYEOF
same_ds "$TMP/deploy/hosts.h5" "$TMP/deploy2/hosts.h5" /images && same_ds "$TMP/deploy/hosts.h5" "$TMP/hnpz/hosts.h5" /images \
    && ok "every site's hosts.h5 (and the simulation's) holds the identical /images" || nok "hosts.h5 differs between sites"

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
    # one labelled pool: PneumoniaMNIST's test split alone, as test_* and as images/labels
    $PY - "$PNEUMONIA" "$TMP/pool_test.npz" "$TMP/pool_bare.npz" <<'PYEOF' || nok "write pool npz files"
import sys, numpy as np
z = np.load(sys.argv[1])
np.savez_compressed(sys.argv[2], test_images=z["test_images"], test_labels=z["test_labels"])
np.savez_compressed(sys.argv[3], images=z["test_images"], labels=z["test_labels"])
PYEOF
    check "a pool .npz (test_* only): prepare carves test and val per site" sh -c \
        "'$FESF' prepare --set data.source=npz:$TMP/pool_test.npz --set run.out=$TMP/pool1 2>&1 | grep 'one labelled pool' >/dev/null"
    check "a pool .npz (images.npy + labels.npy)" "$FESF" prepare -q --set data.source="npz:$TMP/pool_bare.npz" \
        --set run.out="$TMP/pool2"
    $PY - "$TMP/pool1" "$TMP/pool2" "$TMP/pool_test.npz" <<'PYEOF' >"$TMP/pool.out" 2>&1 \
        && ok "pool: every image in exactly one site split or the hosts, both layouts alike, $(cat "$TMP/pool.out")" \
        || { nok "pool split"; sed 's/^/#   /' "$TMP/pool.out"; }
import sys, glob, os, h5py, numpy as np
from collections import Counter
r1, r2, src = sys.argv[1:4]
z = np.load(src)
want = Counter(im.tobytes() for im in z["test_images"])
got, frac = Counter(), []
for f in sorted(glob.glob(os.path.join(r1, "site-*.h5"))):
    g = h5py.File(f)["plain"]
    n = {s: len(g[f"{s}/labels"]) for s in ("train", "val", "test")}
    assert min(n.values()) > 0, (f, n)
    frac.append(n["test"] / sum(n.values()))
    for s in n:
        got.update(im.tobytes() for im in g[f"{s}/images"][:])
        f2 = h5py.File(f.replace(r1, r2))["plain"]
        assert np.array_equal(g[f"{s}/images"][:], f2[f"{s}/images"][:]), (f, s)
hosts = h5py.File(os.path.join(r1, "hosts.h5"))["images"][:]  # float32 in [0,1]
got.update(np.rint(im * 255).astype(np.uint8).tobytes() for im in hosts)
assert got == want, "the pool's images are not dealt exactly once"
assert all(0.15 < x < 0.25 for x in frac), frac
print("test fractions " + " ".join(f"{x:.3f}" for x in frac))
PYEOF
else
    skip "PneumoniaMNIST shards" "$PNEUMONIA is absent"
    skip "PneumoniaMNIST cross-check" "$PNEUMONIA is absent"
fi
echo "1..$_n"
