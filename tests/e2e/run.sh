# fesf run: every stage in one MPI job, stages skipped when their outputs match,
# and one report with plaintext, synthetic and surrogate rows.
. tests/lib.sh
R="--set run.out=$TMP/run --set data.size=28 --set data.count=400 --set train.rounds=3 --set train.eval_every=1 --set iqem.epochs=1"
check "fesf run configs/demo.ini (small), mpirun -np 5" mpirun --oversubscribe -np 5 "$FESF" run configs/demo.ini -q $R
for input in plain synthetic surrogate; do
    grep -q "^| $input | best validation round |" "$TMP/run/report.md" && ok "report.md has the $input row" || nok "no $input row"
done
grep -q "ssim_surrogate_plain" "$TMP/run/report.md" && ok "report.md has the image-quality table" || nok "quality table"
mpirun --oversubscribe -np 5 "$FESF" run configs/demo.ini $R >"$TMP/o" 2>&1
n=$(grep -c "outputs exist and match the config, skipped" "$TMP/o")
[ "$n" -eq 3 ] && ok "second run skips prepare, hide and enhance" || { nok "skips ($n)"; sed 's/^/#   /' "$TMP/o" | grep stage; }
mpirun --oversubscribe -np 5 "$FESF" run configs/demo.ini $R --set ihm.alpha=0.5 >"$TMP/o" 2>&1
grep -q "stage hide: run" "$TMP/o" && grep -q "stage enhance: run" "$TMP/o" \
    && ok "another ihm.alpha runs hide and enhance again" || nok "alpha change not detected"
echo "1..$_n"
