# Shared helpers for the end-to-end test scripts (sourced, POSIX sh).
# Each script prints TAP: "ok N - what", "not ok N - what", "ok N - what # SKIP why".
# Scripts run from the project root; FESF is the binary under test.
FESF=${FESF:-$PWD/bin/fesf}
PY=/usr/bin/python3            # Debian's python3 with numpy/h5py (not the first on PATH)
DATA=${FESF_DATASETS:-$PWD/../shared/datasets}
PNEUMONIA=$DATA/pneumoniamnist_28.npz
TOOLS=${BUILD:-build}/tools           # test tools (tests/tools/*.c), built by make check
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fesf-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
_n=0

ok()   { _n=$((_n + 1)); echo "ok $_n - $*"; }
nok()  { _n=$((_n + 1)); echo "not ok $_n - $*"; }
skip() { _n=$((_n + 1)); echo "ok $_n - $1 # SKIP $2"; }
# relay FILE: count the "ok N - what" / "not ok N - what" lines of a helper's output (e.g. a
# Python cross-check printing TAP) as this script's own, renumbered
relay() {
    grep -E '^(not )?ok' "$1" >"$TMP/relay"
    while read -r _line; do
        case "$_line" in
        ok*) ok "${_line#ok [0-9]* - }" ;;
        *) nok "${_line#not ok [0-9]* - }" ;;
        esac
    done <"$TMP/relay"
}
# check DESCRIPTION COMMAND...: ok if the command succeeds; its output goes to the log
check() {
    _d=$1; shift
    if "$@" >"$TMP/out" 2>&1; then ok "$_d"; else nok "$_d"; sed 's/^/#   /' "$TMP/out" | tail -20; fi
}
# expect_fail DESCRIPTION PATTERN COMMAND...: the command must exit non-zero (not by a
# signal), print exactly one line on stderr matching PATTERN (grep -E) and not crash.
expect_fail() {
    _d=$1; _pat=$2; shift 2
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    _rc=$?
    _lines=$(grep -c . "$TMP/stderr")
    if [ $_rc -ne 0 ] && [ $_rc -lt 128 ] && [ "$_lines" -eq 1 ] && grep -Eq -- "$_pat" "$TMP/stderr"; then
        ok "$_d: $(cat "$TMP/stderr")"
    else
        nok "$_d (exit $_rc, $_lines stderr lines, want /$_pat/)"
        sed 's/^/#   /' "$TMP/stderr" | tail -20
    fi
}
