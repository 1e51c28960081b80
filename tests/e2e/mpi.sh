# fesf train under mpirun with a PMPI probe preloaded (tests/tools/pmpi_sizes.c):
# sites send the coordinator nothing larger than a model-sized buffer (or the
# fixed-size evaluation statistics), every site rank talks to it, and the
# coordinator does not spin while the sites work (DESIGN sections 2 and 6).
. tests/lib.sh
RUN=$TMP/run
PRELOAD=$(cd "$TOOLS" 2>/dev/null && pwd)/libpmpi_sizes.so
check "prepare 4 phantom sites" "$FESF" prepare -q --set data.size=28 --set data.count=400 --set run.out="$RUN"
check "hide" "$FESF" hide -q --set run.out="$RUN"
T="--set run.out=$RUN --set train.input=synthetic --set train.eval_every=2"

if [ ! -f "$PRELOAD" ]; then
    nok "PMPI probe $TOOLS/libpmpi_sizes.so is not built (make check builds it)"
    echo "1..$_n"
    exit 0
fi

check "train, mpirun -np 5 with the PMPI probe, 4 rounds" \
    mpirun --oversubscribe -np 5 -x LD_PRELOAD="$PRELOAD" -x FESF_PMPI_LOG="$TMP/sizes.log" \
    "$FESF" train -q $T --set train.rounds=4
sed 's/^/#   /' "$TMP/sizes.log" 2>/dev/null | cut -c1-200

# Limits from the run itself: the model's parameter + buffer floats (model.h5)
# plus the two floats of the accumulator (loss, images; src/fed/train.c), and
# the evaluation statistics of every site and both splits (include/fesf/metrics.h).
$PY - "$RUN" "$TMP/sizes.log" include/fesf/metrics.h >"$TMP/sz" 2>&1 <<'PYEOF' && ok "sizes: $(cat "$TMP/sz")" || { nok "message sizes to the coordinator"; sed 's/^/#   /' "$TMP/sz"; }
import glob, re, sys, h5py
run, log, hdr = sys.argv[1:4]
bins = int(re.search(r"#define\s+FESF_METRIC_BINS\s+(\d+)", open(hdr).read()).group(1))
floats = []
with h5py.File(run + "/model.h5") as f:
    for g in ("params", "buffers"):
        if g in f:
            f[g].visititems(lambda n, o: floats.append(o.size) if isinstance(o, h5py.Dataset) else None)
model_bytes = 4 * sum(floats) + 8
shards = sorted(glob.glob(run + "/site-*.h5"))
with h5py.File(shards[0]) as f:
    k, s = int(f.attrs["n_classes"]), int(f.attrs["n_sites"])
assert s == len(shards), (s, len(shards))
stats_bytes = 2 * s * (k * k + 2 * k * bins + 2) * 8
ranks, worst, bad = {}, 0, []
for line in open(log):
    t = line.split()
    assert t[0] == "rank", line
    r = int(t[1])
    kv = dict(zip(t[2::2], t[3::2]))
    assert r not in ranks, f"rank {r} twice"
    ranks[r] = kv
    m = int(kv["max_bytes_to_coord"])
    worst = max(worst, m)
    sizes = [] if kv["sizes"] == "-" else [tuple(map(int, x.split(":"))) for x in kv["sizes"].split(",")]
    assert sum(n for _, n in sizes) + int(kv["sizes_dropped"]) == int(kv["calls"]), line
    if int(kv["sizes_dropped"]) and m > model_bytes:
        bad.append((r, "sizes beyond the probe's table and a max above the model", m))
    bad += [(r, b, n) for b, n in sizes if b > model_bytes and b != stats_bytes]
print(f"largest message to rank 0: {worst} B; limits: model params+buffers+2 floats = {model_bytes} B "
      f"({sum(floats)} floats), statistics = {stats_bytes} B (K={k}, {s} sites, 2 splits)")
assert sorted(ranks) == list(range(5)), f"log lines from ranks {sorted(ranks)}"
assert int(ranks[0]["calls"]) == 0, "rank 0 recorded messages to itself"
for r in range(1, 5):
    assert int(ranks[r]["calls"]) > 0, f"rank {r} sent the coordinator nothing"
assert not bad, f"messages larger than a model buffer and not the statistics buffer (rank, bytes, count): {bad}"
PYEOF

# The coordinator waits with sleeping polls: its CPU time stays well below its
# wall time while the sites train. At most cores + 1 ranks, so that a spinning
# coordinator would show: with 5 ranks on 2 cores the scheduler (and Open MPI's
# yield when oversubscribed) holds even a busy-polling rank 0 to about 15% of
# its wall time, but with 3 ranks it takes 50% (measured with nanosleep
# stubbed out), against about 4% sleeping.
R=20
NP=$(( $(nproc 2>/dev/null || echo 4) + 1 )); [ $NP -gt 5 ] && NP=5; [ $NP -lt 3 ] && NP=3
check "train, mpirun -np $NP with the PMPI probe, $R rounds" \
    mpirun --oversubscribe -np $NP -x LD_PRELOAD="$PRELOAD" -x FESF_PMPI_LOG="$TMP/cpu.log" \
    "$FESF" train -q $T --set train.rounds=$R
sed 's/^/#   /' "$TMP/cpu.log" 2>/dev/null | cut -c1-200
$PY - "$TMP/cpu.log" "$R" "$NP" >"$TMP/cpu" 2>&1 <<'PYEOF' && ok "idle coordinator: $(cat "$TMP/cpu")" || { nok "coordinator CPU while waiting"; sed 's/^/#   /' "$TMP/cpu"; }
import sys
rows = {}
for line in open(sys.argv[1]):
    t = line.split()
    rows[int(t[1])] = dict(zip(t[2::2], t[3::2]))
rounds, np = int(sys.argv[2]), int(sys.argv[3])
assert sorted(rows) == list(range(np)), f"log lines from ranks {sorted(rows)}"
cpu, wall = float(rows[0]["cpu_s"]), float(rows[0]["wall_s"])
sites = sum(float(rows[r]["cpu_s"]) for r in range(1, np)) / (np - 1)
print(f"{np} ranks: rank 0 used {cpu:.3f} CPU s in {wall:.3f} s wall ({100 * cpu / wall:.1f}%, limit 30%), "
      f"{cpu / rounds:.4f} CPU s per round over {rounds} rounds; a site rank used {sites:.3f} CPU s on average")
assert wall > 0 and cpu < 0.3 * wall
PYEOF
echo "1..$_n"
