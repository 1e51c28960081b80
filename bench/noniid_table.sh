#!/bin/sh
# Issue 18's non-IID table (not a test; about half an hour on 2 cores at the defaults):
#   sh bench/noniid_table.sh [--set KEY=VALUE ...]
# PneumoniaMNIST split over SITES sites by a Dirichlet label skew of concentration ALPHA, made into
# surrogates once per ALPHA (prepare, hide, enhance); then `fesf train` on those shards (linked into a
# folder per algorithm) for each federated algorithm, run.repeats = 3 seeds, ROUNDS fixed rounds.
# Prints one markdown row per (alpha, algorithm): accuracy, balanced accuracy and AUC of the
# best-validation model on the test split (mean ± sd over seeds) and the training's wall time.
set -e
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/datasets}
OUT=${OUT:-runs/noniid}
FESF=${FESF:-bin/fesf}
ALPHAS=${ALPHAS:-0.1 0.5}
SITES=${SITES:-4}
ROUNDS=${ROUNDS:-20}
NP=${NP:-$((SITES + 1))}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
export OMPI_MCA_rmaps_base_oversubscribe=1
ALGOS=${ALGOS:-"fedavg fedprox fedadam fedyogi scaffold fedbn"}
args_of() { # ALGO: its keys (FedProx mu 0.1; FedAdam / FedYogi at their defaults: server_lr 0.01, tau 1e-3;
            # every algorithm with the default local optimizer, Adam lr 1e-3, SCAFFOLD included)
    case $1 in
    fedavg) echo "--set train.algo=fedavg" ;;
    fedprox) echo "--set train.algo=fedavg --set train.prox_mu=0.1" ;;
    fedadam) echo "--set train.algo=fedavg --set train.server_optimizer=adam" ;;
    fedyogi) echo "--set train.algo=fedavg --set train.server_optimizer=yogi" ;;
    scaffold) echo "--set train.algo=fedavg --set train.scaffold=true" ;;
    fedbn) echo "--set train.algo=fedavg --set train.fedbn=true" ;;
    fedavg-sgd) echo "--set train.algo=fedavg --set train.optimizer=sgd --set train.lr=0.05 --set train.momentum=0" ;;
    scaffold-sgd) echo "--set train.algo=fedavg --set train.optimizer=sgd --set train.lr=0.05 --set train.momentum=0 --set train.scaffold=true" ;;
    esac
}
row() { # ALPHA ALGO WALL SUMMARY
    awk -F'\t' -v al="$1" -v name="$2" -v wall="$3" '
        $1 == "surrogate" && $2 == "all" && $3 == "best" { a = $5; as = $6; b = $7; bs = $8; u = $11; us = $12 }
        END { printf "| %s | %s | %.3f ± %.3f | %.3f ± %.3f | %.3f ± %.3f | %s |\n", al, name, a, as, b, bs, u, us, wall }' "$4"
}
echo "# PneumoniaMNIST, $SITES sites, Dirichlet label skew, surrogates, $ROUNDS rounds, 3 seeds; load $(cut -d' ' -f1 /proc/loadavg)"
echo "| Dirichlet alpha | algorithm | accuracy | balanced accuracy | AUC | wall |"
echo "| --- | --- | --- | --- | --- | --- |"
for al in $ALPHAS; do
    base=$OUT/alpha$al
    C="--set data.source=npz:$SHARED/pneumoniamnist_28.npz --set data.sites=$SITES --set data.partition=dirichlet"
    C="$C --set data.dirichlet=$al --set run.repeats=3 --set train.rounds=$ROUNDS --set run.out=$base"
    if [ ! -f "$base/site-001.h5" ] || ! h5ls "$base/site-001.h5/surrogate" >/dev/null 2>&1; then
        mkdir -p "$base"
        { "$FESF" prepare -q $C && mpirun -np "$NP" "$FESF" hide -q $C && mpirun -np "$NP" "$FESF" enhance -q $C; } \
            >"$base.log" 2>&1
    fi
    for algo in $ALGOS; do
        d=$OUT/alpha$al-$algo
        rm -rf "$d" && mkdir -p "$d"
        for f in "$base"/site-*.h5 "$base"/hosts.h5; do ln -sf "$(realpath "$f")" "$d/$(basename "$f")"; done
        t0=$(date +%s)
        # shellcheck disable=SC2046
        mpirun -np "$NP" "$FESF" train -q $C --set run.out="$d" $(args_of "$algo") "$@" >"$d.log" 2>&1
        row "$al" "$algo" "$(( $(date +%s) - t0 )) s" "$d/summary.tsv"
    done
done
