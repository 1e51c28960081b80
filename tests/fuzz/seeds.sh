#!/bin/sh
# Seed inputs of the fuzz harnesses, made fresh (nothing binary is committed): DIR/ini (the shipped
# configs), DIR/npz (two tiny MedMNIST-style archives, grey and RGB, written by NumPy), DIR/shard (a
# prepared shard and a hidden one of the phantom, 28 px, a few images).
#   sh tests/fuzz/seeds.sh DIR [FESF]
set -e
DIR=$1 FESF=${2:-bin/fesf}
mkdir -p "$DIR/ini" "$DIR/npz" "$DIR/shard"
cp configs/*.ini "$DIR/ini/"
/usr/bin/python3 - "$DIR/npz" <<'PYEOF'
import sys, numpy as np
rng = np.random.default_rng(0)
for name, shape in (("grey", (8, 8)), ("rgb", (8, 8, 3))):
    arrays = {}
    for split, n in (("train", 5), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n,) + shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, 1), dtype=np.uint8)
    np.savez_compressed(f"{sys.argv[1]}/{name}.npz", **arrays)
PYEOF
tmp=$(mktemp -d)
"$FESF" prepare -q --set data.size=28 --set data.count=24 --set data.sites=1 --set run.out="$tmp" >/dev/null 2>&1
cp "$tmp/site-001.h5" "$DIR/shard/prepared.h5"
"$FESF" hide -q --set data.sites=1 --set run.out="$tmp" >/dev/null 2>&1 && cp "$tmp/site-001.h5" "$DIR/shard/hidden.h5"
rm -rf "$tmp"
