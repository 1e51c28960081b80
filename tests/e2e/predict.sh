# fesf predict: a site classifies new images through their surrogates. On the
# test splits it gives the training's own test evaluation; kept surrogates
# classified in another process give the same rows; mismatched files refused.
. tests/lib.sh
OUT=$TMP/run
R="--set run.out=$OUT --set data.size=28 --set data.count=800 --set data.sites=2 --set train.rounds=8 --set iqem.epochs=1"
stages() { # OUTDIR [--set ...]: prepare, hide, enhance and train a small phantom federation
    _o=$1; shift
    "$FESF" prepare -q $R --set run.out="$_o" "$@" && "$FESF" hide -q $R --set run.out="$_o" "$@" &&
        "$FESF" enhance -q $R --set run.out="$_o" "$@" && "$FESF" train -q $R --set run.out="$_o" "$@"
}
check "a small federation: prepare, hide, enhance, train" stages "$OUT"
check "its test splits exported (npz pools, PNG folders)" $PY tests/py/predict_check.py export "$OUT" "$TMP"
M="--model $OUT/model.h5 --hosts $OUT/hosts.h5 --iqem $OUT/iqem.h5"

for k in 1 2; do
    "$FESF" predict $M "$TMP/site$k.npz" -o "$TMP/p$k.csv" --keep-surrogates "$TMP/s$k.h5" >"$TMP/log$k" 2>&1 \
        || { nok "predict site $k"; sed 's/^/#   /' "$TMP/log$k"; }
    $PY tests/py/predict_check.py compare "$OUT/summary.tsv" "$TMP/p$k.csv" $k >"$TMP/cmp" 2>&1; relay "$TMP/cmp"
    auc=$(awk -F'\t' -v s=$k '$2 == s && $3 == "best" { printf "%.4f", $11 }' "$OUT/summary.tsv")
    grep -q "AUC $auc," "$TMP/log$k" && ok "site $k: the logged AUC is the training's ($auc)" \
        || { nok "site $k AUC $auc"; grep AUC "$TMP/log$k" | sed 's/^/#   /'; }
    check "site $k: the kept surrogates are the shard's /surrogate/test bit for bit" \
        $PY tests/py/predict_check.py surrogates "$TMP/s$k.h5" "$OUT" $k
    check "site $k: classified in another process (no G, hosts or plaintext)" \
        "$FESF" predict -q --model "$OUT/model.h5" --surrogates "$TMP/s$k.h5" -o "$TMP/r$k.csv"
    cmp -s "$TMP/p$k.csv" "$TMP/r$k.csv" && ok "site $k: the remote rows equal the local ones byte for byte" \
        || nok "site $k: remote rows differ"
done
check "a folder of PNGs without labels: the same predictions and probabilities" sh -c \
    "'$FESF' predict -q $M '$TMP/site1-png' -o '$TMP/png.csv' && $PY tests/py/predict_check.py same-probs '$TMP/p1.csv' '$TMP/png.csv'"
check "PNG files one by one" "$FESF" predict -q $M "$TMP"/site1-png/img000[0-4].png -o "$TMP/files.csv"
[ "$(wc -l <"$TMP/files.csv")" -eq 6 ] && head -2 "$TMP/files.csv" | tail -1 | grep -q "img0000.png,,[01]," \
    && ok "one row per PNG file, the label column empty" || { nok "PNG file rows"; sed 's/^/#   /' "$TMP/files.csv"; }
m=$(stat -c %a "$TMP/p1.csv" "$TMP/s1.h5" | sort -u | tr '\n' ' ')
[ "$m" = "600 " ] && ok "the CSV and the surrogates file are owner-only" || nok "modes: $m"

# refusals: one line naming the mismatch, exit 1, no output file
refused() { # DESCRIPTION PATTERN ARGS...
    _d=$1 _p=$2; shift 2
    rm -f "$TMP/x.csv"
    "$FESF" predict "$@" -o "$TMP/x.csv" >"$TMP/err" 2>&1
    _rc=$?
    if [ $_rc -eq 1 ] && grep -q -- "$_p" "$TMP/err" && [ ! -e "$TMP/x.csv" ]; then ok "refused: $_d"; else
        nok "refused: $_d (exit $_rc)"; sed 's/^/#   /' "$TMP/err"; fi
}
refused "-c with another ihm.alpha" "ihm.alpha = 0.5', not 'ihm.alpha = 0.3" $M --set ihm.alpha=0.5 \
    --set iqem.epochs=1 "$TMP/site1.npz"
