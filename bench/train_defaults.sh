#!/bin/sh
# Issue 13's measurement of the training defaults (not a test; minutes per run on 2 cores):
# PneumoniaMNIST and a 500-image subsample of it, 4 sites, 3 seeds, default.ini with the audit off,
# each with today's defaults and with the candidate options given as arguments, e.g.
#   sh bench/train_defaults.sh --set train.rounds=auto --set train.class_weights=balanced
# prints one line per run: name, wall seconds, surrogate accuracy / balanced accuracy / AUC (mean ± sd).
# DATA: the PneumoniaMNIST .npz (default ../shared/datasets/pneumoniamnist_28.npz); OUT: scratch folder.
set -e
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/datasets/pneumoniamnist_28.npz}
OUT=${OUT:-runs/train-defaults}
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
/usr/bin/python3 - "$DATA" "$OUT/pneumonia500.npz" <<'PY'
import sys, numpy as np
d = np.load(sys.argv[1])
i = np.sort(np.random.default_rng(0).choice(len(d["train_images"]), 500, replace=False))
out = {k: d[k] for k in d.files}
out["train_images"], out["train_labels"] = d["train_images"][i], d["train_labels"][i]
np.savez(sys.argv[2], **out)
PY
run() { # NAME SOURCE [--set ...]
    name=$1 src=$2; shift 2
    t0=$(date +%s)
    mpirun --oversubscribe -np 5 bin/fesf run configs/default.ini -q --set run.repeats=3 --set audit.enabled=false \
        --set data.source="npz:$src" --set run.out="$OUT/$name" "$@" >"$OUT/$name.log" 2>&1
    printf '%-22s %4d s  ' "$name" $(( $(date +%s) - t0 ))
    awk -F'\t' '$1 == "surrogate" && $2 == "all" && $3 == "best" {
        printf "surrogate accuracy %.3f ± %.3f, balanced %.3f ± %.3f, AUC %.3f ± %.3f\n", $5, $6, $7, $8, $11, $12 }' \
        "$OUT/$name/train-surrogate/summary.tsv"
}
run pneumonia500-defaults "$OUT/pneumonia500.npz"
run pneumonia500-candidate "$OUT/pneumonia500.npz" "$@"
run pneumonia-defaults "$DATA"
run pneumonia-candidate "$DATA" "$@"
