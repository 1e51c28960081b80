# The RDP accountant (src/dp/accountant.c) against an independent computation:
# mpmath's numerical integration of the Renyi divergence between the sampled
# Gaussian mixture and N(0, sigma^2), both directions (tests/py/rdp_mpmath.py),
# through tests/tools/rdp_eval. Published TF Privacy / Opacus values are in
# the unit test (tests/unit/test_accountant.c).
. tests/lib.sh
if ! $PY -c "import mpmath" 2>/dev/null; then
    skip "RDP accountant = mpmath integration" "/usr/bin/python3 has no mpmath (apt-get install python3-mpmath)"
    echo "1..$_n"; exit 0
fi
for part in rdp eps; do
    $PY tests/py/rdp_mpmath.py "$TOOLS/rdp_eval" $part >"$TMP/out" 2>&1
    rc=$?
    relay "$TMP/out"
    grep '^#' "$TMP/out"
    [ $rc -eq 0 ] || { grep -q '^not ok' "$TMP/out" || nok "$part: rdp_mpmath.py failed"; sed 's/^/#   /' "$TMP/out" | tail -20; }
done
echo "1..$_n"
