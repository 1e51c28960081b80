# Bad inputs: each ends with one clear line naming the file and the problem,
# a non-zero exit (not a crash), and no output file left behind.
. tests/lib.sh
FX=$TMP/fx
$PY tests/py/make_fixtures.py "$FX" || { nok "make fixtures"; exit 1; }

# bad_prepare DESCRIPTION PATTERN SOURCE [--set ...]: prepare must fail cleanly
bad_prepare() {
    _d=$1; _pat=$2; _src=$3; shift 3
    out=$TMP/out-$_n
    expect_fail "$_d" "$_pat" "$FESF" prepare -q --set "data.source=$_src" --set "run.out=$out" "$@"
    if [ -n "$(ls -A "$out" 2>/dev/null)" ]; then nok "$_d: left files behind: $(ls "$out")"; fi
}

bad_prepare "missing file" "nope.npz.*No such file" "npz:$FX/nope.npz"
bad_prepare "empty file" "empty.npz.*empty" "npz:$FX/empty.npz"
bad_prepare "truncated npz" "truncated.npz.*(truncated|zip)" "npz:$FX/truncated.npz"
bad_prepare "not a zip" "notzip.npz.*not a zip" "npz:$FX/notzip.npz"
bad_prepare "npz without the expected arrays" "noarrays.npz.*train_images" "npz:$FX/noarrays.npz"
bad_prepare "label count != image count" "mismatch.npz.*9 labels.*10" "npz:$FX/mismatch.npz"
bad_prepare "unsupported dtype" "float64.npz.*unsupported dtype '<f8'" "npz:$FX/float64.npz"
bad_prepare "PNG folder with a file missing from the CSV" "missing.csv' line 4.*not-there.png" \
    "png:$FX/png:$FX/png/missing.csv"
bad_prepare "more sites than images" "more sites \(8\) than training images" "phantom" \
    --set data.count=3 --set data.sites=8
bad_prepare "more sites than images (npz)" "more sites \(40\) than training images \(28\).*good.npz" \
    "npz:$FX/good.npz" --set data.sites=40
expect_fail "dirichlet concentration 0" "data.dirichlet = '0'.*expected a number in \[0.001" \
    "$FESF" prepare -q --set data.partition=dirichlet --set data.dirichlet=0 --set "run.out=$TMP/d0"
expect_fail "dirichlet concentration < 0" "data.dirichlet = '-0.5'" \
    "$FESF" prepare -q --set data.dirichlet=-0.5 --set "run.out=$TMP/d1"
printf '[data]\npartition = dirichlet\ndirichlet = 0\n' >"$TMP/d.ini"
expect_fail "dirichlet 0 in a config file names file and line" "d.ini' line 3: data.dirichlet = '0'" \
    "$FESF" prepare -q -c "$TMP/d.ini"
[ ! -e "$TMP/d0" ] && [ ! -e "$TMP/d1" ] && ok "no run folder made for rejected configs" || nok "run folder made"
expect_fail "inspect: a non-fesf HDF5 file" "notfesf.h5' is not a fesf file" "$FESF" inspect "$FX/notfesf.h5"
expect_fail "inspect: not an HDF5 file" "good.npz' is not an HDF5 file" "$FESF" inspect "$FX/good.npz"
expect_fail "inspect: missing file" "cannot open '.*nope.h5'" "$FESF" inspect "$FX/nope.h5"
echo "1..$_n"
