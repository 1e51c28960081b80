# Privacy by construction (issue 12, part): no NAME.tmp copy of a site's data
# outlives a failure, whichever rank fails and wherever the others are.
. tests/lib.sh
OUT=$TMP/run
R="--set run.out=$OUT --set data.size=64 --set data.count=8000 --set data.sites=4 --set iqem.epochs=1"

# fails_clean DESCRIPTION DIR PATTERN COMMAND...: the MPI job must fail, log PATTERN
# (the failing site's message) and leave no .tmp under DIR
fails_clean() {
    _d=$1 _dir=$2 _pat=$3; shift 3
    "$@" >"$TMP/log" 2>&1
    _rc=$?
    find "$_dir" -name '*.tmp' >"$TMP/tmps"
    if [ $_rc -ne 0 ] && grep -q -- "$_pat" "$TMP/log" && [ ! -s "$TMP/tmps" ]; then
        ok "$_d (exit $_rc)"
    else
        nok "$_d (exit $_rc)"
        sed 's/^/#   /' "$TMP/tmps"
        grep -i 'error' "$TMP/log" | head -5 | sed 's/^/#   /'
    fi
}

check "  (fesf prepare: 4 shards)" "$FESF" prepare -c configs/demo.ini -q $R
# site 2's test images get compressed with h5py's LZF filter, which fesf's HDF5 does not have: the
# shard's metadata is sound (the shard set check passes), but its hide fails reading the test split,
# after it wrote its train and val splits into site-002.h5.tmp, while rank 1 is hiding site 1 or 3
$PY - "$OUT/site-002.h5" <<'EOF'
import h5py, numpy as np, sys
with h5py.File(sys.argv[1], "r+") as f:
    x = f["plain/test/images"][()]
    del f["plain/test/images"]
    f.create_dataset("plain/test/images", data=x, compression="lzf")
EOF
# Open MPI ends the other ranks with SIGTERM and, odls_base_sigkill_timeout (1 s) later, SIGKILL. A
# rank inside fsync of its shard (uninterruptible) on a busy disk can miss that second, and no handler
# survives SIGKILL; SLURM waits KillWait (30 s by default). Give the ranks a few seconds here, so that
# the test measures fesf's cleanup and not the disk's speed.
KILLWAIT="--mca odls_base_sigkill_timeout 4"
fails_clean "a site failing mid-hide ends the job and leaves no .tmp, on any rank" "$OUT" "site-002.h5.*/plain/test/images.*cannot read rows" \
    mpirun --oversubscribe $KILLWAIT -np 3 "$FESF" hide -c configs/demo.ini $R
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert 'synthetic' not in f" "$OUT/site-002.h5" \
    && ok "  the failed site's shard is left as it was" || nok "site-002.h5 changed"

# enhance: site 3 has no /synthetic test split, so its surrogates fail half-way
E=$TMP/enh
RE="--set run.out=$E --set data.size=28 --set data.count=400 --set data.sites=4 --set iqem.epochs=1"
check "  (a small healthy run directory: prepare and hide)" sh -c "
    '$FESF' prepare -c configs/demo.ini -q $RE && mpirun --oversubscribe -np 3 '$FESF' hide -c configs/demo.ini -q $RE"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); del f['synthetic/test']" "$E/site-003.h5"
fails_clean "a site failing mid-enhance ends the job and leaves no .tmp" "$E" "site-003.h5" \
    mpirun --oversubscribe $KILLWAIT -np 3 "$FESF" enhance -c configs/demo.ini $RE

