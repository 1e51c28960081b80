# Crash-safe outputs (issue 16): a disk that fills up (a small tmpfs) or a file-size limit (RLIMIT_FSIZE,
# `ulimit -f`) in the middle of writing a shard (prepare, hide), a checkpoint, a model or a report
# ends the command with one line naming the file and the system's reason, leaves every earlier file as
# it was (md5) and no NAME.tmp; a flipped byte in the data of a shard or a checkpoint is reported as a
# failed checksum (Fletcher32), not trained on. docs/reliability.md lists them.
. tests/lib.sh
S="--set run.log=error --set data.size=28 --set data.count=200 --set data.sites=3" # errors only (no -q: it would win)

# snap DIR [SKIP]: md5 of every file below DIR (but the filler, and files matching SKIP) into $TMP/before
sums() { (cd "$1" && find . -type f ! -name fill | sort | xargs md5sum) | grep -v "${2:-^$}"; }
snap() { sums "$1" "${2:-}" >"$TMP/before"; }
# kept DIR WHAT [SKIP]: every file as it was at snap (md5), no .tmp left
kept() {
    sums "$1" "${3:-}" >"$TMP/after"
    if cmp -s "$TMP/before" "$TMP/after" && ! find "$1" -name '*.tmp' | grep -q .; then
        ok "  $2: every earlier file as it was (md5), no .tmp"
    else
        nok "  $2: files changed or .tmp left"
        diff "$TMP/before" "$TMP/after" | sed 's/^/#   /' | head -10
        find "$1" -name '*.tmp' | sed 's/^/#   left: /'
    fi
}
# limit BYTES CMD...: CMD under a file-size limit of BYTES, with SIGXFSZ at its default action (fesf
# must ignore it itself, so that write() fails with EFBIG instead of the signal killing it). PMIx's
# shared-memory store (a file larger than the limit) is replaced by its hash store.
limit() {
    _b=$1; shift
    PMIX_MCA_gds=hash $PY -c 'import os, sys, signal, resource
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
b = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_FSIZE, (b, b)); os.execv(sys.argv[2], sys.argv[2:])' "$_b" "$@"
}

