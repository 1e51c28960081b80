# data.ranks_per_site = k (issue 17): a site's ranks hide its shard together
# through parallel HDF5 (MPI-IO), 2-D images split into runs (the shard
# must be the one a single rank writes, bit for bit) and volumes by slab
# through FFTW's MPI interface (to 1e-4 of the serial 3-D IHM, and the
# NumPy one), k = 1..4, uneven slabs included; the IQEM's second pass by
# runs of whole batches (the same surrogates as one rank, 2-D and volumes);
# the other stages run on the sites' leaders; a world of the wrong size is
# refused.
. tests/lib.sh
same() { $PY tests/py/same_synthetic.py "$1" "$2" "$3" >"$TMP/cmp" 2>&1; }

if [ -f "$PNEUMONIA" ]; then P="--set data.source=npz:$PNEUMONIA"; what="PneumoniaMNIST"
else P="--set data.size=28 --set data.count=400"; what="phantom"; fi
P="$P --set data.sites=2"
check "prepare $what, 2 sites" "$FESF" prepare -q $P --set run.out="$TMP/p1"
for k in 2 3; do cp -r "$TMP/p1" "$TMP/p$k"; done
check "hide 2-D, 1 rank a site" mpirun -np 3 "$FESF" hide -q $P --set run.out="$TMP/p1"
for k in 2 3; do
    check "hide 2-D, $k ranks a site (mpirun -np $((1 + 2 * k)))" \
        mpirun -np $((1 + 2 * k)) "$FESF" hide -q $P --set data.ranks_per_site=$k --set run.out="$TMP/p$k"
    same "$TMP/p1" "$TMP/p$k" 0 && grep -q "bit-identical: True" "$TMP/cmp" \
        && ok "2-D, $k ranks a site = 1 rank: $(cat "$TMP/cmp")" || { nok "2-D k=$k vs 1"; sed 's/^/#   /' "$TMP/cmp"; }
done
# the IQEM's second pass with k ranks a site: runs of whole batches, so the surrogates are the
# ones a single rank writes (the GAN itself trains on the leaders)
for k in 1 2 3; do
    check "enhance 2-D (one epoch), $k rank(s) a site" \
        mpirun -np $((1 + 2 * k)) "$FESF" enhance -q $P --set iqem.epochs=1 --set data.ranks_per_site=$k --set run.out="$TMP/p$k"
done
for k in 2 3; do
    $PY tests/py/same_synthetic.py "$TMP/p1" "$TMP/p$k" 0 surrogate >"$TMP/cmp" 2>&1 && grep -q "bit-identical: True" "$TMP/cmp" \
        && ok "surrogates, $k ranks a site = 1 rank: $(cat "$TMP/cmp")" || { nok "surrogates k=$k vs 1"; sed 's/^/#   /' "$TMP/cmp"; }
done
R="$P --set ihm.host_mode=random"
check "prepare + hide 2-D with a host per image, 1 rank a site" \
    sh -c "'$FESF' prepare -q $R --set run.out='$TMP/q1' && cp -r '$TMP/q1' '$TMP/q2' && '$FESF' hide -q $R --set run.out='$TMP/q1'"
check "hide 2-D with a host per image, 2 ranks a site" \
    mpirun -np 5 "$FESF" hide -q $R --set data.ranks_per_site=2 --set run.out="$TMP/q2"
same "$TMP/q1" "$TMP/q2" 0 && grep -q "bit-identical: True" "$TMP/cmp" \
    && ok "random hosts, 2 ranks a site = 1 rank: $(cat "$TMP/cmp")" || { nok "random hosts k=2"; sed 's/^/#   /' "$TMP/cmp"; }

