# Privacy by construction (issue 12, part): with run.baseline_plain off no
# plaintext image and no plaintext-trained gradient reaches the coordinator, in
# every command that runs under MPI. The PMPI probe (tests/tools/pmpi_sizes.c,
# preloaded) logs, per rank and command, the size of every message a site rank
# sends towards world rank 0. The checks account for every one of them:
#   - each stage command (prepare, hide, enhance, train, audit) sends exactly
#     the buffers its code names, sized from the run's own model files and the
#     headers, and nothing larger than what the command is meant to send;
#   - no message is a whole number of images (of any type) of the shards;
#   - fesf run sends exactly its stages' traffic: R gradient messages for each
#     of the synthetic and surrogate trainings and no third training; with
#     baseline_plain = true exactly one more training's worth (the control
#     that shows the probe would see a plaintext training);
#   - train-plain/ exists only with baseline_plain = true.
# (report runs inside fesf run; bench agg moves no site data and is not here.)
. tests/lib.sh
PRELOAD=$(cd "$TOOLS" 2>/dev/null && pwd)/libpmpi_sizes.so
if [ ! -f "$PRELOAD" ]; then
    nok "PMPI probe $TOOLS/libpmpi_sizes.so is not built (make check builds it)"
    echo "1..$_n"
    exit 0
fi
# small on purpose (a few seconds a job); 3 rounds evaluated every 2, so the
# gradient and the statistics messages come in different numbers (3 and 2)
R=3 E=2
S="-q --set data.size=28 --set data.count=400 --set data.sites=2 --set iqem.epochs=1 --set audit.epochs=1
   --set audit.width=8 --set audit.threads=1 --set train.rounds=$R --set train.eval_every=$E"
ST=$TMP/stages

# probe NAME ARGS...: fesf ARGS under mpirun -np 3 (rank 0 and two site ranks,
# one shard each) with the probe preloaded; its log is $TMP/NAME.log
probe() {
    _name=$1; shift
    check "  (fesf $1 as $_name: mpirun -np 3 with the PMPI probe)" \
        mpirun --oversubscribe -np 3 -x LD_PRELOAD="$PRELOAD" -x FESF_PMPI_LOG="$TMP/$_name.log" "$FESF" "$@"
}
# shellcheck disable=SC2086
{
    probe prepare prepare -c configs/demo.ini $S --set run.out="$ST"
    probe hide hide -c configs/demo.ini $S --set run.out="$ST"
    probe enhance enhance -c configs/demo.ini $S --set run.out="$ST"
    probe train-synthetic train -c configs/demo.ini $S --set run.out="$ST" --set train.input=synthetic
    probe train-surrogate train -c configs/demo.ini $S --set run.out="$ST" --set train.input=surrogate
    probe audit audit -c configs/demo.ini $S --set run.out="$ST"
    # the demo config turns the plaintext baseline on: off is the default, set it back
    probe run-off run configs/demo.ini $S --set run.out="$TMP/off" --set run.baseline_plain=false
    probe run-on run configs/demo.ini $S --set run.out="$TMP/on" --set run.baseline_plain=true
}
for f in "$TMP"/*.log; do sed "s|^|#   $(basename "$f" .log): |" "$f" | cut -c1-220; done

[ -d "$TMP/off/train-synthetic" ] && [ -d "$TMP/off/train-surrogate" ] && [ ! -e "$TMP/off/train-plain" ] \
    && ok "baseline_plain off: fesf run wrote train-synthetic/ and train-surrogate/, no train-plain/" \
    || { nok "train folders of the baseline-off run"; ls "$TMP/off" | sed 's/^/#   /'; }
[ -f "$TMP/on/train-plain/model.h5" ] && ok "  baseline_plain on: train-plain/model.h5 exists (control)" \
    || nok "baseline_plain on wrote no train-plain/model.h5"

# The checker prints "ok<TAB>what", "nok<TAB>what" and "#<TAB>detail" lines.
$PY - "$TMP" "$R" "$E" >"$TMP/verdicts" 2>&1 <<'PYEOF'
import glob, re, sys
from collections import Counter
import h5py

tmp, R, E = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ST, OFF, ON, NP = tmp + "/stages", tmp + "/off", tmp + "/on", 3
SITE_RANKS = range(1, NP)
JOBS = {"prepare": "prepare", "hide": "hide", "enhance": "enhance", "train-synthetic": "train",
        "train-surrogate": "train", "audit": "audit", "run-off": "run", "run-on": "run"}

def verdict(good, what, *detail):
    print(("ok" if good else "nok") + "\t" + what)
    for d in detail:
        print("#\t" + str(d))

# ---- the probe's logs: one line per rank and job ---------------------------
logs, problems = {}, []
for job, cmd in JOBS.items():
    rows = {}
    try:
        lines = open(f"{tmp}/{job}.log").read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        t = line.split()
        kv = dict(zip(t[2::2], t[3::2]))
        sizes = Counter() if kv["sizes"] == "-" else Counter(
            {int(b): int(n) for b, n in (x.split(":") for x in kv["sizes"].split(","))})
        rows[int(t[1])] = dict(kv, sizes=sizes)
    if sorted(rows) != list(range(NP)):
        problems.append(f"{job}: lines from ranks {sorted(rows)}")
        continue
    for r, kv in rows.items():
        if kv["cmd"] != cmd: problems.append(f"{job}: rank {r} says cmd {kv['cmd']}")
        if int(kv["sizes_dropped"]): problems.append(f"{job}: rank {r} had more distinct sizes than the probe's table")
        if sum(kv["sizes"].values()) != int(kv["calls"]): problems.append(f"{job}: rank {r}: sizes do not add up to calls")
        if r == 0 and int(kv["calls"]): problems.append(f"{job}: rank 0 recorded messages to itself")
    logs[job] = {r: rows[r]["sizes"] for r in SITE_RANKS}
verdict(not problems, f"probe logs of {len(logs)}/{len(JOBS)} jobs: every rank's line, tagged with its command, "
        "every size counted", *problems)

# ---- coverage: fesf calls no MPI function that moves data and the probe misses
NO_DATA = {"MPI_Abort", "MPI_Comm_dup", "MPI_Comm_free", "MPI_Comm_rank", "MPI_Comm_set_errhandler", "MPI_Comm_size",
           "MPI_Finalize", "MPI_Finalized", "MPI_Get_library_version", "MPI_Ibarrier", "MPI_Barrier", "MPI_Init",
           "MPI_Initialized", "MPI_Test", "MPI_Testall", "MPI_Wait", "MPI_Cancel", "MPI_Request_free",
           "MPI_Irecv",  # receives only: a site receives the coordinator's go in the gathered barrier (fed/world.c)
           "MPI_Comm_f2c", "MPI_Comm_c2f",  # handle conversions (fed/ihm3d_dist.c, fed/site_group.c; FFTW's and
                                            # MPI-IO's own traffic stays inside a site's ranks)
           "MPI_Comm_split"}  # data.ranks_per_site's groups: each rank's group number (its rank / k), no data
called = set()
for path in glob.glob("src/**/*.[ch]", recursive=True):
    called |= set(re.findall(r"\b(MPI_[A-Z][a-z0-9_]*[a-z0-9])\s*\(", open(path).read()))
