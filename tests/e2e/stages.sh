# fesf run's freshness: a stage is skipped only when every output carries its
# current stamp; a changed key reruns its stage and everything downstream, and
# the log says run or skip for each stage and why.
. tests/lib.sh
OUT=$TMP/run
R="--set run.out=$OUT --set data.size=28 --set data.count=200 --set data.sites=2 --set train.rounds=2 --set iqem.epochs=1 --set audit.epochs=1 --set audit.width=4"

run_log() { mpirun --oversubscribe -np 3 "$FESF" run configs/demo.ini $R "$@" >"$TMP/log" 2>&1; }
# "prepare=run hide=skip ... audit=run": the coordinator's decision per stage, in order
decisions() {
    sed -n 's/^\[coord\] stage \(.*\): \(run\|skip\) .*/\1=\2/p' "$TMP/log" | sed 's/^train (\(.*\))=/train-\1=/' | tr '\n' ' '
}
# expect DESCRIPTION DECISIONS [PATTERN]: the run's decisions, and PATTERN in its log
expect() {
    got=$(decisions)
    if [ "$got" = "$2 " ] && { [ -z "$3" ] || grep -q -- "$3" "$TMP/log"; }; then
        ok "$1"
    else
        nok "$1"
        echo "#   want: $2"
        echo "#   got:  $got"
        [ -n "$3" ] && echo "#   want in the log: $3"
        grep 'stage' "$TMP/log" | sed 's/^/#   /'
    fi
}
ALL="prepare=run hide=run enhance=run train-plain=run train-synthetic=run train-surrogate=run audit=run"
NONE="prepare=skip hide=skip enhance=skip train-plain=skip train-synthetic=skip train-surrogate=skip audit=skip"

run_log
expect "a new run directory runs every stage" "$ALL" "stage prepare: run (.*hosts.h5: missing"
find "$OUT" -perm /077 >"$TMP/perm"
[ ! -s "$TMP/perm" ] && [ -n "$(find "$OUT" -name '*.h5')" ] \
    && ok "  every file and folder under run.out is owner-only (0600 / 0700)" \
    || { nok "files with group or other permissions"; head "$TMP/perm" | sed 's/^/#   /'; }
run_log
expect "the same config again skips every stage" "$NONE"

S="--set data.seed=1"
run_log $S
expect "data.seed: prepare and everything after it rerun" "$ALL" "stage prepare: run (data.seed: 0 -> 1"
grep -q "stage hide: run (upstream stage prepare reran)" "$TMP/log" && ok "  the log names the upstream stage that reran" || nok "upstream reason"

S="$S --set ihm.mask=circle"
run_log $S
expect "ihm.mask: hide onwards rerun, not prepare nor the plain training" \
    "prepare=skip hide=run enhance=run train-plain=skip train-synthetic=run train-surrogate=run audit=run" \
    "stage hide: run (ihm.mask: square -> circle; 2 of 2 shards stale"
grep -q "\[site 2\] stage hide: site-002.h5 /synthetic: made by another config" "$TMP/log" \
    && ok "  each site says which of its shards is stale" || nok "site reason"
$PY - "$OUT" >"$TMP/py" 2>&1 <<'EOF' && ok "  every shard's /synthetic is circle-masked and carries one stamp: $(cat "$TMP/py")" || { nok "shard stamps"; sed 's/^/#   /' "$TMP/py"; }
import h5py, sys
stamps = set()
for s in (1, 2):
    with h5py.File(f"{sys.argv[1]}/site-{s:03d}.h5", "r") as f:
        g = f["synthetic"]
        assert g.attrs["mask"] in ("circle", b"circle"), g.attrs["mask"]
        stamps.add(str(g.attrs["stage_hash"]))
        assert str(f["surrogate"].attrs["stage_hash"]) != str(g.attrs["stage_hash"])
assert len(stamps) == 1, stamps
print("stage_hash", stamps.pop())
EOF

S="$S --set iqem.epochs=2"
run_log $S
expect "iqem.epochs: enhance onwards rerun" \
    "prepare=skip hide=skip enhance=run train-plain=skip train-synthetic=skip train-surrogate=run audit=run" \
    "stage enhance: run (iqem.epochs: 1 -> 2"

S="$S --set audit.epochs=2"
run_log $S
expect "an [audit] key reruns only the audit" \
    "prepare=skip hide=skip enhance=skip train-plain=skip train-synthetic=skip train-surrogate=skip audit=run" \
    "stage audit: run (audit.epochs: 1 -> 2"

S="$S --set train.lr=0.02"
run_log $S
expect "a [train] key reruns the three trainings only" \
    "prepare=skip hide=skip enhance=skip train-plain=run train-synthetic=run train-surrogate=run audit=skip" \
    "stage train (plain): run (train.lr: 0.01 -> 0.02"

# A hide killed after its first shard: site-001.h5 already rewritten for the
# new config (its /surrogate dropped), site-002.h5 still the old one. Made
# exactly: a full hide of the new config in a copy, whose first shard replaces
# the run's own.
N="$S --set ihm.mask=square"
cp -r "$OUT" "$TMP/half"
check "  (fesf hide of the new config in a copy of the run directory)" \
    mpirun --oversubscribe -np 3 "$FESF" hide -c configs/demo.ini $R $N --set run.out="$TMP/half"
