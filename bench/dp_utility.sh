#!/bin/sh
# Issue 15's utility of DP-SGD (not a test; about an hour on 2 cores):
#   sh bench/dp_utility.sh [--set KEY=VALUE ...]
# One `fesf run` of configs/default.ini on PneumoniaMNIST (4 sites, 3 seeds, audit off, ROUNDS fixed
# rounds so that every row trains as long) makes the surrogate shards and the non-private row; then
# `fesf train` on the same shards (linked into one folder per epsilon, each with its own site keys)
# at train.dp_epsilon = each of EPS. Prints one markdown row each: epsilon (the largest over sites,
# from summary.tsv), noise multiplier, accuracy, balanced accuracy and AUC of the best-validation model
# on the test split (mean ± sd over seeds), and the wall time of the training.
set -e
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/datasets}
OUT=${OUT:-runs/dp-utility}
FESF=${FESF:-bin/fesf}
EPS=${EPS:-1 3 8}
ROUNDS=${ROUNDS:-60}
NP=${NP:-5}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
COMMON="--set data.source=npz:$SHARED/pneumoniamnist_28.npz --set run.repeats=3 --set train.rounds=$ROUNDS"
row() { # NAME WALL SUMMARY
    awk -F'\t' -v name="$1" -v wall="$2" '
        /^# privacy dp=on/ { for (i = 1; i <= split($0, w, " "); i++) if (w[i] ~ /^(epsilon|noise)=/) { split(w[i], kv, "="); p[kv[1]] = kv[2] } }
        $1 == "surrogate" && $2 == "all" && $3 == "best" { a = $5; as = $6; b = $7; bs = $8; u = $11; us = $12 }
        END { printf "| %s | %s | %s | %.3f ± %.3f | %.3f ± %.3f | %.3f ± %.3f | %s |\n", name,
              p["epsilon"] == "" ? "-" : p["epsilon"], p["noise"] == "" ? "-" : p["noise"], a, as, b, bs, u, us, wall }' "$3"
}
mkdir -p "$OUT"
t0=$(date +%s)
wall="(earlier)"
if [ ! -f "$OUT/base/train-surrogate/summary.tsv" ]; then # a finished base run is kept: rerun only the DP rows
    mpirun --oversubscribe -np "$NP" "$FESF" run configs/default.ini -q $COMMON --set audit.enabled=false \
        --set run.out="$OUT/base" "$@" >"$OUT/base.log" 2>&1
    wall="$(( $(date +%s) - t0 )) s"
fi
echo "| DP-SGD | epsilon | noise multiplier | accuracy | balanced accuracy | AUC | wall (whole run / training) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
row "off" "$wall" "$OUT/base/train-surrogate/summary.tsv"
for e in $EPS; do
    d=$OUT/eps$e
    rm -rf "$d" && mkdir -p "$d"
    for f in "$OUT"/base/site-*.h5; do ln -sf "$(realpath "$f")" "$d/$(basename "$f")"; done
    t0=$(date +%s)
    mpirun --oversubscribe -np "$NP" "$FESF" train -c configs/default.ini -q $COMMON --set run.out="$d" \
        --set train.dp_epsilon="$e" "$@" >"$OUT/eps$e.log" 2>&1
    row "on" "$(( $(date +%s) - t0 )) s" "$d/summary.tsv"
done