probed = set(re.findall(r"^int (MPI_\w+)\(", open("tests/tools/pmpi_sizes.c").read(), re.M))
missed = sorted(called - NO_DATA - probed)
verdict(called and not missed, "the probe measures every data-moving MPI call in src/ ("
        + ", ".join(sorted(called & probed - {"MPI_Init", "MPI_Finalize"})) + "; the rest move no data)",
        *[f"{m}: called in src/ but not intercepted by tests/tools/pmpi_sizes.c (nor known to move no data)"
          for m in missed])

# ---- what each buffer weighs, from the run's own files and the headers -----
def header_int(path, pattern):
    return int(re.search(pattern, open(path).read()).group(1))

def floats(group):
    n = []
    group.visititems(lambda _, o: n.append(o.size) if isinstance(o, h5py.Dataset) else None)
    return sum(n)

with h5py.File(ST + "/site-001.h5") as f:
    _, c, h, w = f["plain/train/images"].shape
    K, NS = int(f.attrs["n_classes"]), int(f.attrs["n_sites"])
P = c * h * w  # bytes of one uint8 image: any image or batch of images, of any type, is a multiple
with h5py.File(ST + "/model.h5") as f:
    n_model = floats(f["params"]) + (floats(f["buffers"]) if "buffers" in f else 0)
with h5py.File(ST + "/iqem.h5") as f:
    n_gan, gan_rounds = floats(f["params"]) + floats(f["D/params"]), int(f.attrs["round"])
BINS = header_int("include/fesf/metrics.h", r"#define\s+FESF_METRIC_BINS\s+(\d+)")
FEAT = header_int("include/fesf/quality.h", r"#define\s+FESF_FEAT_DIM\s+(\d+)")
QN = header_int("include/fesf/iqem.h", r"FESF_IQEM_QUALITY_N\s*=\s*(\d+)")
NAMES = header_int("include/fesf/shard.h", r"#define\s+FESF_SHARD_NAMES_MAX\s+(\d+)")
def enum_len(path, first, last):
    body = re.search(r"enum\s*\{\s*(" + first + r"\b[^}]*)\}", open(path).read()).group(1)
    return [x.strip() for x in body.split(",")].index(last)
