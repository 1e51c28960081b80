# fesf hide end to end: the kernel against NumPy, MPI vs single process,
# determinism, independence of the number of sites, random hosts, failures.
. tests/lib.sh
check "FFTW IHM = independent NumPy IHM (<= 1e-4) on random and real images" \
    $PY tests/py/ihm_crosscheck.py "$TOOLS/ihm_apply" "$PNEUMONIA"
sed 's/^/#   /' "$TMP/out"

if [ -f "$PNEUMONIA" ]; then
    SRC="--set data.source=npz:$PNEUMONIA"; what="PneumoniaMNIST"
else
    SRC="--set data.size=32 --set data.count=400"; what="phantom (PneumoniaMNIST absent)"
fi
check "prepare $what, 4 sites" "$FESF" prepare -q $SRC --set run.out="$TMP/one"
cp -r "$TMP/one" "$TMP/mpi"
check "hide, one process" "$FESF" hide -q --set run.out="$TMP/one"
start=$(date +%s)
check "hide, mpirun -np 5 (coordinator + 4 sites)" mpirun --oversubscribe -np 5 "$FESF" hide -q --set run.out="$TMP/mpi"
ok "  (mpirun hide took $(( $(date +%s) - start )) s)"
$PY tests/py/same_synthetic.py "$TMP/one" "$TMP/mpi" 1e-5 >"$TMP/cmp" 2>&1
[ $? -eq 0 ] && ok "mpirun -np 5 output = single process: $(cat "$TMP/cmp")" || { nok "mpirun vs single"; sed 's/^/#   /' "$TMP/cmp"; }

h5dump -A "$TMP/one/site-002.h5" >"$TMP/attrs"
grep -q 'ATTRIBUTE "alpha"' "$TMP/attrs" && grep -q 'ATTRIBUTE "host_index"' "$TMP/attrs" \
    && ok "shard carries alpha, beta, host_index" || nok "hide attributes"
check "h5ls -r lists /synthetic" sh -c "h5ls -r '$TMP/one/site-001.h5' | grep -q '^/synthetic/train/images'"
ls "$TMP/one" | grep -q '\.tmp$' && nok "temporary files left" || ok "no temporary files left"

cp -r "$TMP/one" "$TMP/again"
check "hide again, same config" "$FESF" hide -q --set run.out="$TMP/again"
$PY - "$TMP/one" "$TMP/again" <<'PYEOF' && ok "same config twice: bit-identical synthetic images" || nok "rerun differs"
import sys, glob, os, h5py
a, b = sys.argv[1:3]
for p in sorted(glob.glob(a + "/site-*.h5")):
    fa, fb = h5py.File(p), h5py.File(os.path.join(b, os.path.basename(p)))
    for s in ("train", "val", "test"):
        assert fa[f"synthetic/{s}/images"][()].tobytes() == fb[f"synthetic/{s}/images"][()].tobytes()
PYEOF
check "hide again with alpha 0.5 replaces /synthetic" "$FESF" hide -q --set run.out="$TMP/again" --set ihm.alpha=0.5
h5dump -a /synthetic/alpha "$TMP/again/site-001.h5" | grep -q '0.5' && ok "  alpha attribute updated" || nok "alpha not updated"

# The output of an image does not depend on how many sites there are.
check "prepare the same data for 2 sites" "$FESF" prepare -q $SRC --set data.sites=2 --set run.out="$TMP/two"
check "hide 2 sites" mpirun --oversubscribe -np 3 "$FESF" hide -q --set run.out="$TMP/two"
$PY - "$TMP/one" "$TMP/two" <<'PYEOF' && ok "same image, same synthetic output with 2 or 4 sites (bitwise)" || nok "site count changes output"
import sys, glob, h5py
out = {}
for run in sys.argv[1:3]:
    for p in sorted(glob.glob(run + "/site-*.h5")):
        f = h5py.File(p)
        for s in ("train", "val", "test"):
            for x, y in zip(f[f"plain/{s}/images"][()], f[f"synthetic/{s}/images"][()]):
                k = x.tobytes()
                assert out.setdefault(k, y.tobytes()) == y.tobytes()
PYEOF

check "hide with a host per image (host_mode = random)" "$FESF" hide -q --set run.out="$TMP/two" \
    --set ihm.host_mode=random --set ihm.alpha=0.3
$PY - "$TMP/two" <<'PYEOF' >"$TMP/rnd" 2>&1 && ok "random hosts: each image = NumPy IHM with its recorded host: $(cat "$TMP/rnd")" || { nok "random hosts"; sed 's/^/#   /' "$TMP/rnd"; }
import sys, os, numpy as np, h5py
sys.path.insert(0, "tests/py")
from ihm_ref import ihm
run = sys.argv[1]
pool = h5py.File(run + "/hosts.h5")["images"][()]
f = h5py.File(run + "/site-001.h5")
plain, syn = f["plain/train/images"][:40], f["synthetic/train/images"][:40]
idx = f["synthetic/train/host_index"][:40]
assert idx.min() >= 0 and idx.max() < len(pool) and len(set(idx.tolist())) > 5
x = plain.astype(np.float32) / np.float32(255)
err = max(float(np.abs(ihm(x[i:i + 1], pool[idx[i]], 0.3, 1.0) - syn[i]).max()) for i in range(len(x)))
print(f"max abs error {err:.2e} over 40 images, {len(set(idx.tolist()))} distinct hosts")
assert err <= 1e-4
PYEOF

# failures: one line naming the problem, non-zero exit, quickly, never a hang
mkdir -p "$TMP/empty"
expect_fail "hide without shards" "no site-001.h5 in '.*empty'" "$FESF" hide -q --set run.out="$TMP/empty"
expect_fail "host_index out of range" "ihm.host_index = 100000 but '.*hosts.h5' holds" \
    "$FESF" hide -q --set run.out="$TMP/two" --set ihm.host_index=100000
check "prepare 32 px phantoms" "$FESF" prepare -q --set data.size=32 --set data.count=100 --set data.sites=2 --set run.out="$TMP/p32"
check "prepare 28 px phantoms" "$FESF" prepare -q --set data.size=28 --set data.count=100 --set data.sites=2 --set run.out="$TMP/p28"
cp "$TMP/p28/site-002.h5" "$TMP/p32/site-002.h5"
start=$(date +%s)
mpirun --oversubscribe -np 3 "$FESF" hide -q --set run.out="$TMP/p32" >"$TMP/stdout" 2>"$TMP/stderr"
rc=$?; secs=$(( $(date +%s) - start ))
if [ $rc -ne 0 ] && [ $secs -lt 10 ] && grep -q "\[site 2\] error: site 2: '.*/p32/site-002.h5': images are 1x28x28 but site-001.h5 has 1x32x32" "$TMP/stderr"; then
    ok "a site whose images differ from site 1's ends the job in ${secs} s naming it: $(grep error "$TMP/stderr" | head -1)"
else
    nok "mismatched site (exit $rc, ${secs} s)"; sed 's/^/#   /' "$TMP/stderr"
fi
[ ! -e "$TMP/p32/site-002.h5.tmp" ] && ok "  the failed shard left no temporary file" || nok "tmp left behind"
echo "1..$_n"