# ---- a full disk: a small tmpfs ----------------------------------------------------------------------
DISK=$TMP/disk
mkdir -p "$DISK"
if mount -t tmpfs -o size=4m,mode=0700 tmpfs "$DISK" 2>/dev/null; then
    trap 'umount "$DISK" 2>/dev/null; rm -rf "$TMP"' EXIT
    R=$DISK/run
    # fill KB: the tmpfs with KB kilobytes left (the filler is not part of the run)
    fill() {
        rm -f "$DISK/fill"
        _free=$(df -k --output=avail "$DISK" | tail -1)
        dd if=/dev/zero of="$DISK/fill" bs=1k count=$((_free - $1)) 2>/dev/null
    }
    check "prepare 3 sites on a 4 MB tmpfs" "$FESF" prepare $S --set run.out="$R"
    snap "$R"
    fill 200
    expect_fail "prepare again (more images) with 200 kB left" \
        "cannot write '.*/run/(site-00[1-3]|hosts)\.h5': No space left on device" \
        "$FESF" prepare $S --set run.out="$R" --set data.count=300
    kept "$R" "prepare"

    fill 200 # /plain fits (hide reserves room for its copy first), /synthetic does not
    expect_fail "hide with 200 kB left" "cannot write '.*/run/site-001\.h5': No space left on device" \
        "$FESF" hide -q --set run.out="$R"
    kept "$R" "hide"
    fill 0
    expect_fail "hide with the disk full" "cannot write '.*/run/site-001\.h5': No space left on device" \
        "$FESF" hide -q --set run.out="$R"
    kept "$R" "hide on a full disk"

    rm -f "$DISK/fill"
    T="train -q --set run.out=$R --set train.input=synthetic --set train.rounds=2"
    check "hide, then train with a checkpoint every round" sh -c "'$FESF' hide -q --set run.out='$R' && '$FESF' $T --set run.checkpoint_every=1"
    # metrics.jsonl is the new training's own from its first round on (a line at a time, fsynced)
    snap "$R" metrics.jsonl
    fill 100
    expect_fail "train (another seed) with 100 kB left: its first checkpoint" \
        "cannot write '.*/run/ckpt-0001\.h5': No space left on device" "$FESF" $T --set run.checkpoint_every=1 --set run.seed=7
    kept "$R" "checkpoint (ckpt-0001.h5, ckpt-0002.h5, model.h5, report.md, summary.tsv)" metrics.jsonl
    expect_fail "train without checkpoints with 100 kB left: the model" \
        "cannot write '.*/run/model\.h5': No space left on device" "$FESF" $T --set run.checkpoint_every=0 --set run.seed=7
    kept "$R" "model" metrics.jsonl
    $PY -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$R/metrics.jsonl" \
        && ok "  metrics.jsonl of the failed training: whole lines" || nok "  metrics.jsonl has a broken line"

    # `fesf run` with every stage fresh writes stages.ini (2 kB: one page of the tmpfs, and the old
    # one's is freed by the rename), then report.md (4 kB: two pages), then figures/curves.png
    rm -rf "$DISK/fill" "$R" # room for a run of its own
    RR=$DISK/rep
    O="configs/demo.ini --set run.log=error --set run.out=$RR --set data.size=28 --set data.count=200 --set data.sites=3"
    O="$O --set train.rounds=1 --set iqem.enabled=false --set audit.enabled=false"
    check "fesf run (small, no IQEM, no audit)" "$FESF" run $O
    snap "$RR" stages.ini
    fill 4
    expect_fail "fesf run again with 4 kB left: report.md" "cannot write '.*/rep/report\.md': No space left on device" \
        "$FESF" run $O
    kept "$RR" "report (report.md, figures/curves.png)" stages.ini
    snap "$RR"
    fill 0
    expect_fail "fesf run again with the disk full: stages.ini" "cannot write '.*/rep/stages\.ini': No space left on device" \
        "$FESF" run $O
    kept "$RR" "stages.ini and the report"
    # every file fesf writes is owner-only, through the atomic path too
    m=$(cd "$RR" && stat -c '%a %n' report.md stages.ini figures/curves.png train-plain/* site-001.h5 hosts.h5 | grep -vc '^600 ')
    [ "$m" -eq 0 ] && ok "report.md, stages.ini, curves.png, summary.tsv, metrics.jsonl, model.h5, the shards: mode 0600" \
        || nok "a file is not 0600: $(cd "$RR" && stat -c '%a %n' report.md stages.ini train-plain/* | grep -v '^600 ')"
    rm -f "$DISK/fill"
else
    skip "a full disk (tmpfs): prepare, hide, a checkpoint, a model, report.md, stages.ini" "cannot mount a tmpfs here (not root?): the file-size limit cases below still run"
fi

# ---- a file-size limit (EFBIG) -----------------------------------------------------------------------
R=$TMP/lim
check "prepare 3 sites" "$FESF" prepare $S --set run.out="$R"
snap "$R"
expect_fail "hide under a 200 kB file-size limit" "cannot write '.*/lim/site-001\.h5': File too large" \
    limit 200000 "$FESF" hide -q --set run.out="$R"
kept "$R" "hide under the limit"
T="train -q --set run.out=$R --set train.input=synthetic --set train.rounds=2"
check "hide, then train with a checkpoint every round" sh -c "'$FESF' hide -q --set run.out='$R' && '$FESF' $T --set run.checkpoint_every=1"
snap "$R" metrics.jsonl
expect_fail "train under a 300 kB file-size limit: its first checkpoint" "cannot write '.*/lim/ckpt-0001\.h5': File too large" \
    limit 300000 "$FESF" $T --set run.checkpoint_every=1 --set run.seed=7
kept "$R" "checkpoint under the limit" metrics.jsonl

# ---- metrics.jsonl after a crash in the middle of a line -----------------------------------------------
OK=$TMP/ok
check "a run of its own: prepare, hide, train with a checkpoint every round" sh -c "'$FESF' prepare $S --set run.out='$OK' && \
'$FESF' hide -q --set run.out='$OK' && '$FESF' train -q --set run.out='$OK' --set train.input=synthetic --set train.rounds=2 \
--set run.checkpoint_every=1"
printf '{"repeat": 0, "round": 3, "loss": 0.6' >>"$OK/metrics.jsonl"
check "train --resume after a crash that cut metrics.jsonl's last line" "$FESF" train -q --set run.out="$OK" \
    --set train.input=synthetic --set train.rounds=3 --set run.checkpoint_every=1 --resume
$PY - "$OK/metrics.jsonl" >"$TMP/m" 2>&1 <<'PYEOF' && ok "metrics.jsonl: whole lines, rounds $(cat "$TMP/m") once each" || { nok "metrics.jsonl after the resume"; sed 's/^/#   /' "$TMP/m"; }
import json, sys
rounds = [json.loads(line)["round"] for line in open(sys.argv[1])]
assert rounds == [1, 2, 3], rounds
print(rounds)
PYEOF

# ---- Fletcher32: a flipped byte in a dataset's data --------------------------------------------------
# flip PATH DATASET: invert one byte inside the first chunk of DATASET (h5py >= 3.0, HDF5 >= 1.10.5)
flip() {
    $PY - "$1" "$2" <<'PYEOF' || nok "flip a byte of $2 in $1"
import sys, h5py
path, name = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    d = f[name]
    assert d.fletcher32, f"{name} has no checksum"
    info = d.id.get_chunk_info(0)
    off = info.byte_offset + info.size // 2
with open(path, "r+b") as g:
    g.seek(off); b = g.read(1); g.seek(off); g.write(bytes([b[0] ^ 0xFF]))
PYEOF
}
$PY - "$OK" >"$TMP/f" 2>&1 <<'PYEOF' && ok "checksums on the shards' images and labels (uint8 and float32), hosts.h5, model.h5 and the checkpoints" || { nok "datasets without a checksum"; sed 's/^/#   /' "$TMP/f"; }
import sys, glob, h5py
run = sys.argv[1]
missing = []
for path in sorted(glob.glob(f"{run}/*.h5")):
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: missing.append(f"{path}:{n}") if isinstance(o, h5py.Dataset) and o.size and not o.fletcher32 else None)
assert not missing, missing
PYEOF
rm -rf "$TMP/c1" && cp -r "$OK" "$TMP/c1"
flip "$TMP/c1/site-002.h5" synthetic/train/images
expect_fail "train on a shard with a flipped byte in /synthetic/train/images (float32)" \
    "site 2: '.*/c1/site-002\.h5': dataset '/synthetic/train/images' fails its checksum \(Fletcher32\): the file is corrupt" \
    "$FESF" train -q --set run.out="$TMP/c1" --set train.input=synthetic --set train.rounds=1