ADRENAL=$DATA/adrenalmnist3d.npz
if [ -f "$ADRENAL" ]; then
    V="--set data.source=npz:$ADRENAL --set data.public=val --set data.sites=2"
    check "prepare AdrenalMNIST3D 28^3, 2 sites" "$FESF" prepare -q $V --set run.out="$TMP/v1"
    for k in 2 3 4; do cp -r "$TMP/v1" "$TMP/v$k"; done
    check "hide volumes, serial (1 rank a site)" "$FESF" hide -q $V --set run.out="$TMP/v1"
    for k in 2 3 4; do
        slabs=$(( (28 + k - 1) / k )); last=$(( 28 - slabs * (k - 1) ))
        check "hide volumes, $k ranks a site (slabs of $slabs planes, the last $last)" \
            mpirun -np $((1 + 2 * k)) "$FESF" hide -q $V --set data.ranks_per_site=$k --set run.out="$TMP/v$k"
        same "$TMP/v1" "$TMP/v$k" 1e-4 && ok "volumes, $k ranks a site vs serial: $(cat "$TMP/cmp")" \
            || { nok "volumes k=$k vs serial"; sed 's/^/#   /' "$TMP/cmp"; }
    done
    $PY tests/py/volume_check.py "$TMP/v3" 0.3 1.0 square >"$TMP/out" 2>&1
    relay "$TMP/out"
    RV="$V --set ihm.host_mode=random --set ihm.alpha=0.5 --set ihm.beta=0.8"
    check "volumes with a host per volume, 3 ranks a site" sh -c "'$FESF' prepare -q $RV --set run.out='$TMP/w' && \
        mpirun -np 7 '$FESF' hide -q $RV --set data.ranks_per_site=3 --set run.out='$TMP/w'"
    $PY tests/py/volume_check.py "$TMP/w" 0.5 0.8 square >"$TMP/out" 2>&1
    relay "$TMP/out"
    # the 3-D second pass with 2 ranks a site, on 48 / 12 / 12 volumes (seconds, not minutes)
    $PY tests/py/small_npz.py "$ADRENAL" "$TMP/small.npz"
    E="--set data.source=npz:$TMP/small.npz --set data.public=val --set data.sites=2 --set iqem.epochs=1"
    check "prepare + hide + enhance 48 volumes, 1 rank a site" sh -c "'$FESF' prepare -q $E --set run.out='$TMP/e1' && \
        '$FESF' hide -q $E --set run.out='$TMP/e1' && cp -r '$TMP/e1' '$TMP/e2' && '$FESF' enhance -q $E --set run.out='$TMP/e1'"
    check "enhance the volumes, 2 ranks a site" \
        mpirun -np 5 "$FESF" enhance -q $E --set data.ranks_per_site=2 --set run.out="$TMP/e2"
    $PY tests/py/same_synthetic.py "$TMP/e1" "$TMP/e2" 0 surrogate >"$TMP/cmp" 2>&1 && grep -q "bit-identical: True" "$TMP/cmp" \
        && ok "surrogate volumes, 2 ranks a site = 1 rank: $(cat "$TMP/cmp")" || { nok "surrogate volumes k=2"; sed 's/^/#   /' "$TMP/cmp"; }
else
    skip "volumes with k ranks a site" "adrenalmnist3d.npz not in $DATA"
fi

T="$P --set train.input=synthetic --set train.rounds=2 --set train.eval_every=1"
check "train on the leaders, 2 ranks a site" mpirun -np 5 "$FESF" train -q $T --set data.ranks_per_site=2 --set run.out="$TMP/p2"
check "train, 1 rank a site" mpirun -np 3 "$FESF" train -q $T --set run.out="$TMP/p1"
$PY - "$TMP/p1" "$TMP/p2" >"$TMP/cmp" 2>&1 <<'PYEOF'
import sys, h5py, numpy as np
a, b = (h5py.File(p + "/model.h5") for p in sys.argv[1:3])
names = []
a["params"].visit(lambda n: names.append(n) if isinstance(a["params"][n], h5py.Dataset) else None)
same = all(a["params"][n][()].tobytes() == b["params"][n][()].tobytes() for n in names)
print(f"{len(names)} tensors bit-identical: {same}")
sys.exit(0 if same else 1)
PYEOF
[ $? -eq 0 ] && ok "the model with 2 ranks a site = 1 rank a site: $(cat "$TMP/cmp")" || { nok "train k=2"; sed 's/^/#   /' "$TMP/cmp"; }
mpirun -np 4 "$FESF" hide -q $P --set data.ranks_per_site=2 --set run.out="$TMP/p2" >"$TMP/o" 2>"$TMP/e"
rc=$?
n=$(grep -c "ranks_per_site = 2 needs 1 + a multiple of 2 ranks" "$TMP/e")
[ $rc -ne 0 ] && [ "$n" -eq 1 ] && ! grep -q MPI_ABORT "$TMP/e" \
    && ok "mpirun -np 4 with 2 ranks a site: refused once, no MPI_Abort: $(grep needs "$TMP/e")" \
    || { nok "wrong world size (exit $rc, $n messages)"; sed 's/^/#   /' "$TMP/e"; }
mpirun -np 2 "$FESF" bench ihm3d --size 16 --rounds 1 --ranks-per-site 2 >"$TMP/b" 2>&1
grep -Eq '^bench ihm3d size=16 ranks=2 .*volumes_per_s=[0-9.]+ fftw_volumes_per_s=[0-9.]+ ratio=[0-9.]+ plan_mib_per_rank' "$TMP/b" \
    && ok "bench ihm3d, 2 ranks: $(cat "$TMP/b")" || { nok "bench ihm3d"; sed 's/^/#   /' "$TMP/b"; }
echo "1..$_n"
