"""What the coordinator receives under secure aggregation (tests/e2e/secagg.sh).

usage: secagg_wire.py SECURE_DUMP PLAIN_DUMP

Each folder holds the messages the site ranks sent towards rank 0, one file
each, as tests/tools/pmpi_sizes.c writes them with FESF_PMPI_DUMP
(train-rR-NNNNN-TYPE.bin). Prints TAP lines:
- every masked message (MPI_UINT64_T) of at least 4 KiB passes a chi-square
  test of uniform bytes (255 degrees of freedom, Wilson-Hilferty p-value,
  Bonferroni over the messages at a 1e-3 family level); the short masked sums
  (normalisation moments, class counts, the public keys) pooled into one test;
- the same test rejects the plain run's model updates (MPI_FLOAT): it has power;
- no masked update is close to the plain run's update of the same rank and round:
  decoded as fixed point (int64 / 2^32) its correlation with the plain floats
  is below 0.05 and no more than chance of its entries equal theirs to 1e-6;
- what is not masked is named: the sites' evaluation figures and the pooled statistics (MPI_DOUBLE).
"""
import glob
import math
import os
import re
import sys

import numpy as np

secure_dir, plain_dir = sys.argv[1], sys.argv[2]
n_tap = 0


def tap(good, what):
    global n_tap
    n_tap += 1
    print(("ok" if good else "not ok") + f" {n_tap} - {what}")


def messages(folder):
    out = []
    for p in sorted(glob.glob(os.path.join(folder, "*.bin"))):
        m = re.match(r"(\w+)-r(\d+)-(\d+)-(\w+)\.bin$", os.path.basename(p))
        if m:
            out.append((int(m.group(2)), int(m.group(3)), m.group(4), np.fromfile(p, dtype=np.uint8)))
    return out


def chi2_p(data):
    """p-value of the chi-square statistic of the byte histogram against uniform."""
    counts = np.bincount(data, minlength=256).astype(np.float64)
    e = data.size / 256.0
    x = float(((counts - e) ** 2 / e).sum())
    k = 255.0
    z = ((x / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return 0.5 * math.erfc(z / math.sqrt(2)), x


sec, plain = messages(secure_dir), messages(plain_dir)
masked = [m for m in sec if m[2] == "MPI_UINT64_T"]
# the public keys (not secret) go through rank 0 as a sum of [ranks][32] bytes, each rank's own slot
# filled: each rank's first masked-type message
ranks = sorted({m[0] for m in sec})
keys = [min((m for m in masked if m[0] == r), key=lambda m: m[1]) for r in ranks]
tap(all(k[3].size == 32 * (len(ranks) + 1) for k in keys), f"each rank's first 64-bit message: the public keys ({len(keys)})")
masked = [m for m in masked if not any(m is k for k in keys)]
big = [m for m in masked if m[3].size >= 4096]
small = [m for m in masked if m[3].size < 4096]
# the rounds' updates are the largest messages of each run (the model and its buffers, loss, images)
upd_size = max((m[3].size for m in masked), default=0)
updates = [m for m in masked if m[3].size == upd_size]
tap(len(updates) > 0, f"masked model updates on the wire: {len(updates)} of {len(masked)} masked messages")
level = 1e-3 / max(len(big), 1)
worst = min((chi2_p(m[3])[0] for m in big), default=1.0)
tap(worst > level, f"every masked message of >= 4 KiB ({len(big)}) has uniform bytes: smallest chi-square p {worst:.3g} "
    f"(family level 1e-3, per message {level:.2g})")
# the short masked sums (normalisation moments, class counts): too short for a byte test each, so
# pooled, and word by word: a masked word is below 2^48 in magnitude with probability 2^-15, every
# plain one (a count or a moment times 2^16) is
pooled = np.concatenate([m[3] for m in small]) if small else np.zeros(0, np.uint8)
p_small, _ = chi2_p(pooled) if pooled.size else (1.0, 0)
words = np.abs(pooled.view(np.int64).astype(np.float64)) if pooled.size else np.zeros(0)
tap(len(small) >= 2 * len(ranks) and p_small > 1e-3 and not (words < 2.0**48).any(),
    f"the {len(small)} short masked sums ({pooled.size} bytes): pooled chi-square p {p_small:.3g}, "
    f"{int((words < 2.0**48).sum())} of {words.size} words below 2^48 in magnitude")
# what still travels in the clear, by type: the shards' metadata records (int64), the image shape
# and the shard it came from (6 int64 as bytes: C, H, W, classes, the shard, D; from that shard's rank), the per-site training counts,
# the sites' evaluation figures and the pooled evaluation statistics (doubles)
clear = {}
for m in sec:
    if m[2] != "MPI_UINT64_T":
        clear.setdefault(m[2], set()).add(m[3].size)
tap(set(clear) <= {"MPI_DOUBLE", "MPI_INT64_T", "MPI_BYTE"} and max(clear.get("MPI_BYTE", {0})) <= 48,
    "what still travels unmasked: " + "; ".join(f"{t} of {sorted(s)} bytes" for t, s in sorted(clear.items()))
    + " (shard metadata records, the image shape, per-site training counts and evaluation statistics)")

plain_f = [m for m in plain if m[2] == "MPI_FLOAT"]
plain_upd = [m for m in plain_f if m[3].size == max(x[3].size for x in plain_f)]
p_plain = max((chi2_p(m[3])[0] for m in plain_upd), default=1.0)
tap(plain_upd and p_plain < 1e-6, f"the same test rejects every plain update ({len(plain_upd)}): largest p {p_plain:.3g}")

# match the rank's k-th update in both runs
def by_rank(ms):
    d = {}
    for r, seq, _, data in ms:
        d.setdefault(r, []).append(data)
    return d


su, pu = by_rank(updates), by_rank(plain_upd)
corr, eq, pairs = 0.0, 0.0, 0
for r in su:
    for a, b in zip(su[r], pu.get(r, [])):
        dec = a.view(np.int64).astype(np.float64) / 2.0**32
        pf = b.view(np.float32).astype(np.float64)
        n = min(dec.size, pf.size)
        c = abs(np.corrcoef(dec[:n], pf[:n])[0, 1])
        corr = max(corr, c)
        eq = max(eq, float(np.mean(np.abs(dec[:n] - pf[:n]) < 1e-6)))
        pairs += 1
tap(pairs > 0 and corr < 0.05 and eq < 1e-3,
    f"no masked update resembles the plain one ({pairs} pairs): largest |correlation| {corr:.2g}, "
    f"largest share of entries within 1e-6 {eq:.2g}")