S_LEN = enum_len("src/audit/audit_internal.h", "S_N", "S_LEN")
LK_LEN = enum_len("src/audit/linkage.h", "LK_N", "LK_LEN")
n_test = 0
for p in glob.glob(ST + "/site-*.h5"):
    with h5py.File(p) as f:
        n_test += len(f["plain/test/images"])
with h5py.File(ST + "/hosts.h5") as f:
    n_pub = len(f["images"])
targets = len(glob.glob(ST + "/audit-*.h5"))

# message sizes in bytes; where in the code each is sent
B = {"train": 4 * (n_model + 2),          # fed/train.c add_site: params + BN buffers, loss, images (one round)
     "eval": 8 * (2 * (K * K + 2 * K * BINS + 2) + 2 * NS * 7),  # fed/train_eval.c: pooled val + test stats, each site's 7 figures
     "gan": 4 * (n_gan + 3),              # iqem/enhance.c add_gan_site: G and D gradients, 3 losses (one round)
     "feat": 8 * 2 * (1 + FEAT + FEAT * FEAT),  # iqem/enhance.c: feature statistics of synthetic, surrogate
     "quality": 8 * (1 + QN),             # iqem/enhance.c: images and the summed quality measures
     "audit": 8 * NS * S_LEN,             # audit/audit.c audit_target: every site's PSNR/SSIM sums (one target)
     "linkage": 8 * NS * LK_LEN,          # audit/audit.c audit_target: every site's linkage counts (one target)
     "scores": 8 * (n_test + NS * n_pub), # audit/audit.c gather_membership: one membership score per test and public image
     "shards": 8,                         # fed/agg.c fesf_fed_count_shards: an int64 MPI_MAX
     "shardset": 8 * NS * (8 + NAMES // 8),  # fed/agg.c fesf_fed_count_shards: each shard's metadata record (MPI_BOR)
     "agree": 8,                          # fed/world.c fesf_world_agree: failed rank, exit code (start-up; prepare's end)
     "site_n": 8 * NS,                    # every site's training-image count (share_sum)
     "counts": 8 * K,                     # fed/train.c class_weights: summed training label counts (balanced)
     "norm": 8 * (2 * c + 1),             # fed/train_data.c fesf_train_normalise: pixel sums, squares, count
     "shape": 48,                         # fed/train.c load_sites: the first site's rank broadcasts c, h, w, k, its id, d
     "decide": 16,                        # run/pipeline.c decide: a stage's stale counts (shared, shards)
     "arrive": 1,                         # fed/world.c gathered_barrier: a site's arrival (run.timeout, training only)
     "stop": 8}                           # fed/train.c preempted / finished: a caught signal, MPI_MAX (each round, the end)
n_eval = sum(1 for r in range(R) if (r + 1) % E == 0 or r + 1 == R)

def names(size):
    return "/".join(k for k, v in B.items() if v == size) or "UNNAMED"

START = [B["agree"]]                       # every command: the ranks agree that the config is good
SHARDS = [B["shards"], B["shardset"]]      # every stage: the shard set, counted and checked

# a training's gathered barriers (run.timeout): 15 in its set-up (the exclusions' agreement and their 3
# broadcasts, the shard count and set, the shape, the site counts, the label counts, the normalisation,
# the starting point, the sites' own state), 3 per round (state, sum, signal flag), 2 per evaluation,
# 1 at the end (signal flag)
ARRIVALS = 15 + 3 * R + 2 * n_eval + 1

def train_msgs(r):
    # 2 more agreements: the exclusions (train_sites.c), the sites' own state (train_scaffold.c)
    return Counter(START + [B["agree"]] * 2 + SHARDS + [B["site_n"], B["counts"], B["norm"]] + [B["shape"]] * (r == 1)
                   + [B["train"]] * R + [B["eval"]] * n_eval + [B["arrive"]] * ARRIVALS + [B["stop"]] * (R + 1))

EXPECT = {
    "prepare": lambda r: Counter(START + [B["agree"]]),  # rank 0 prepares (simulation mode); the sites wait for its verdict
    "hide": lambda r: Counter(START + SHARDS),
    "enhance": lambda r: Counter(START + SHARDS + [B["site_n"], B["feat"], B["quality"]] + [B["gan"]] * gan_rounds),
    "train-synthetic": train_msgs,
    "train-surrogate": train_msgs,
    "audit": lambda r: Counter(START + SHARDS + [B["audit"], B["linkage"], B["site_n"], B["scores"]] * targets),
}
# what each command is meant to send at most (its largest buffer)
LIMIT = {"prepare": (B["agree"], "rank 0 prepares alone: the sites send only the two agreements"),
         "hide": (B["shardset"], "the shard count and metadata"),
         "enhance": (B["gan"], "one round's G + D gradients"),
         "train-synthetic": (max(B["train"], B["eval"]), "a model-sized round or the evaluation statistics"),
         "train-surrogate": (max(B["train"], B["eval"]), "a model-sized round or the evaluation statistics"),
         "audit": (max(B["audit"], B["scores"]), "the sums, and one membership score per test and public image")}

def show(cnt):
    return ", ".join(f"{b} B x{n} ({names(b)})" for b, n in sorted(cnt.items(), key=lambda x: -x[0])) or "none"

def diff(got, want):
    extra, lack = got - want, want - got
    return [f"sent but not expected: {show(extra)}"] * bool(extra) + [f"expected but not sent: {show(lack)}"] * bool(lack)

print(f"#\timage {c}x{h}x{w} = {P} px; {NS} sites, {K} classes; model {n_model} floats, G + D {n_gan} floats "
      f"({gan_rounds} GAN rounds), {targets} audit targets; sizes: "
      + ", ".join(f"{k} {v} B" for k, v in B.items()))

# ---- each stage command on its own -----------------------------------------
for job, want in EXPECT.items():
    if job not in logs:
        verdict(False, f"{job}: no probe log")
        continue
    limit, what = LIMIT[job]
    worst = max((max(s, default=0) for s in logs[job].values()), default=0)
    bound = worst <= limit and (job != "hide" or limit < P)
    if job == "prepare":
        verdict(worst <= limit, f"{job}: the site ranks send rank 0 no data ({what}; largest {worst} B)")
    else:
        verdict(bound, f"{job}: largest message to rank 0 {worst} B <= {limit} B ({what})"
                + (f", under one image ({P} B)" if limit < P else ""))
    bad = [f"rank {r}: " + d for r in SITE_RANKS for d in diff(logs[job][r], want(r))]
    verdict(not bad, f"{job}: every message of every site rank accounted for, e.g. rank 1: {show(want(1))}", *bad)

# ---- no message could be whole images ---------------------------------------
shaped = sorted({(job, b) for job, ranks in logs.items() for cnt in ranks.values() for b in cnt if b % P == 0})
verdict(logs and not shaped, f"no message in any command is a whole number of images ({P} B, any type, any batch)",
        *[f"{job}: {b} B = {b // P} x {P} B ({names(b)}): whole images (one float32 image is {4 * P} B)"
          + (" (a named buffer: pick another data.size so that images stand out)" if names(b) != "UNNAMED" else "")
          for job, b in shaped])

# ---- fesf run: its stages' traffic, and no third training -----------------
stage_jobs = ["hide", "enhance", "train-synthetic", "train-surrogate", "audit"]
if all(j in logs for j in stage_jobs + ["run-off", "run-on"]):
    for job, ran, trainings in (("run-off", OFF, 2), ("run-on", ON, 3)):
        with h5py.File(ran + "/train-synthetic/model.h5") as f:
            same = floats(f["params"]) + floats(f["buffers"]) == n_model
        got = [logs[job][r][B["train"]] for r in SITE_RANKS]
        verdict(same and got == [R * trainings] * len(SITE_RANKS),
                f"{job}: gradient-size messages ({B['train']} B) per site rank: {got}, want {R} rounds x "
                f"{trainings} trainings = {R * trainings} "
                + ("(synthetic, surrogate: no plaintext training)" if trainings == 2 else "(plain, synthetic, surrogate)"),
                *[] if same else ["the run's model differs from the stage commands' model"])
    bad = []
    for r in SITE_RANKS:
        # one start-up agreement for the whole run, not one per stage command
        want = sum((logs[j][r] - Counter(START) for j in stage_jobs), Counter()) + Counter(START + [B["decide"]])
        bad += [f"rank {r}: " + d for d in diff(logs["run-off"][r], want)]
    verdict(not bad, "run-off: fesf run sent exactly what hide, enhance, train (synthetic, surrogate) and audit send "
            "on their own, plus its one stage decision: nothing more", *bad)
    bad = []
    for r in SITE_RANKS:
        bad += [f"rank {r}: " + d for d in diff(logs["run-on"][r] - logs["run-off"][r],
                                                logs["train-synthetic"][r] - Counter(START))]
        if logs["run-off"][r] - logs["run-on"][r]: bad.append(f"rank {r}: run-off sent what run-on did not")
    verdict(not bad, "run-on: baseline_plain = true adds exactly one training's messages (so the probe sees a "
            "plaintext training when there is one)", *bad)
else:
    verdict(False, "fesf run: missing probe logs")
PYEOF
rc=$?
tab=$(printf '\t')
while IFS="$tab" read -r v d; do
    case $v in
        ok) ok "$d" ;;
        nok) nok "$d" ;;
        *) echo "#   $d" ;;
    esac
done <"$TMP/verdicts"
[ $rc -eq 0 ] || { nok "the checker failed (exit $rc)"; grep -v "$tab" "$TMP/verdicts" | tail -8 | sed 's/^/#   /'; }
echo "1..$_n"
