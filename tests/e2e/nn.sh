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
# the direct convolutions' AVX2 kernels where the CPU has wider ones too (FESF_MAX_ISA, conv_direct.c)
if grep -m1 '^flags' /proc/cpuinfo | grep -qw avx512f; then
    FESF_MAX_ISA=avx2 $PY tests/py/nn_crosscheck.py "$TOOLS/nn_step" resnet18 8 1 28 28 3 32 sgd 3 >"$TMP/out" 2>&1
    rc=$?
    sed 's/ - resnet18/ - FESF_MAX_ISA=avx2: resnet18/' "$TMP/out" >"$TMP/out2"
    relay "$TMP/out2"
    [ $rc -eq 0 ] || { grep -q '^not ok' "$TMP/out" || nok "FESF_MAX_ISA=avx2: crosscheck crashed"; sed 's/^/#   /' "$TMP/out" | tail -20; }
fi
# volumes: cnn3d-small at 28^3 (SGD) and an odd 12 x 10 x 14 (SGD, Adam), batch 4. Not Adam at 28^3:
# there its steps of near-zero gradients amplify float rounding (after 2 steps 2.9e-4 of fesf against
# float64, where PyTorch's own float32 is 1.1e-4 off: above the criterion though logits, loss and
# every gradient agree to 1e-6)
for shape in "28x28 28 4 sgd" "12x10 14 4 sgd" "12x10 14 4 adam"; do
    for opt in $(echo "$shape" | cut -d' ' -f4); do
        set -- $shape
        $PY tests/py/nn_crosscheck.py "$TOOLS/nn_step" cnn3d-small 8 1 $1 $2 2 $3 $opt 2 >"$TMP/out" 2>&1
        rc=$?
        relay "$TMP/out"
        [ $rc -eq 0 ] || { grep -q '^not ok' "$TMP/out" || nok "cnn3d-small $1x$2 $opt: crosscheck crashed"; sed 's/^/#   /' "$TMP/out" | tail -20; }
    done
done
for model in "cnn-small 8 1" "cnn-small 8 3" "resnet18 8 1" "resnet18 4 3"; do
    $PY tests/py/dp_crosscheck.py "$TOOLS/nn_step" $model 28 28 3 13 >"$TMP/out" 2>&1
    rc=$?
    relay "$TMP/out"
    [ $rc -eq 0 ] || { grep -q '^not ok' "$TMP/out" || nok "$model: dp crosscheck crashed"; sed 's/^/#   /' "$TMP/out" | tail -20; }
done
echo "1..$_n"
