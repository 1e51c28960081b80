#!/bin/sh
# make demo: the main job on the embedded phantom data, one coordinator and 4 sites:
# prepare, hide (IHM), enhance (IQEM) and train on plain / synthetic / surrogate images,
# then report.md. A few minutes on 2 cores.
set -e
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
OUT=${OUT:-runs/demo}
mpirun --oversubscribe -np "${NP:-5}" bin/fesf run configs/demo.ini --set run.out="$OUT"
bin/fesf inspect "$OUT/hosts.h5" --png "$OUT/figures/hosts.png" --count 16 >/dev/null
echo "demo: report in $OUT/report.md, figures in $OUT/figures/"