cp "$TMP/half/site-001.h5" "$OUT/site-001.h5"
run_log $N
expect "a hide killed after the first shard: the rerun redoes the stale shard, and everything downstream" \
    "prepare=skip hide=run enhance=run train-plain=skip train-synthetic=run train-surrogate=run audit=run" \
    "stage hide: run (ihm.mask: circle -> square; 1 of 2 shards stale"
grep -q "site-001.h5: /synthetic is current, kept" "$TMP/log" && grep -q "site-002.h5 test: .* images hidden" "$TMP/log" \
    && ! grep -q "site-001.h5 test: .* images hidden" "$TMP/log" \
    && ok "  the current shard is kept, the stale one hidden again" || nok "per-shard rerun"
$PY - "$OUT" "$TMP/half" >"$TMP/py" 2>&1 <<'EOF' && ok "  both shards' synthetic images equal a full hide of that config, bit for bit" || { nok "synthetic after resume"; sed 's/^/#   /' "$TMP/py"; }
import h5py, numpy as np, sys
for s in (1, 2):
    with h5py.File(f"{sys.argv[1]}/site-{s:03d}.h5", "r") as a, h5py.File(f"{sys.argv[2]}/site-{s:03d}.h5", "r") as b:
        for sp in ("train", "val", "test"):
            assert np.array_equal(a[f"synthetic/{sp}/images"][()], b[f"synthetic/{sp}/images"][()]), (s, sp)
        assert a["synthetic"].attrs["stage_hash"] == b["synthetic"].attrs["stage_hash"]
        assert "surrogate" in a, s
EOF
run_log $N
expect "after that rerun, every stage skips" "$NONE"

# A real kill: `fesf hide` of a new config, SIGKILLed (the whole mpirun
# process group) once its first shard is committed; the rerun keeps the
# shards already hidden for that config and redoes the rest.
K=$TMP/kill
RK="--set run.out=$K --set data.size=64 --set data.count=8000 --set data.sites=8 --set iqem.enabled=false --set audit.enabled=false --set train.rounds=1 --set run.baseline_plain=false"
check "  (a run of 8 shards, then a copy hidden with ihm.mask = circle as the reference)" sh -c "
    mpirun --oversubscribe -np 2 '$FESF' run configs/demo.ini -q $RK && cp -r '$K' '$TMP/ref' &&
    mpirun --oversubscribe -np 2 '$FESF' hide -c configs/demo.ini -q $RK --set run.out='$TMP/ref' --set ihm.mask=circle"
[ ! -e "$K/train-plain" ] && [ -d "$K/train-synthetic" ] && grep -q "No plaintext baseline was trained" "$K/report.md" \
    && ! grep -q "^| plain |" "$K/report.md" \
    && ok "run.baseline_plain = false: no train-plain/, no plain row, and the report says so" || nok "baseline_plain off"
setsid mpirun --oversubscribe -np 2 "$FESF" hide -c configs/demo.ini $RK --set ihm.mask=circle >"$TMP/hide.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null && ! grep -q "site-002.h5 train:" "$TMP/hide.log"; do sleep 0.01; done
kill -KILL -$pid 2>/dev/null
wait $pid 2>/dev/null
sleep 0.5
new=$($PY -c "
import h5py, sys
print(sum(h5py.File(f'{sys.argv[1]}/site-{s:03d}.h5', 'r')['synthetic'].attrs['mask'] in ('circle', b'circle') for s in range(1, 9)))" "$K")
mpirun --oversubscribe -np 2 "$FESF" run configs/demo.ini $RK --set ihm.mask=circle >"$TMP/log" 2>&1
kept=$(grep -c "/synthetic is current, kept" "$TMP/log")
if [ "$new" -ge 8 ]; then
    skip "hide killed after its first shard" "the kill landed after the last shard ($new of 8 hidden)"
elif [ "$new" -ge 1 ] && [ "$kept" -eq "$new" ] && grep -q "stage hide: run (ihm.mask: square -> circle; $((8 - new)) of 8 shards stale" "$TMP/log"; then
    ok "hide SIGKILLed after $new of 8 shards: the rerun keeps those $new and hides the other $((8 - new))"
else
    nok "hide SIGKILLed: $new shards were new, the rerun kept $kept"
    grep 'stage\|kept' "$TMP/log" | sed 's/^/#   /'
fi
$PY - "$K" "$TMP/ref" >"$TMP/py" 2>&1 <<'EOF2' && ok "  then all 8 shards equal a hide that was never killed, bit for bit" || { nok "shards after the kill"; sed 's/^/#   /' "$TMP/py"; }
import h5py, numpy as np, sys
for s in range(1, 9):
    with h5py.File(f"{sys.argv[1]}/site-{s:03d}.h5", "r") as a, h5py.File(f"{sys.argv[2]}/site-{s:03d}.h5", "r") as b:
        for sp in ("train", "val", "test"):
            assert np.array_equal(a[f"synthetic/{sp}/images"][()], b[f"synthetic/{sp}/images"][()]), (s, sp)
        assert a["synthetic"].attrs["stage_hash"] == b["synthetic"].attrs["stage_hash"], s
EOF2

# fewer sites: prepare reruns and removes the shards the old partition left
run_log $N --set data.sites=1
[ ! -e "$OUT/site-002.h5" ] && grep -q "stage prepare: run (data.sites: 2 -> 1" "$TMP/log" \
    && ok "data.sites 2 -> 1: prepare reruns and removes site-002.h5" || { nok "fewer sites"; grep stage "$TMP/log" | sed 's/^/#   /'; }
echo "1..$_n"
