#!/bin/sh
# Issue 13's measurement of the training defaults (not a test; tens of minutes on 2 cores).
#   sh bench/train_defaults.sh [--set KEY=VALUE ...]
# For each dataset of DATASETS (built by bench/train_sets.py from ../shared/datasets; "pneumonia" is
# the whole PneumoniaMNIST), two `fesf run`s of configs/default.ini with 4 sites, 3 seeds, the audit
# off and the plaintext baseline on: "before", the training options fesf had before issue 13 (FedSGD,
# SGD lr 0.01, 50 rounds, no class weights, no augmentation), and "after", today's defaults plus the
# arguments. Prints one markdown row per run and input: wall seconds of the whole run, then accuracy,
# balanced accuracy and AUC of the best-validation model on the test split (mean ± sd over seeds).
set -e
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/datasets}
OUT=${OUT:-runs/train-defaults}
FESF=${FESF:-bin/fesf}
DATASETS=${DATASETS:-pneumonia500 adrenal2d_64 shapes4_rgb32 pneumonia}
BEFORE="--set train.rounds=50 --set train.algo=fedsgd --set train.optimizer=sgd --set train.lr=0.01 \
--set train.batch=64 --set train.class_weights=none --set train.augment=none --set train.normalise=pooled"
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
[ -f "$OUT/shapes4_rgb32.npz" ] || /usr/bin/python3 bench/train_sets.py "$SHARED" "$OUT"
run() { # DATASET NAME [--set ...]
    ds=$1 name=$2; shift 2
    src=$OUT/$ds.npz
    [ "$ds" = pneumonia ] && src=$SHARED/pneumoniamnist_28.npz
    t0=$(date +%s)
    mpirun --oversubscribe -np 5 "$FESF" run configs/default.ini -q --set run.repeats=3 --set audit.enabled=false \
        --set run.baseline_plain=true --set data.source="npz:$src" --set run.out="$OUT/$ds-$name" "$@" \
        >"$OUT/$ds-$name.log" 2>&1
    wall=$(( $(date +%s) - t0 ))
    for input in plain synthetic surrogate; do
        awk -F'\t' -v ds="$ds" -v name="$name" -v wall="$wall" -v input="$input" '
            /^# flags / { split($0, w, " "); for (i in w) if (w[i] ~ /^rounds_(min|max)=/) { split(w[i], kv, "="); r[kv[1]] = kv[2] } }
            $1 == input && $2 == "all" && $3 == "best" {
                rounds = r["rounds_min"] == r["rounds_max"] ? r["rounds_min"] : r["rounds_min"] "-" r["rounds_max"]
                printf "| %s | %s | %d s | %s | %s | %.3f ± %.3f | %.3f ± %.3f | %.3f ± %.3f |\n", ds, name, wall, input,
                    rounds, $5, $6, $7, $8, $11, $12 }' "$OUT/$ds-$name/train-$input/summary.tsv"
    done
}
echo "| data | options | wall | input | rounds | accuracy | balanced accuracy | AUC |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for ds in $DATASETS; do
    run "$ds" before $BEFORE
    run "$ds" after "$@"
done