rm -rf "$TMP/c2" && cp -r "$OK" "$TMP/c2"
flip "$TMP/c2/site-001.h5" plain/test/images
expect_fail "hide a shard with a flipped byte in /plain/test/images (uint8, compressed)" \
    "'.*/c2/site-001\.h5': dataset '/plain/test/images' fails its checksum \(Fletcher32\): the file is corrupt" \
    "$FESF" hide -q --set run.out="$TMP/c2"
# files written before the checksums (no filter) still read
rm -rf "$TMP/old" && cp -r "$OK" "$TMP/old"
$PY - "$TMP/old" <<'PYEOF' || nok "rewrite without checksums"
import sys, glob, h5py
for path in glob.glob(f"{sys.argv[1]}/site-*.h5"):
    with h5py.File(path, "r+") as f:
        for split in ("train", "val", "test"):
            for kind in ("images", "labels"):
                name = f"synthetic/{split}/{kind}"
                data = f[name][()]
                del f[name]
                f[name] = data  # contiguous, no filter
PYEOF
check "train on shards written without checksums" "$FESF" train -q --set run.out="$TMP/old" --set train.input=synthetic \
    --set train.rounds=1
# last, in place (a checkpoint is resumed only with the config, run.out included, that made it)
flip "$OK/ckpt-0003.h5" params/conv2/weight
expect_fail "resume from a checkpoint with a flipped byte in /params/conv2/weight" \
    "'.*/ok/ckpt-0003\.h5': dataset '/params/conv2/weight' fails its checksum \(Fletcher32\): the file is corrupt" \
    "$FESF" train -q --set run.out="$OK" --set train.input=synthetic --set train.rounds=4 --set run.checkpoint_every=1 --resume
echo "1..$_n"
