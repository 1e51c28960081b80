#!/bin/sh
# Many simulated sites on one machine (issue 18): the phantom split over S
# sites, `fesf train` under mpirun -np R (sites dealt over R-1 site ranks),
# a few FedAvg rounds. Prints the peak resident memory of every rank
# (/usr/bin/time -v) and the time per round (the log's round lines).
# Usage: sh bench/many_sites.sh [SITES] [RANKS] [ROUNDS]   (defaults 1000 5 3)
S=${1:-1000} R=${2:-5} N=${3:-3}
FESF=${FESF:-$PWD/bin/fesf}
OUT=${OUT:-$(mktemp -d /tmp/fesf-many.XXXXXX)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
C="--set run.out=$OUT --set data.sites=$S --set data.size=28 --set data.count=$((S * 24)) --set data.public=0.01"
C="$C --set train.input=plain --set train.rounds=$N --set train.eval_every=$N --set run.checkpoint_every=0"
echo "# $S sites, mpirun -np $R, $N rounds, phantom 28 px, $((S * 24)) train images; load $(cut -d' ' -f1 /proc/loadavg)"
t0=$(date +%s)
"$FESF" prepare -q $C || exit 1
echo "# prepare: $(( $(date +%s) - t0 )) s, $(ls "$OUT" | grep -c '^site-') shards, $(du -sh "$OUT" | cut -f1)"
mpirun -np "$R" /usr/bin/time -f "rank_rss_kb %M" "$FESF" train $C >"$OUT/train.log" 2>&1 || { tail -5 "$OUT/train.log"; exit 1; }
grep -o "rank_rss_kb [0-9]*" "$OUT/train.log" | sort -k2 -n | awk '{printf "bench many-sites rank_rss_mib=%.1f\n", $2 / 1024}'
sed -n 's/.*round \([0-9]*\)\/[0-9]* loss [0-9.]*.* \([0-9]*\) images\/s, \([0-9.]*\) s, .*/\1 \2 \3/p' "$OUT/train.log" |
    awk -v s="$S" '{d = $3 - prev; prev = $3; printf "bench many-sites sites=%d round=%d images_per_s=%d seconds=%.2f\n", s, $1, $2, d}'
grep "evaluat\|per_site" "$OUT/train.log" | head -2
echo "# outputs in $OUT"
