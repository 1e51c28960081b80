#!/bin/sh
# make fuzz: build the libFuzzer harnesses (clang, AddressSanitizer + UBSan, build-fuzz/) and run each
# for FUZZ_SECONDS (default 600), FUZZ_JOBS at a time (default 2), from fresh seeds
# (tests/fuzz/seeds.sh) and the committed regression inputs (tests/fuzz/regressions/NAME/). libFuzzer
# runs in fork mode and goes on after a crash, a timeout (20 s an input) or an out-of-memory (2 GiB);
# each finding is kept as build-fuzz/runs/crash-NAME-* / timeout-* / oom-*. Prints per harness:
#   fuzz NAME seconds=S executions=E corpus=C findings=F
# A finding in fesf's code becomes a regression input (copy it to tests/fuzz/regressions/NAME/,
# which make check replays: tests/e2e/fuzz_regress.sh) once fixed.
set -e
cd "$(dirname "$0")/../.."
S=${FUZZ_SECONDS:-600} JOBS=${FUZZ_JOBS:-2} OUT=build-fuzz/runs
missing=""
command -v clang >/dev/null 2>&1 || missing="$missing clang"
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing="$missing libclang-rt-dev"
ls /usr/lib/llvm-*/lib/libomp.so >/dev/null 2>&1 || missing="$missing libomp-dev"
if [ -n "$missing" ]; then
    echo "make fuzz: installing:$missing"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi
make --no-print-directory -j2 bin/fesf >/dev/null
make --no-print-directory FUZZ=1 -j2 fuzz-bins >/dev/null
rm -rf "$OUT" && mkdir -p "$OUT"
sh tests/fuzz/seeds.sh "$OUT/seeds"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
one() { # NAME
    mkdir -p "$OUT/corpus-$1" "tests/fuzz/regressions/$1"
    cp "$OUT/seeds/$1"/* "$OUT/corpus-$1/"
    build-fuzz/fuzz/fuzz_$1 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$S" \
        -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/$1-" \
        "$OUT/corpus-$1" "tests/fuzz/regressions/$1" >"$OUT/$1.log" 2>&1 || true
    execs=$(grep -oE '#[0-9]+' "$OUT/$1.log" | tail -1 | tr -d '#')
    found=$(ls "$OUT" | grep -cE "^$1-(crash|timeout|oom|leak)-" || true)
    echo "fuzz $1 seconds=$S executions=${execs:-0} corpus=$(ls "$OUT/corpus-$1" | wc -l) findings=$found"
}
n=0
for name in ini npz shard; do
    one "$name" &
    n=$((n + 1))
    [ $((n % JOBS)) -eq 0 ] && wait
done
wait
ls "$OUT" | grep -E -- '-(crash|timeout|oom|leak)-' | sed "s|^|finding: $OUT/|" || true
