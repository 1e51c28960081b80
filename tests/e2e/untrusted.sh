# Untrusted files (issue 16): shards, checkpoints and configs that other
# programs wrote, or that were damaged, are refused before anything is read
# from them, with one line naming the file, the object and what was expected;
# never a crash, never a silent misreading. docs/reliability.md lists them.
. tests/lib.sh
RUN=$TMP/run
S="-q --set data.size=28 --set data.count=200 --set data.sites=3"
check "prepare 3 sites" "$FESF" prepare $S --set run.out="$RUN"
check "hide them" "$FESF" hide -q --set run.out="$RUN"

# bad NAME PYTHON: a copy of the run as $TMP/NAME, then PYTHON run on it with h5py
# (f(i) opens site-00i.h5 for writing; d is the copy's folder)
bad() {
    rm -rf "${TMP:?}/$1" && cp -r "$RUN" "$TMP/$1"
    $PY - "$TMP/$1" "$2" <<'PYEOF' || nok "craft $1"
import sys, os, h5py, numpy as np
d, code = sys.argv[1], sys.argv[2]
f = lambda i: h5py.File(f"{d}/site-{i:03d}.h5", "r+")
def redo(h, path, data):  # replace dataset `path` of open file h by `data`
    del h[path]
    h[path] = data
exec(code)
PYEOF
}
# sums DIR: md5 of every file in DIR (what a refusal must leave as it was)
sums() { (cd "$1" && find . -type f | sort | xargs md5sum); }
# The cases: NAME | md5 (the files must stay as they were) or - | the command on the copy | the
# Python that damages it (f(i): site-00i.h5 open for writing, d: the folder, redo(h, path, data):
# replace a dataset) | what | the one stderr line (grep -E)
cases() {
    cat <<'TABLE'
ver|md5|hide|h = f(2); h.attrs["version"] = np.array([1, 1, 1])|array-valued version|'.*/ver/site-002.h5': attribute 'version' has shape \[3\], expected a scalar
fmt|md5|train|h = f(1); h.attrs["format"] = np.array(["fesf-shard", "fesf-shard"], dtype=h5py.string_dtype())|array-valued format|'.*/fmt/site-001.h5': attribute 'format' has shape \[2\], expected a scalar
sid|md5|hide|h = f(3); h.attrs["site_id"] = np.array([3, 3], dtype=np.int64)|array-valued site_id|'.*/sid/site-003.h5': attribute 'site_id' has shape \[2\], expected a scalar
sidf|md5|hide|h = f(2); h.attrs["site_id"] = "2"|string site_id|'.*/sidf/site-002.h5': attribute 'site_id' has type string, expected an integer type
lab2|md5|hide|h = f(2); y = h["plain/train/labels"][()]; redo(h, "plain/train/labels", np.stack([y, y], 1))|2-D labels|'.*/lab2/site-002.h5': dataset '/plain/train/labels' has shape \[([0-9]+), 2\], expected \[[0-9]+\]
slab|-|train|h = f(1); y = h["synthetic/val/labels"][()]; redo(h, "synthetic/val/labels", np.stack([y, y], 1))|2-D /synthetic labels (train)|site 1: '.*/slab/site-001.h5': dataset '/synthetic/val/labels' has shape \[[0-9]+, 2\], expected \[[0-9]+\]
short|-|hide|h = f(3); y = h["plain/test/labels"][()]; redo(h, "plain/test/labels", y[:-1])|fewer labels than images|dataset '/plain/test/labels' has shape \[[0-9]+\], expected \[[0-9]+\]
big|-|enhance|h = f(2); n = len(h["synthetic/val/images"]); redo(h, "synthetic/val/images", np.zeros((n, 1, 32, 32), np.float32))|images of another size (enhance, 16-image batches)|'.*/big/site-002.h5': dataset '/synthetic/val/images' has shape \[[0-9]+, 1, 32, 32\], expected \[N, 1, 28, 28\]
bigt|-|audit|h = f(2); n = len(h["synthetic/test/images"]); redo(h, "synthetic/test/images", np.zeros((n, 1, 32, 32), np.float32))|images of another size (audit)|site 2: '.*/bigt/site-002.h5': /synthetic/test holds [0-9]+ images of 1x32x32, /plain/test [0-9]+, the hosts are 1x28x28
big2|-|train|h = f(3); n = len(h["synthetic/train/images"]); redo(h, "synthetic/train/images", np.zeros((n, 1, 32, 32), np.float32))|images of another size (train)|site 3: 'site-003.h5': images are 1x32x32 but site-001.h5 has 1x28x28
i16|md5|plain|h = f(1); x = h["plain/train/images"][()]; redo(h, "plain/train/images", x.astype(np.int16) * 100)|int16 images|'.*/i16/site-001.h5': dataset '/plain/train/images' has type int16, expected uint8 or float32
f64|-|train|h = f(2); x = h["synthetic/test/images"][()]; redo(h, "synthetic/test/images", x.astype(np.float64))|float64 images|dataset '/synthetic/test/images' has type float64, expected uint8 or float32
cnt|-|hide|h = f(2); h["plain/val"].attrs["count"] = 99999|a split whose count attribute disagrees|site-002.h5': /plain/val holds [0-9]+ images but its attribute 'count' is 99999
gap|md5|train|os.remove(f"{d}/site-002.h5")|a gap in the shard numbers|'.*/gap' has no site-002.h5 but site-003.h5 exists
few|md5|hide|os.remove(f"{d}/site-003.h5")|fewer shards than the sites prepared|'.*/few' holds 2 shards \(site-001.h5 .. site-002.h5\) but they were prepared for 3 sites
more|-|hide|import shutil; shutil.copy(f"{d}/site-003.h5", f"{d}/site-004.h5"); f(4).attrs["site_id"] = 4|a shard left from another run|'.*/more' holds 4 shards .* prepared for 3 sites
name|md5|hide|h = f(2); h.attrs["site_id"] = 3|site_id not the file's number|'.*/name/site-002.h5': attribute 'site_id' is 3, expected 2 \(the number in its name\)
swap|md5|train|h = f(2); h.attrs["class_names"] = np.array(list(h.attrs["class_names"])[::-1], dtype=h5py.string_dtype())|class names swapped at one site|site 2: '.*/swap/site-002.h5' has class_names \['finding', 'normal'\] but site-001.h5 has \['normal', 'finding'\]
ncls|-|hide|h = f(3); h.attrs["class_names"] = np.array(["a", "b", "c"], dtype=h5py.string_dtype())|class_names of another length than n_classes|'.*/ncls/site-003.h5': attribute 'class_names' has shape \[3\], expected \[2\]
size|-|hide|h = f(2); n = len(h["plain/train/images"]); redo(h, "plain/train/images", np.zeros((n, 1, 32, 32), np.uint8))|a site with images of another size|'site-002.h5': /plain/val images are 1x28x28 but /plain/train's are 1x32x32
h16|md5|hide|h = h5py.File(f"{d}/hosts.h5", "r+"); x = h["images"][()]; redo(h, "images", (x * 255).astype(np.int16))|int16 host images|'.*/h16/hosts.h5': dataset '/images' has type int16, expected float32
h32|md5|hide|h = h5py.File(f"{d}/hosts.h5", "r+"); k = len(h["images"]); redo(h, "images", np.zeros((k, 1, 32, 32), np.float32))|host images of another size|'site-001.h5': images are 1x28x28 but the host is 1x32x32
h2d|-|hide|h = h5py.File(f"{d}/hosts.h5", "r+"); k = len(h["images"]); redo(h, "images", np.zeros((k, 784), np.float32))|2-D host images|'.*/h2d/hosts.h5': dataset '/images' has shape \[[0-9]+, 784\], expected 4 dimensions
TABLE
}
# sums DIR: md5 of every file in DIR (what a refusal must leave as it was)
sums() { (cd "$1" && find . -type f | sort | xargs md5sum); }
cases >"$TMP/cases"
while IFS='|' read -r name keep cmd code what pat; do
    bad "$name" "$code"
    o="--set run.out=$TMP/$name"
    case $cmd in
    train) set -- train -q $o --set train.input=synthetic --set train.rounds=1 ;;
    plain) set -- train -q $o --set train.input=plain --set train.rounds=1 ;;
    enhance) set -- enhance -q $o --set iqem.epochs=1 ;;
    audit) set -- audit -q $o --set iqem.enabled=false --set audit.epochs=1 --set audit.width=4 ;;
    *) set -- "$cmd" -q $o ;;
    esac
    sums "$TMP/$name" >"$TMP/before"
    expect_fail "$what" "$pat" "$FESF" "$@" </dev/null
    [ "$keep" = md5 ] || continue
    sums "$TMP/$name" >"$TMP/after"
    cmp -s "$TMP/before" "$TMP/after" && ! find "$TMP/$name" -name '*.tmp' | grep -q . \
        && ok "  $what: every file as it was, no .tmp" || nok "  $what: files changed or .tmp left"
