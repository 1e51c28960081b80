#!/bin/sh
# make demo: the main job on the embedded phantom data. Until training lands
# (issues 5-7) this runs `prepare` + `inspect`: 4 site shards and a host pool,
# summarised, with a picture of the host pool.
set -e
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
OUT=${OUT:-runs/demo}
mpirun --oversubscribe -np "${NP:-1}" bin/fesf prepare -c configs/demo.ini --set run.out="$OUT"
bin/fesf inspect "$OUT/site-001.h5"
bin/fesf inspect "$OUT/hosts.h5" --png "$OUT/hosts.png" --count 16
bin/fesf inspect "$OUT/site-001.h5" --dataset /plain/train/images --png "$OUT/site-001-train.png" --count 16
echo "demo: shards and host pool in $OUT/ (pictures: $OUT/hosts.png, $OUT/site-001-train.png)"