# a SIGTERM (what SLURM sends before a time limit) in the middle of hide
check "  (fesf prepare again: 4 healthy shards)" "$FESF" prepare -c configs/demo.ini -q $R
setsid mpirun --oversubscribe -np 2 "$FESF" hide -c configs/demo.ini $R --set ihm.alpha=0.5 >"$TMP/log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null && ! grep -q "site-001.h5 train:" "$TMP/log"; do sleep 0.01; done
# the signal goes to the ranks themselves, as srun and slurmstepd deliver it
ls "$OUT"/*.tmp >"$TMP/before" 2>/dev/null
pkill -TERM -f "$FESF hide -c configs/demo.ini $R --set ihm.alpha=0.5"
wait $pid 2>/dev/null
sleep 0.5
find "$OUT" -name '*.tmp' >"$TMP/tmps"
[ -s "$TMP/before" ] && [ ! -s "$TMP/tmps" ] && ! grep -q "hid 4 shards" "$TMP/log" \
    && ok "SIGTERM of the ranks mid-hide (while $(basename "$(head -1 "$TMP/before")") was open) leaves no .tmp" \
    || { nok "SIGTERM mid-hide (open before: $(cat "$TMP/before"))"; sed 's/^/#   /' "$TMP/tmps"; }
find "$OUT" "$E" -perm /077 >"$TMP/perm"
[ ! -s "$TMP/perm" ] && ok "every file and folder fesf wrote is owner-only" || { nok "permissions"; head "$TMP/perm" | sed 's/^/#   /'; }
# the coordinator never opens a shard: every open() of site-NNN.h5 in the MPI
# job is logged with its rank (tests/tools/open_probe.c, preloaded)
C=$TMP/coord
RC="--set run.out=$C --set data.size=28 --set data.count=400 --set data.sites=2 --set train.rounds=2 --set iqem.epochs=1 --set audit.epochs=1 --set audit.width=4"
PROBE=$PWD/$TOOLS/libopen_probe.so
check "  (fesf prepare, the data provisioning before the federation)" "$FESF" prepare -c configs/demo.ini -q $RC
FESF_OPEN_LOG=$TMP/opens mpirun --oversubscribe -np 3 -x LD_PRELOAD="$PROBE" -x FESF_OPEN_LOG \
    "$FESF" run configs/demo.ini -q $RC >"$TMP/log" 2>&1
rc=$?
sites=$(awk '$1 != 0' "$TMP/opens" 2>/dev/null | wc -l)
coord=$(awk '$1 == 0' "$TMP/opens" 2>/dev/null | wc -l)
[ $rc -eq 0 ] && [ "$sites" -gt 0 ] && [ "$coord" -eq 0 ] && [ -f "$C/report.md" ] \
    && ok "fesf run (every stage after prepare): the site ranks opened shards $sites times, the coordinator never" \
    || { nok "coordinator opened shards (exit $rc, sites $sites, coordinator $coord)"; awk '$1 == 0' "$TMP/opens" | sort -u | head -5 | sed 's/^/#   /'; tail -3 "$TMP/log" | sed 's/^/#   /'; }
grep -q "ssim_surrogate_plain" "$C/report.md" && ok "  report.md's image-quality table comes from the sites' sums (quality.tsv)" || nok "quality table"

# ---- keyed options (ihm.noise, a beta range, the keyed host): each site's secret key ----
K=$TMP/keyed
KS="-c configs/demo.ini --set run.out=$K --set data.size=28 --set data.count=400 --set data.sites=2 --set iqem.epochs=1"
KS="$KS --set audit.epochs=1 --set audit.width=4 --set ihm.noise=1 --set ihm.beta_min=0.6 --set ihm.host_mode=keyed"
check "keyed: prepare, hide, enhance (noise 1, beta in [0.6, 1], keyed host), mpirun -np 3" sh -c "'$FESF' prepare -q $KS &&
    mpirun --oversubscribe -np 3 '$FESF' hide -q $KS && mpirun --oversubscribe -np 3 '$FESF' enhance -q $KS"
perm=$(stat -c %a "$K/site-001/ihm.key" "$K/site-002/ihm.key" 2>/dev/null | sort -u)
[ "$perm" = 600 ] && grep -qE '^[0-9a-f]{16}$' "$K/site-001/ihm.key" && ! cmp -s "$K/site-001/ihm.key" "$K/site-002/ihm.key" \
    && ok "  each site made its own key in its private folder (0600, 16 hex digits, different per site)" \
    || nok "  site keys: permissions '$perm'"
h5dump -d /synthetic/test/images "$K/site-001.h5" >"$TMP/syn1" 2>/dev/null
h5dump -d /surrogate/test/images "$K/site-001.h5" >"$TMP/sur1" 2>/dev/null
check "  hide and enhance again in the same folder" sh -c "mpirun --oversubscribe -np 3 '$FESF' hide -q $KS &&
    mpirun --oversubscribe -np 3 '$FESF' enhance -q $KS"
h5dump -d /synthetic/test/images "$K/site-001.h5" | cmp -s - "$TMP/syn1" && h5dump -d /surrogate/test/images "$K/site-001.h5" | cmp -s - "$TMP/sur1" \
    && ok "  reruns with the kept key are bit-identical (/synthetic and /surrogate)" || nok "  keyed rerun differs"
cp "$K/site-001/ihm.key" "$TMP/key1" && printf '0123456789abcdef\n' >"$K/site-001/ihm.key"
check "  hide with another key for site 1" mpirun --oversubscribe -np 3 "$FESF" hide -q $KS
h5dump -d /synthetic/test/images "$K/site-001.h5" | cmp -s - "$TMP/syn1" && nok "  another key gave the same images" \
    || ok "  another key gives other images: the release depends on the site's secret"
cp "$TMP/key1" "$K/site-001/ihm.key"
check "  hide, enhance and audit with the site's own key again" sh -c "mpirun --oversubscribe -np 3 '$FESF' hide -q $KS &&
    mpirun --oversubscribe -np 3 '$FESF' enhance -q $KS && mpirun --oversubscribe -np 3 '$FESF' audit -q $KS"
h5dump -d /synthetic/test/images "$K/site-001.h5" | cmp -s - "$TMP/syn1" && ok "  and the first images come back" || nok "  key restored, images differ"
$PY tests/py/keyed_check.py "$K" >"$TMP/keyed.log" 2>&1 \
    && ok "  the release follows the equations with the keyed noise: $(tail -1 "$TMP/keyed.log")" \
    || { nok "  keyed release"; sed 's/^/#   /' "$TMP/keyed.log"; }
$PY tests/py/linkage_ref.py "$K" >"$TMP/lk" 2>&1 && ok "  linkage over the beta range with keyed hosts = NumPy: $(tail -1 "$TMP/lk")" \
    || { nok "  keyed linkage differs from NumPy"; sed 's/^/#   /' "$TMP/lk"; }
for d in s1 s2; do
    "$FESF" prepare -q $KS --set run.out="$TMP/$d" --set ihm.key=seed && "$FESF" hide -q $KS --set run.out="$TMP/$d" --set ihm.key=seed
done 2>/dev/null
h5diff -q "$TMP/s1/site-001.h5" "$TMP/s2/site-001.h5" /synthetic/test/images /synthetic/test/images \
    && [ ! -e "$TMP/s1/site-001/ihm.key" ] \
    && ! h5diff -q "$TMP/s1/site-001.h5" "$K/site-001.h5" /synthetic/test/images /synthetic/test/images \
    && ok "ihm.key = seed: two folders give the same keyed images, no key file, other images than a random key" \
    || nok "ihm.key = seed is not reproducible across folders"
expect_fail "ihm.beta_min above ihm.beta_max" "ihm.beta_min = 0.9 is above ihm.beta_max = 0.5" \
    "$FESF" hide -q --set run.out="$K" --set ihm.beta_min=0.9 --set ihm.beta_max=0.5
echo "1..$_n"
