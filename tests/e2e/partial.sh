# Partial federations: `fesf train --resume --exclude-site K` continues from
# the last checkpoint without site K (its shard gone), re-weighting the
# others; the checkpoints record it, reruns are bit-identical, the report and
# metrics.jsonl say which sites took part in which rounds.
. tests/lib.sh
RUN=$TMP/run
T="--set run.out=$RUN --set data.size=28 --set data.count=400 --set train.input=synthetic --set train.rounds=9 --set train.eval_every=3 --set run.checkpoint_every=3"
check "prepare and hide 4 phantom sites" sh -c "'$FESF' prepare -q $T && '$FESF' hide -q $T"
check "9 rounds with all sites, checkpoints every 3" mpirun --oversubscribe -np 3 "$FESF" train -q $T
cp "$RUN/ckpt-0003.h5" "$TMP/ckpt3.h5"
rm -f "$RUN/ckpt-0006.h5" "$RUN/ckpt-0009.h5"
mv "$RUN/site-003.h5" "$TMP/site-003.h5" # the site leaves with its data
same_models() { $PY - "$1" "$2" <<'PYEOF'
import sys, h5py
a, b = (h5py.File(p) for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names and all(a[n][()].tobytes() == b[n][()].tobytes() for n in names)
PYEOF
}
check "--resume --exclude-site 3 without site-003.h5, mpirun -np 3" \
    mpirun --oversubscribe -np 3 "$FESF" train -q --resume --exclude-site 3 $T
cp "$RUN/model.h5" "$TMP/ex3.h5"
$PY - "$RUN" <<'PYEOF' >"$TMP/m" 2>&1 && ok "metrics.jsonl: rounds 1-3 with every site, 4-9 with site 3 excluded; $(cat "$TMP/m")" \
    || { nok "metrics.jsonl"; sed 's/^/#   /' "$TMP/m"; }
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
assert [r["round"] for r in rows] == list(range(1, 10)), [r["round"] for r in rows]
assert all("excluded" not in r for r in rows[:3]) and all(r["excluded"] == [3] for r in rows[3:]), rows
last = rows[-1]["per_site"]
assert math.isnan(last[2]["accuracy"]) if isinstance(last[2]["accuracy"], float) else last[2]["accuracy"] is None
print("site 3 has no test figures at round 9")
PYEOF
grep -q "Site 3 took part in rounds 1-3 of repeat 1 and was then excluded" "$RUN/report.md" \
    && ok "report.md says which rounds site 3 took part in" || nok "report.md: $(grep -A3 'Sites that' "$RUN/report.md")"
# a later resume keeps the site out without being told again (the checkpoint records it)
rm -f "$RUN/ckpt-0009.h5"
check "a later --resume without --exclude-site (from round 6)" mpirun --oversubscribe -np 3 "$FESF" train -q --resume $T
check "... keeps site 3 out: the same model bit for bit" same_models "$TMP/ex3.h5" "$RUN/model.h5"
# the excluded site's shard may also stay: it is not opened, and the result is the same
cp "$TMP/site-003.h5" "$RUN/site-003.h5"
rm -f "$RUN"/ckpt-*.h5 && cp "$TMP/ckpt3.h5" "$RUN/ckpt-0003.h5"
check "with site-003.h5 back in place" mpirun --oversubscribe -np 3 "$FESF" train -q --resume --exclude-site 3 $T
check "... the same model bit for bit" same_models "$TMP/ex3.h5" "$RUN/model.h5"
# other rank counts: the plain MPI sums add in another order (bit-identical only under train.secure_agg),
# so FedAvg with Adam drifts by rounding; the per-round losses stay within 1e-3
cp "$RUN/metrics.jsonl" "$TMP/three.jsonl"
rm -f "$RUN"/ckpt-*.h5 && cp "$TMP/ckpt3.h5" "$RUN/ckpt-0003.h5"
check "the same resume in one process" "$FESF" train -q --resume --exclude-site 3 $T
$PY - "$TMP/three.jsonl" "$RUN/metrics.jsonl" >"$TMP/cmp" 2>&1 <<'PYEOF' && ok "... the same rounds as on 3 ranks: $(cat "$TMP/cmp")" || { nok "one process vs 3 ranks"; sed 's/^/#   /' "$TMP/cmp"; }
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert [r.get("excluded") for r in a] == [r.get("excluded") for r in b]
err = max(abs(x["loss"] - y["loss"]) / x["loss"] for x, y in zip(a, b))
print(f"max relative loss difference {err:.1e} over {len(a)} rounds")
assert len(a) == len(b) == 9 and err <= 1e-3
PYEOF
# refusals, one line each
expect_fail "a site the federation does not have" "--exclude-site 7: the federation has sites 1..4" \
    "$FESF" train -q --resume --exclude-site 7 $T
expect_fail "every site excluded" "leaves none of the 4 sites" "$FESF" train -q --exclude-site 1 --exclude-site 2 \
    --exclude-site 3 --exclude-site 4 $T
expect_fail "a shard missing without --exclude-site" "no site-002.h5" sh -c "mv '$RUN/site-002.h5' '$TMP/' && '$FESF' train -q --resume $T; rc=\$?; mv '$TMP/site-002.h5' '$RUN/'; exit \$rc"
expect_fail "with DP-SGD" "does not go with DP-SGD" "$FESF" train -q --exclude-site 2 $T --set train.dp_noise=1
"$FESF" train -q --exclude-site x $T >"$TMP/out" 2>&1
[ $? -eq 2 ] && grep -q "exclude-site 'x': expected a site number" "$TMP/out" && ok "a bad site number: a usage error" \
    || nok "a bad site number"
# the last site leaves with its shard: the federation still has 4 sites
rm -f "$RUN"/ckpt-*.h5 && cp "$TMP/ckpt3.h5" "$RUN/ckpt-0003.h5" && mv "$RUN/site-004.h5" "$TMP/"
check "the last site (4) leaves with its shard" mpirun --oversubscribe -np 3 "$FESF" train -q --resume --exclude-site 4 $T
grep -q '"excluded": \[4\]' "$RUN/metrics.jsonl" && ok "... and is recorded as excluded" || nok "site 4 not recorded"
echo "1..$_n"
