# fesf run: every stage in one MPI job, stages skipped when their outputs match,
# one report with plaintext, synthetic and surrogate rows, per site, the audit and
# the versions; a sweep writes the frontier table and plot.
. tests/lib.sh
R="--set run.out=$TMP/run --set data.size=28 --set data.count=400 --set train.rounds=3 --set train.eval_every=1 --set iqem.epochs=1 --set audit.epochs=1 --set audit.width=8"
check "fesf run configs/demo.ini (small), mpirun -np 5" mpirun --oversubscribe -np 5 "$FESF" run configs/demo.ini -q $R
for input in plain synthetic surrogate; do
    grep -q "^| $input | all | best validation |" "$TMP/run/report.md" && ok "report.md has the $input row" || nok "no $input row"
done
$PY - "$TMP/run" >"$TMP/fl" 2>&1 <<'PYEOF' && ok "report.md gives each training's rounds and its flags exactly as its summary.tsv counts them: $(cat "$TMP/fl")" || { nok "run report flags"; sed 's/^/#   /' "$TMP/fl"; }
import sys
run, seen = sys.argv[1], []
md = open(f"{run}/report.md").read()
for i in ("plain", "synthetic", "surrogate"):
    line = [l for l in open(f"{run}/train-{i}/summary.tsv") if l.startswith("# flags ")][0]
    f = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[2:])}
    assert f"- {i}: {f['rounds_max']} rounds in every repeat." in md, i
    assert (f"**{i}: still improving** in {f['still_improving']} of" in md) == (f["still_improving"] > 0), (i, f)
    assert (f"**{i}: near chance** in {f['near_chance']} of" in md) == (f["near_chance"] > 0), (i, f)
    seen.append(f"{i} still improving {f['still_improving']}, near chance {f['near_chance']}")
print(", ".join(seen))
PYEOF
grep -q "^| surrogate | site 4 | best validation |" "$TMP/run/report.md" && ok "report.md has per-site rows" || nok "per-site rows"
grep -q "^| synthetic | all | [0-9]* |" "$TMP/run/report.md" && grep -q "^| surrogate | all | [0-9]* |" "$TMP/run/report.md" \
    && ok "report.md has the audit table (synthetic and surrogate)" || nok "audit table"
grep -q "^| surrogate | all | [0-9]* | \*\*[01]\.[0-9]*\*\* (" "$TMP/run/report.md" \
    && ok "report.md has the linkage table (re-identification against chance, membership)" || nok "linkage table"
grep -q "re-identified [0-9.]*% of the released test images (chance" "$TMP/run/report.md" \
    && grep -q "^- \*\*Protected\*\*" "$TMP/run/report.md" \
    && ok "report.md says in plain words what the surrogates protect and what not, with this run's figures" \
    || nok "plain-words section"
head -c 8 "$TMP/run/figures/curves.png" | od -c | grep -q 'P   N   G' && grep -q "figures/curves.png" "$TMP/run/report.md" \
    && ok "training curves figures/curves.png, linked from report.md" || nok "curves.png"
grep -q "^  hdf5: " "$TMP/run/report.md" && grep -q "^alpha = 0.3" "$TMP/run/report.md" && ok "report.md has the config and versions" || nok "config / versions"
grep -Eq "^  openblas kernels: [A-Za-z0-9]+ \((auto|detected|OPENBLAS_CORETYPE)" "$TMP/run/report.md" \
    && ok "report.md names the OpenBLAS kernels and how they were chosen: $(sed -n 's/^  openblas kernels: //p' "$TMP/run/report.md")" \
    || nok "report.md: openblas kernels"
grep -q "ssim_surrogate_plain" "$TMP/run/report.md" && ok "report.md has the image-quality table" || nok "quality table"
mpirun --oversubscribe -np 5 "$FESF" run configs/demo.ini $R >"$TMP/o" 2>&1
n=$(grep -c "skip (outputs exist and match the config)" "$TMP/o")
[ "$n" -eq 7 ] && ok "second run skips every stage (prepare, hide, enhance, 3 trainings, audit)" || { nok "skips ($n)"; sed 's/^/#   /' "$TMP/o" | grep stage; }
mpirun --oversubscribe -np 5 "$FESF" run configs/demo.ini $R --set ihm.alpha=0.5 >"$TMP/o" 2>&1
grep -q "stage hide: run" "$TMP/o" && grep -q "stage enhance: run" "$TMP/o" \
    && grep -q "stage train (surrogate): run" "$TMP/o" && grep -q "stage audit: run" "$TMP/o" \
    && grep -q "stage train (plain): skip (outputs exist and match the config)" "$TMP/o" \
    && ok "another ihm.alpha runs hide, enhance, the synthetic / surrogate trainings and the audit again, not plain" || nok "alpha change not detected"
# a sweep: 2 x 2 points, each in its own folder, then the frontier
S="--set run.out=$TMP/sweep --set data.size=28 --set data.count=300 --set data.sites=2 --set train.rounds=2 --set iqem.epochs=1 --set audit.epochs=1 --set audit.width=4 --set sweep.alpha=0.1,0.5 --set sweep.beta=0.5,1"
check "fesf run --point 3 (one point of a sweep, as an array task)" mpirun --oversubscribe -np 3 "$FESF" run configs/demo.ini -q $S --point 3
[ -f "$TMP/sweep/alpha0.5-beta1/report.md" ] && [ ! -d "$TMP/sweep/alpha0.1-beta0.5" ] && ok "--point runs only its point" || nok "--point"
check "fesf run with [sweep] runs the other points" mpirun --oversubscribe -np 3 "$FESF" run configs/demo.ini -q $S
n=$(grep -c "^| 0\.[15] | " "$TMP/sweep/report.md")
[ "$n" -eq 4 ] && ok "sweep report has the 4 points" || nok "sweep rows ($n)"
$PY -c "import sys,struct; d=open(sys.argv[1],'rb').read(); assert d[:8]==b'\x89PNG\r\n\x1a\n'; w,h=struct.unpack('>II',d[16:24]); assert (w,h)==(800,560)" \
    "$TMP/sweep/figures/frontier.png" && ok "frontier.png is an 800x560 PNG" || nok "frontier.png"
expect_fail "--point past the sweep is refused" "the sweep has points 0..3" "$FESF" run configs/demo.ini -q $S --point 4
echo "1..$_n"
