#!/bin/sh
# A small end-to-end run under valgrind memcheck (issue 16; not part of make check: about 10 minutes):
#   sh tests/valgrind.sh [FESF]
# One process (a world of one: no mpirun), 2 phantom sites at 28 px: prepare, hide, enhance (1 IQEM
# epoch), train (3 rounds), each under memcheck with --error-exitcode; leaks counted as errors only
# when definite and allocated by fesf's own code (Open MPI's, HDF5's and OpenBLAS's allocations at
# exit are theirs). Prints one line per stage: "valgrind STAGE errors=E definite_leaks_in_fesf=L".
set -e
cd "$(dirname "$0")/.."
FESF=${1:-bin/fesf}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
S="--set data.size=28 --set data.count=80 --set data.sites=2 --set run.out=$OUT/run --set run.threads=1"
VG="valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=none --num-callers=40 --error-exitcode=99"
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] && VG="$VG --suppressions=/usr/share/openmpi/openmpi-valgrind.supp"
# fesf's own frames: valgrind names a frame's file without its folder, so match the names of src/*/*.c
OWN=$(ls src/*/*.c | sed 's|.*/||; s|\.c$||' | paste -sd'|')
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
status=0
stage() { # NAME ARGS...
    name=$1; shift
    $VG --log-file="$OUT/$name.vg" "$FESF" "$@" -q $S >"$OUT/$name.out" 2>&1 || true
    errs=$(grep -oE 'ERROR SUMMARY: [0-9]+' "$OUT/$name.vg" | tail -1 | grep -oE '[0-9]+$')
    # definite-leak records allocated by fesf's own code: the first caller of the allocator is in src/
    leaks=$(awk -v own="\\((($OWN)\\.c):[0-9]+\\)" '/definitely lost in loss record/ { rec = 1; next }
                 rec && / by 0x/ && !/: (strn?dup|v?asprintf|getline|getdelim) / { if ($0 ~ own) n++; rec = 0 }
                 END { print n + 0 }' "$OUT/$name.vg")
    echo "valgrind $name errors=${errs:-?} definite_leaks_in_fesf=$leaks"
    if [ "${errs:-1}" -ne 0 ] || [ "$leaks" -ne 0 ]; then
        status=1
        grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Source|Mismatched|  (at|by) .*\(('"$OWN"')\.c:)' "$OUT/$name.vg" | head -30
    fi
}
stage prepare prepare
stage hide hide
stage enhance enhance --set iqem.epochs=1
stage train train --set train.input=surrogate --set train.rounds=3 --set train.eval_every=3
exit $status
