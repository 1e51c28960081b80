#!/bin/sh
# Issue 17's AdrenalMNIST3D table (not a test; about half an hour on 2 cores at the defaults):
#   sh bench/adrenal3d_table.sh [--set KEY=VALUE ...]
# AdrenalMNIST3D (28^3 CT shape volumes) over SITES sites (IID), a public fraction of train as the
# host pool; fesf prepare + hide (3-D IHM), fesf enhance (the IQEM's 3-D G and D, its default
# epochs, and the 3-D second pass) when INPUTS names surrogate, then `fesf train` with cnn3d-small on
# the plaintext volumes (the research baseline, train.input = plain), the synthetic and the
# surrogate ones, run.repeats = 3 seeds, ROUNDS FedAvg rounds, best-validation model. Prints one
# markdown row per input: test accuracy, balanced accuracy and AUC (mean ± sd over the seeds) and
# the wall time (the enhance stage's in the surrogate row's note).
set -e
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/datasets}
OUT=${OUT:-runs/adrenal3d}
FESF=${FESF:-bin/fesf}
SITES=${SITES:-4}
ROUNDS=${ROUNDS:-20}
NP=${NP:-3}
INPUTS=${INPUTS:-"plain synthetic surrogate"}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
export OMPI_MCA_rmaps_base_oversubscribe=1
row() { # INPUT WALL SUMMARY
    awk -F'\t' -v in_="$1" -v wall="$2" '
        $1 == in_ && $2 == "all" && $3 == "best" { a = $5; as = $6; b = $7; bs = $8; u = $11; us = $12 }
        END { printf "| %s | %.3f ± %.3f | %.3f ± %.3f | %.3f ± %.3f | %s |\n", in_, a, as, b, bs, u, us, wall }' "$3"
}
C="--set data.source=npz:$SHARED/adrenalmnist3d.npz --set data.sites=$SITES --set model.arch=cnn3d-small"
C="$C --set run.repeats=3 --set train.rounds=$ROUNDS --set train.algo=fedavg --set run.out=$OUT"
echo "# AdrenalMNIST3D 28^3, $SITES sites (IID), cnn3d-small width 16, FedAvg $ROUNDS rounds, 3 seeds; load $(cut -d' ' -f1 /proc/loadavg)"
echo "| input | accuracy | balanced accuracy | AUC | wall |"
echo "| --- | --- | --- | --- | --- |"
mkdir -p "$OUT"
# shellcheck disable=SC2086
{ "$FESF" prepare -q $C "$@" && mpirun -np "$NP" "$FESF" hide -q $C "$@"; } >"$OUT.log" 2>&1
case " $INPUTS " in *" surrogate "*)
    t0=$(date +%s)
    # shellcheck disable=SC2086
    mpirun -np "$NP" "$FESF" enhance -q $C "$@" >>"$OUT.log" 2>&1
    echo "(fesf enhance: $(( $(date +%s) - t0 )) s; quality: $(tr '\t\n' '= ' <"$OUT/quality.tsv" | sed 's/^# [^=]*=[^ ]* //'))"
esac
for input in $INPUTS; do
    d=$OUT-$input
    rm -rf "$d" && mkdir -p "$d"
    for f in "$OUT"/site-*.h5 "$OUT"/hosts.h5; do ln -sf "$(realpath "$f")" "$d/$(basename "$f")"; done
    t0=$(date +%s)
    # shellcheck disable=SC2086
    mpirun -np "$NP" "$FESF" train -q $C --set run.out="$d" --set train.input="$input" "$@" >"$d.log" 2>&1
    row "$input" "$(( $(date +%s) - t0 )) s" "$d/summary.tsv"
done
