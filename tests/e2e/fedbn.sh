# FedBN (train.fedbn): the batch-norm layers stay at each site. On the wire
# (every message to rank 0 copied by the PMPI probe) each site's contribution
# is exactly 0 at every batch-norm entry; the coordinator's model keeps the
# initial batch norm while the shared layers train; each site's own batch
# norm is in its folder and differs from the others'; a resume on the same ranks is
# bit-identical, one on fewer ranks within the rank layout's own rounding.
. tests/lib.sh
PRELOAD=$(cd "$TOOLS" 2>/dev/null && pwd)/libpmpi_sizes.so
RUN=$TMP/run
T="--set run.out=$RUN --set data.size=28 --set data.count=600 --set data.partition=dirichlet --set data.dirichlet=0.3"
T="$T --set train.input=synthetic --set train.rounds=4 --set train.eval_every=2 --set run.checkpoint_every=2"
check "prepare and hide 4 label-skewed phantom sites" sh -c "'$FESF' prepare -q $T && '$FESF' hide -q $T"
check "the initial model (lr 0)" "$FESF" train -q $T --set train.lr=0 --set train.rounds=1 --set train.eval_every=1
cp "$RUN/model.h5" "$TMP/w0.h5"
mkdir -p "$TMP/wire" "$TMP/wire0"
check "FedBN, mpirun -np 5, every message to rank 0 copied" mpirun --oversubscribe -np 5 -x LD_PRELOAD="$PRELOAD" \
    -x FESF_PMPI_DUMP="$TMP/wire" "$FESF" train -q $T --set train.fedbn=true
cp "$RUN/model.h5" "$TMP/bn4.h5"
mkdir -p "$TMP/run0" && cp "$RUN"/site-*.h5 "$RUN/hosts.h5" "$TMP/run0/"
check "plain FedAvg, the same (for comparison)" mpirun --oversubscribe -np 5 -x LD_PRELOAD="$PRELOAD" \
    -x FESF_PMPI_DUMP="$TMP/wire0" "$FESF" train -q $T --set run.out="$TMP/run0"
$PY - "$TMP/w0.h5" "$TMP/bn4.h5" "$TMP/wire" "$TMP/wire0" "$RUN" <<'PYEOF' >"$TMP/bn" 2>&1; relay "$TMP/bn"
import glob, os, re, sys, h5py, numpy as np
w0, bn4, wire, wire0, run = sys.argv[1:6]
def tensors(path):  # {name: array} of params and buffers
    f, out = h5py.File(path), {}
    for top in ("params", "buffers"):
        f[top].visititems(lambda n, o: out.__setitem__(f"{top}/{n}", o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = tensors(w0), tensors(bn4)
layers = {k.split("/")[1] for k in a if k.startswith("buffers/")}  # batch-norm layers have running statistics
is_bn = lambda k: k.split("/")[1] in layers
n_bn = sum(v.size for k, v in a.items() if is_bn(k))
n_all = sum(v.size for v in a.values())
init = {"weight": 1, "bias": 0, "running_mean": 0, "running_var": 1}  # PyTorch's (and fesf's) initial batch norm
same = all(np.all(b[k] == init[k.split("/")[-1]]) for k in b if is_bn(k))
moved = sum(not np.array_equal(a[k], b[k]) for k in a if not is_bn(k))  # w0: lr 0, the initial shared layers
print(f"{'ok' if same and moved else 'not ok'} 1 - model.h5 keeps the initial batch norm ({n_bn} entries) while "
      f"{moved} of {sum(not is_bn(k) for k in a)} shared tensors trained")
def contributions(folder):  # float messages to rank 0 of the round's size (params + buffers + loss + images)
    out = []
    for p in glob.glob(os.path.join(folder, "*.bin")):
        if re.search(r"-MPI_FLOAT\.bin$", p):
            v = np.fromfile(p, dtype=np.float32)
            if v.size == n_all + 2:
                out.append(v)
    return out
c, c0 = contributions(wire), contributions(wire0)
zeros, zeros0 = [int((v[:-2] == 0).sum()) for v in c], [int((v[:-2] == 0).sum()) for v in c0]
good = c and all(z >= n_bn for z in zeros) and c0 and max(zeros0) < n_bn
print(f"{'ok' if good else 'not ok'} 2 - on the wire: each of {len(c)} site contributions holds >= {n_bn} exact zeros "
      f"(fewest {min(zeros) if zeros else None}); plain FedAvg's {len(c0)} hold at most {max(zeros0) if zeros0 else None}")
st = [h5py.File(f"{run}/site-{k:03d}/train-state-0002.h5")["state"][()] for k in (1, 2, 3, 4)]
differ = all(not np.array_equal(st[i], st[j]) for i in range(4) for j in range(i))
print(f"{'ok' if differ and all(s.size == n_bn for s in st) else 'not ok'} 3 - each site's own batch norm "
      f"({st[0].size} entries) is in its folder and differs from the other sites'")
PYEOF
# resumes from round 2: on the same 5 ranks, bit-identical; on 3 ranks (2 sites a rank, each
# site's batch norm from its folder), the sites' sums reach rank 0 in another MPI_Reduce order, so
# the bits differ: it must stay closer to the uninterrupted 5-rank run than an uninterrupted
# 3-rank run is (that one differs in all 4 rounds, the resume in the last 2 only)
rm -f "$RUN/ckpt-0004.h5"
check "FedBN --resume from round 2 on the same 5 ranks" \
    mpirun --oversubscribe -np 5 "$FESF" train -q --resume $T --set train.fedbn=true
cp "$RUN/model.h5" "$TMP/r5.h5"
rm -f "$RUN/ckpt-0004.h5"
check "FedBN --resume from round 2 on 3 ranks (each site's batch norm from its folder)" \
    mpirun --oversubscribe -np 3 "$FESF" train -q --resume $T --set train.fedbn=true
mkdir -p "$TMP/run3" && cp "$RUN"/site-*.h5 "$RUN/hosts.h5" "$TMP/run3/"
check "FedBN uninterrupted on 3 ranks (for comparison)" \
    mpirun --oversubscribe -np 3 "$FESF" train -q $T --set train.fedbn=true --set run.out="$TMP/run3"
$PY - "$TMP/bn4.h5" "$TMP/r5.h5" "$RUN/model.h5" "$TMP/run3/model.h5" <<'PYEOF' >"$TMP/cmp" 2>&1; relay "$TMP/cmp"
import sys
sys.path.insert(0, "tests/py")
import numpy as np
from model_params import params
full5, r5, r3, full3 = (params(p) for p in sys.argv[1:5])
rel = lambda a, b: float(np.abs(a - b).max() / np.abs(a).max())
print(f"{'ok' if np.array_equal(full5, r5) else 'not ok'} 1 - FedBN resumed on 5 ranks = uninterrupted on 5, "
      f"bitwise (max relative difference {rel(full5, r5):.1e})")
e3, el = rel(full5, r3), rel(full5, full3)
print(f"{'ok' if e3 < el else 'not ok'} 2 - FedBN resumed on 3 ranks: max relative difference {e3:.1e} to the "
      f"uninterrupted 5-rank run, below the uninterrupted 3-rank run's {el:.1e}")
PYEOF
expect_fail "FedBN with FedSGD is refused" "train.fedbn keeps FedAvg's batch norm" "$FESF" train -q $T \
    --set train.fedbn=true --set train.algo=fedsgd
echo "1..$_n"
