#!/bin/sh
# Plaintext upper bound of federated training on PneumoniaMNIST (issue 5's figures):
# test accuracy and AUC at the best-validation round, mean and spread over 3 seeds, for
# 1, 4 and 8 IID sites and 4 Dirichlet(0.5) sites, for the given model.
# usage: bench/fed_pneumonia.sh [ARCH] [WIDTH] [ROUNDS] [OUT]   (defaults: cnn-small 16 20 runs/fed)
# Uses FedAvg with one local epoch per round (each round visits every training image once).
set -e
cd "$(dirname "$0")/.."
ARCH=${1:-cnn-small}; WIDTH=${2:-16}; ROUNDS=${3:-20}; OUT=${4:-runs/fed}
NPZ=${NPZ:-../shared/datasets/pneumoniamnist_28.npz}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
for case in "1 iid" "4 iid" "8 iid" "4 dirichlet"; do
    set -- $case
    dir=$OUT/$ARCH-$1-$2
    bin/fesf prepare -q --set data.source=npz:$NPZ --set data.sites=$1 --set data.partition=$2 \
        --set data.dirichlet=0.5 --set data.classes=normal,pneumonia --set run.out=$dir
    start=$(date +%s)
    mpirun --oversubscribe -np $(($1 + 1)) bin/fesf train -q --set run.out=$dir --set train.input=plain \
        --set model.arch=$ARCH --set model.width=$WIDTH --set train.algo=fedavg --set train.local_epochs=1 \
        --set train.rounds=$ROUNDS --set train.eval_every=1 --set train.batch=64 --set train.lr=0.01 \
        --set run.repeats=3 --set run.checkpoint_every=0
    secs=$(( $(date +%s) - start ))
    row=$(grep '| plain | best validation round' $dir/report.md)
    echo "fed $ARCH width=$WIDTH sites=$1 partition=$2 rounds=$ROUNDS wall_s=$secs $row"
done
