# IHM for volumes (src/ihm/ihm3d.c) against an independent NumPy 3-D IHM on
# real AdrenalMNIST3D volumes (28^3, 64^3) and random odd/even shapes, alpha
# and beta corners, both masks; the privacy invariant (a point-reflected
# volume gives the same surrogate), beta = 0 and the DC (tests/py/ihm3d_crosscheck.py).
. tests/lib.sh
$PY tests/py/ihm3d_crosscheck.py "$TOOLS/ihm_apply" "$DATA" "$TOOLS/ihm3d_dist" >"$TMP/out" 2>&1
rc=$?
relay "$TMP/out"
[ $rc -eq 0 ] || { grep -q '^not ok' "$TMP/out" || nok "ihm3d crosscheck crashed"; sed 's/^/#   /' "$TMP/out" | tail -20; }
echo "1..$_n"
