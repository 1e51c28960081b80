# The C network engine against PyTorch with identical weights: logits, loss,
# every gradient and the parameters after 3 optimizer steps (SGD momentum and
# Adam), for cnn-small and resnet18 width 8, grey and RGB, batch 32, 3 classes
# (criterion in tests/py/nn_crosscheck.py). DP-SGD's per-example clipping
# (instance norm, a last partial batch) against PyTorch's per-example loop
# (tests/py/dp_crosscheck.py).
. tests/lib.sh
if ! $PY -c "import torch" 2>/dev/null; then
    skip "PyTorch cross-check" "/usr/bin/python3 has no torch (apt-get install python3-torch)"
    echo "1..$_n"; exit 0
fi
for arch in cnn-small resnet18; do
    for c in 1 3; do
        for opt in sgd adam; do
            $PY tests/py/nn_crosscheck.py "$TOOLS/nn_step" $arch 8 $c 28 28 3 32 $opt 3 >"$TMP/out" 2>&1
            rc=$?
            relay "$TMP/out"
            [ $rc -eq 0 ] || { grep -q '^not ok' "$TMP/out" || nok "$arch c=$c $opt: crosscheck crashed"; sed 's/^/#   /' "$TMP/out" | tail -20; }
        done
    done
done
for model in "cnn-small 8 1" "cnn-small 8 3" "resnet18 8 1" "resnet18 4 3"; do
    $PY tests/py/dp_crosscheck.py "$TOOLS/nn_step" $model 28 28 3 13 >"$TMP/out" 2>&1
    rc=$?
    relay "$TMP/out"
    [ $rc -eq 0 ] || { grep -q '^not ok' "$TMP/out" || nok "$model: dp crosscheck crashed"; sed 's/^/#   /' "$TMP/out" | tail -20; }
done
echo "1..$_n"
