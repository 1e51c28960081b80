#!/bin/sh
# Run every test suite and print one summary line: "N passed, N failed, N skipped".
# Suites: the walls between the rooms (tests/walls.sh), the cmocka unit tests
# (build/tests/test_*) and the end-to-end scripts (tests/e2e/*.sh). Both speak TAP ("ok", "not ok", "# SKIP"); a suite that
# exits non-zero without reporting a failure counts as one failure.
# Usage: tests/run.sh [PATTERN]   (only suites whose name contains PATTERN)
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
pattern=${1:-}
logdir=${TEST_LOG_DIR:-$BUILD/test-logs}
mkdir -p "$logdir"
passed=0 failed=0 skipped=0

run_suite() { # name, command...
    name=$1; shift
    case "$name" in *"$pattern"*) ;; *) return ;; esac
    log="$logdir/$(echo "$name" | tr / -).log"
    start=$(date +%s)
    CMOCKA_MESSAGE_OUTPUT=TAP "$@" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    # cmocka prints skipped tests as "not ok N # SKIP": those are skips, not failures
    p=$(grep -E '^ok [0-9]+' "$log" | grep -cvE '# ?SKIP')
    s=$(grep -cE '^(not )?ok [0-9]+.*# ?SKIP' "$log")
    f=$(grep -E '^not ok' "$log" | grep -cvE '# ?SKIP')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok - $name exited with status $rc" >>"$log"
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    status=ok; [ "$f" -gt 0 ] && status=FAIL
    printf '%-28s %4s  %3d passed %3d failed %3d skipped  %4ds\n' "$name" "$status" "$p" "$f" "$s" "$secs"
    if [ "$f" -gt 0 ]; then
        grep -E '^not ok|^# ' "$log" | head -20 | sed 's/^/    /'
        echo "    (full log: $log)"
    fi
    grep -E '^(not )?ok [0-9]+.*# ?SKIP' "$log" | sed 's/^/    /'
}

run_suite "walls" sh tests/walls.sh  # the walls between the rooms (docs/architecture.md)
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "unit/$(basename "$t")" "$t"
done
for t in tests/e2e/*.sh; do
    [ -f "$t" ] || continue
    run_suite "e2e/$(basename "$t" .sh)" sh "$t"
done

# SAN_SUBSET (make check, unless SAN=1): the part of `make check SAN=1` that fits CI's 40 minutes:
# the library, unit tests, replayers and binary built with AddressSanitizer and UBSan in build-san/,
# then the unit tests, the fuzz regressions, the untrusted-file tests and two MPI suites on them
if [ -n "${SAN_SUBSET:-}" ]; then
    run_suite "san/build" sh -c 'make --no-print-directory SAN=1 -j2 unit build-san/fesf build-san/tools/replay_ini \
        build-san/tools/replay_npz build-san/tools/replay_shard build-san/tools/secagg_sum build-san/tools/libpmpi_sizes.so \
        >/dev/null && echo "ok 1 - sanitizer build (build-san/)"'
    export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    for t in build-san/tests/test_*; do
        [ -x "$t" ] || continue
        run_suite "san/unit/$(basename "$t")" "$t"
    done
    for t in fuzz_regress untrusted mpi secagg; do
        run_suite "san/e2e/$t" env BUILD=build-san FESF="$PWD/build-san/fesf" sh "tests/e2e/$t.sh"
    done
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