$PY - "$TMP/big.npz" <<'PYEOF'
import sys, numpy as np
np.savez(sys.argv[1], test_images=np.zeros((3, 32, 32), np.uint8), test_labels=np.zeros(3, np.uint8))
PYEOF
refused "images of another size" "items are 1x32x32 but .*takes 1x28x28" $M "$TMP/big.npz"
check "a federation with ihm.alpha = 0.5" stages "$TMP/a5" --set ihm.alpha=0.5 --set data.count=240 --set train.rounds=2
refused "a G made with another alpha" "is a G made with 'ihm.alpha = 0.5'" --model "$OUT/model.h5" \
    --hosts "$OUT/hosts.h5" --iqem "$TMP/a5/iqem.h5" "$TMP/site1.npz"
"$FESF" predict -q --model "$TMP/a5/model.h5" --hosts "$OUT/hosts.h5" --iqem "$TMP/a5/iqem.h5" "$TMP/site1.npz" \
    -o "$TMP/a5.csv" --keep-surrogates "$TMP/a5.h5" >/dev/null 2>&1
refused "surrogates made with another alpha" "surrogates made with 'ihm.alpha = 0.5'" --model "$OUT/model.h5" \
    --surrogates "$TMP/a5.h5"
# fesf train writes into run.out: the other trainings go to copies of the run
cp -r "$OUT" "$TMP/plain" && cp -r "$OUT" "$TMP/syn"
check "a plaintext-trained model" "$FESF" train -q $R --set run.out="$TMP/plain" --set train.input=plain
refused "a model trained on plaintext" "trained on plaintext" --model "$TMP/plain/model.h5" \
    --hosts "$OUT/hosts.h5" "$TMP/site1.npz"
"$FESF" predict --model "$OUT/model.h5" -o "$TMP/x.csv" >"$TMP/err" 2>&1
[ $? -eq 2 ] && grep -q "no input images given" "$TMP/err" && ok "no inputs: a usage error (exit 2)" || nok "no inputs"

# a model trained on synthetic images: IHM only, no G
check "a synthetic-input training" "$FESF" train -q $R --set run.out="$TMP/syn" --set train.input=synthetic
"$FESF" predict --model "$TMP/syn/model.h5" --hosts "$OUT/hosts.h5" "$TMP/site2.npz" \
    -o "$TMP/syn.csv" >"$TMP/slog" 2>&1 || { nok "predict with a synthetic model"; sed 's/^/#   /' "$TMP/slog"; }
$PY tests/py/predict_check.py compare "$TMP/syn/summary.tsv" "$TMP/syn.csv" 2 >"$TMP/cmp" 2>&1
relay "$TMP/cmp"

# export: scripts/fesf_torch.py writes a PyTorch state dict and a TorchScript module whose logits
# on the kept surrogates equal fesf's (--logits) within 1e-5, for each architecture and normalisation
export_check() { # NAME MODEL: export MODEL, classify site 1's kept surrogates with fesf and with PyTorch
    "$FESF" predict -q --model "$2" --surrogates "$TMP/s1.h5" -o "$TMP/$1.csv" --logits &&
        $PY scripts/fesf_torch.py "$2" "$TMP/$1.pt" --torchscript "$TMP/$1.ts" >/dev/null &&
        $PY tests/py/predict_check.py exported "$TMP/$1.pt" "$TMP/$1.ts" "$TMP/s1.h5" "$TMP/$1.csv"
}
exported() { # DESCRIPTION NAME MODEL
    export_check "$2" "$3" >"$TMP/ex" 2>&1 && ok "$1: $(tail -1 "$TMP/ex")" || { nok "$1"; sed 's/^/#   /' "$TMP/ex"; }
}
exported "export cnn-small (batch norm, pooled normalisation), PyTorch against fesf" cnn "$OUT/model.h5"
for v in "resnet18 --set model.arch=resnet18 --set model.width=8" "inorm --set model.norm=instance" \
    "image --set train.normalise=image"; do
    set -- $v
    name=$1; shift
    cp -r "$OUT" "$TMP/$name" && "$FESF" train -q $R --set run.out="$TMP/$name" --set train.rounds=2 "$@" \
        || nok "train the $name variant"
    exported "export $name ($*), PyTorch against fesf" "$name" "$TMP/$name/model.h5"
done
echo "1..$_n"
