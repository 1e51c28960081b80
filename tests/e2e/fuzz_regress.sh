# The fuzz harnesses' inputs as regression tests (tests/fuzz/README.md): the seeds (made fresh) and
# every committed regression input (tests/fuzz/regressions/NAME/) through the harnesses built as plain
# replayers (tests/fuzz/replay.c; under make check SAN=1 with the sanitizers), then 400 seeded
# random mutations of the config and .npz seeds (byte flips, truncations, insertions). Each must end
# with exit 0: every bad input refused, none crashing. Shards are not mutated here: libhdf5 1.10.8
# hangs on some corrupt files (docs/reliability.md, "Fuzzing"); make fuzz covers them.
. tests/lib.sh
check "seeds" sh tests/fuzz/seeds.sh "$TMP/seeds" "$FESF"
for name in ini npz shard; do
    dirs="$TMP/seeds/$name"
    [ -d "tests/fuzz/regressions/$name" ] && dirs="$dirs tests/fuzz/regressions/$name"
    # shellcheck disable=SC2086
    if timeout 300 "$TOOLS/replay_$name" $dirs >"$TMP/r" 2>&1; then ok "$name: $(tail -1 "$TMP/r") (seeds and regressions)"
    else nok "$name: replay failed"; tail -20 "$TMP/r" | sed 's/^/#   /'; fi
done
$PY - "$TMP" <<'PYEOF'
import os, random, sys
tmp = sys.argv[1]
rng = random.Random(16)
for name in ("ini", "npz"):
    seeds = [open(os.path.join(tmp, "seeds", name, f), "rb").read() for f in sorted(os.listdir(os.path.join(tmp, "seeds", name)))]
    out = os.path.join(tmp, "mut", name)
    os.makedirs(out)
    for i in range(200):
        b = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            op, at = rng.random(), rng.randrange(len(b))
            if op < 0.6: b[at] = rng.randrange(256)
            elif op < 0.8: b = b[:at]
            else: b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            if not b: b = bytearray(b"[")
        open(os.path.join(out, f"{i:03d}"), "wb").write(b)
PYEOF
for name in ini npz; do
    if timeout 300 "$TOOLS/replay_$name" "$TMP/mut/$name" >"$TMP/r" 2>&1; then ok "$name: $(tail -1 "$TMP/r") (seeded mutations)"
    else nok "$name: a mutated input failed"; tail -20 "$TMP/r" | sed 's/^/#   /'; fi
done
