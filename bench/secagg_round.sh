#!/bin/sh
# Issue 15's cost of secure aggregation per training round (not a test; a few minutes on 2 cores):
#   sh bench/secagg_round.sh
# On 4 phantom sites (28 px, data.count = COUNT images) under mpirun -np 5, `fesf train` FedAvg
# (one local epoch a round) with train.secure_agg = false and true, interleaved, REPS times each, at
# 1 and ROUNDS rounds: the time per round is (wall at ROUNDS - wall at 1) / (ROUNDS - 1), medians,
# so that start-up and the key exchange are not counted. One line per model:
#   bench secagg-round model=M params=P plain_s=.. secure_s=.. ratio=..
# and `fesf bench agg --secure --model M` beside it: the aggregation alone (bcast + sum).
set -e
cd "$(dirname "$0")/.."
FESF=${FESF:-bin/fesf}
OUT=${OUT:-runs/secagg-round}
COUNT=${COUNT:-2000}
ROUNDS=${ROUNDS:-6}
REPS=${REPS:-3}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
echo "# $(uptime)"
rm -rf "$OUT" && mkdir -p "$OUT"
"$FESF" prepare -q --set data.size=28 --set data.count="$COUNT" --set run.out="$OUT"
"$FESF" hide -q --set run.out="$OUT"
wall() { # ROUNDS SECURE MODEL WIDTH: seconds of one training
    t0=$(date +%s.%N)
    mpirun --oversubscribe -np 5 "$FESF" train -q --set run.out="$OUT" --set train.input=synthetic \
        --set train.rounds="$1" --set train.eval_every=1000 --set train.secure_agg="$2" \
        --set model.arch="$3" --set model.width="$4" >/dev/null 2>&1
    echo "$(date +%s.%N) $t0" | awk '{ print $1 - $2 }'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for m in cnn-small:16 resnet18:16; do
    arch=${m%:*} width=${m#*:}
    p="" s=""
    for i in $(seq "$REPS"); do
        for sec in false true; do
            one=$(wall 1 $sec "$arch" "$width") many=$(wall "$ROUNDS" $sec "$arch" "$width")
            per=$(echo "$many $one $ROUNDS" | awk '{ print ($1 - $2) / ($3 - 1) }')
            if [ $sec = true ]; then s="$s $per"; else p="$p $per"; fi
        done
    done
    pm=$(echo "$p" | median) sm=$(echo "$s" | median)
    printf 'bench secagg-round model=%s width=%s plain_s=%.4f secure_s=%.4f ratio=%.3f\n' "$arch" "$width" "$pm" "$sm" \
        "$(echo "$sm $pm" | awk '{ print $1 / $2 }')"
    mpirun --oversubscribe -np 5 "$FESF" bench agg --secure --model "$arch" --width "$width" --rounds 30
done