done <"$TMP/cases"

# under mpirun: the rank that owns the shard reports it, once, and every rank ends cleanly
mpirun --oversubscribe -np 3 "$FESF" hide -q --set run.out="$TMP/swap" >"$TMP/o" 2>"$TMP/e"; rc=$?
n=$(grep -c "has class_names" "$TMP/e")
[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$n" -eq 1 ] && grep -q "^\[site 2\] error: site 2: '.*/swap/site-002.h5' has class_names" "$TMP/e" \
    && ! grep -q "MPI_ABORT" "$TMP/e" && ok "mpirun -np 3: the swapped class names once, from site 2's rank, no MPI_Abort" \
    || { nok "mpirun swapped class names (exit $rc, $n lines)"; sed 's/^/#   /' "$TMP/e"; }
mpirun --oversubscribe -np 3 "$FESF" train -q --set run.out="$TMP/gap" --set train.input=synthetic >"$TMP/o" 2>"$TMP/e"; rc=$?
n=$(grep -c "has no site-002.h5" "$TMP/e")
[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$n" -eq 1 ] && ! grep -q "MPI_ABORT" "$TMP/e" \
    && ok "mpirun -np 3: the gap once: $(grep 'has no' "$TMP/e")" || { nok "mpirun gap (exit $rc, $n lines)"; sed 's/^/#   /' "$TMP/e"; }

# ---- checkpoints ------------------------------------------------------------------
CK="--set run.out=$TMP/ck --set train.input=synthetic --set run.checkpoint_every=1"
rm -rf "$TMP/ck" && cp -r "$RUN" "$TMP/ck"
check "train 2 rounds with checkpoints" "$FESF" train -q $CK --set train.rounds=2
ck=$(ls "$TMP"/ck/ckpt-*.h5 2>/dev/null | tail -1)
k=$($PY -c "import h5py; print(h5py.File('$ck')['resume/results'].shape[0])" 2>/dev/null)
$PY -c "
import h5py, numpy as np
h = h5py.File('$ck', 'r+'); del h['resume/results']; h['resume/results'] = np.zeros($k + 1000)"
expect_fail "an oversized /resume/results" "'.*ckpt-[0-9]+\.h5': dataset '/resume/results' has shape \[$((k + 1000))\], expected \[$k\]" \
    "$FESF" train -q $CK --set train.rounds=3 --resume
$PY -c "
import h5py, numpy as np
h = h5py.File('$ck', 'r+'); del h['resume/results']; h['resume/results'] = np.zeros($k); h.attrs['round'] = -5"
expect_fail "a checkpoint of round -5" "ckpt-[0-9]+\.h5': repeat 0, round -5, best_round [0-9]+ are not a checkpoint's" \
    "$FESF" train -q $CK --set train.rounds=3 --resume
$PY -c "
import h5py, numpy as np
h = h5py.File('$ck', 'r+'); h.attrs['round'] = 2
names = []
h['params'].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 4 else None)
x = h['params'][names[0]][()]; del h['params'][names[0]]; h['params'][names[0]] = x.reshape(x.shape[::-1])
print(names[0])" >"$TMP/pname"
expect_fail "a parameter of another shape (same size)" "ckpt-[0-9]+\.h5': dataset '/params/$(cat "$TMP/pname")' has shape \[[0-9, ]+\], expected \[[0-9, ]+\]" \
    "$FESF" train -q $CK --set train.rounds=3 --resume

# ---- inspect: attributes and datasets of any rank HDF5 allows ---------------------
cp "$RUN/hosts.h5" "$TMP/rank.h5"
$PY -c "
import h5py, numpy as np
h = h5py.File('$TMP/rank.h5', 'r+')
h.attrs['deep'] = np.arange(1024, dtype=np.int32).reshape((2,) * 10)
h.attrs['none'] = h5py.Empty('f')
h['deep'] = np.zeros((1,) * 12, np.float32)"
"$FESF" inspect "$TMP/rank.h5" >"$TMP/o" 2>"$TMP/e"; rc=$?
[ $rc -eq 0 ] && grep -q "deep = \[2, 2, 2, 2, 2, 2, 2, 2, 2, 2\] 0 1 2" "$TMP/o" && grep -q "none = (empty)" "$TMP/o" \
    && grep -q "/deep  float32 \[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1\]" "$TMP/o" \
    && ok "inspect: a rank-10 attribute, an empty one and a rank-12 dataset are shown in full" \
    || { nok "inspect of high ranks (exit $rc)"; sed 's/^/#   /' "$TMP/o" "$TMP/e" | tail; }
bad pi16 'h = f(1); x = h["plain/train/images"][()]; redo(h, "plain/train/images", x.astype(np.int16))'
expect_fail "inspect --png of int16 images" "dataset '/plain/train/images' has type int16, expected uint8 or float32" \
    "$FESF" inspect "$TMP/pi16/site-001.h5" --png "$TMP/x.png" --dataset /plain/train/images

# ---- configs ------------------------------------------------------------------------
$PY -c "print('[run]\nout = /tmp/' + 'x' * 300 + '\n[train]\nrounds = 2')" >"$TMP/long.ini"
expect_fail "a 300-character config line" "'.*/long.ini' line 2: line longer than [0-9]+ characters" \
    "$FESF" train -q -c "$TMP/long.ini"
$PY -c "print('[run]\nout = /tmp/' + 'x' * 150)" >"$TMP/ok.ini"
"$FESF" train -q -c "$TMP/ok.ini" 2>"$TMP/e"
grep -q "no site-001.h5 in '/tmp/x\{150\}'" "$TMP/e" && ok "a 160-character line is read whole" || nok "160 characters: $(cat "$TMP/e")"
printf '[train]\nrounds = banana\n' >"$TMP/bad.ini"
# every rank's own exit status, through a wrapper; mpirun would end the others once one has exited
# non-zero (and then report only that one), so orte_abort_on_non_zero_status = 0 lets each finish
cat >"$TMP/rank.sh" <<EOF
"\$@"; rc=\$?; echo "rank \$OMPI_COMM_WORLD_RANK exit \$rc" >>"$TMP/exits"; exit \$rc
EOF
for what in "parse:-c $TMP/bad.ini" "value:--set data.source=bogus"; do
    # shellcheck disable=SC2086
    mpirun --oversubscribe -np 3 "$FESF" train -q ${what#*:} >"$TMP/o" 2>"$TMP/e"; rc=$?
    n=$(grep -c "^fesf train: " "$TMP/e")
    [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$n" -eq 1 ] && ! grep -qE "MPI_ABORT|error: " "$TMP/e" \
        && ok "mpirun -np 3, a config error (${what%%:*}): one line, exit $rc, no MPI_Abort: $(grep '^fesf train' "$TMP/e")" \
        || { nok "mpirun config error ${what%%:*} (exit $rc, $n lines)"; sed 's/^/#   /' "$TMP/e"; }
    rm -f "$TMP/exits"
    # shellcheck disable=SC2086
    mpirun --oversubscribe --mca orte_abort_on_non_zero_status 0 -np 3 sh "$TMP/rank.sh" "$FESF" train -q ${what#*:} \
        >"$TMP/o" 2>"$TMP/e"
    ex=$(sort "$TMP/exits" 2>/dev/null | tr '\n' ' ')
    [ "$ex" = "rank 0 exit 2 rank 1 exit 2 rank 2 exit 2 " ] && [ "$(grep -c "^fesf train: " "$TMP/e")" -eq 1 ] \
        && ok "  every rank ends by itself with exit 2 (${what%%:*})" || { nok "  rank exits (${what%%:*}): $ex"; sed 's/^/#   /' "$TMP/e"; }
done
echo "1..$_n"
