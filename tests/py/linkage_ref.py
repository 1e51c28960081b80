#!/usr/bin/python3
"""Independent NumPy/h5py recomputation of `fesf audit`'s linkage attack
(src/audit/linkage.c), from the run folder's files alone, checked against the
linkage columns of run.out/audit.tsv (used by tests/e2e/audit.sh).

  linkage_ref.py RUN [TOL]

The attacker, restated from the equations (README, "What the audit measures"):
  feature   log(|rfft2(image)| + eps) at the bins of the attacked pass's mask
            (alpha for /synthetic, alpha2 for /surrogate; the half spectrum,
            columns 0..W/2), every channel; eps = 1e-6 H W; for volumes
            [N, C, D, H, W] |rfftn| over D, H, W, the 3-D mask, eps = 1e-6 D H W
  simulate  L(g, b) = log((1 - b) A_ref + b |rfft2(g)| + eps) for each gallery
            image g and b on the beta grid (9 points over [beta_min, beta_max]
            when it is a range, else the single beta); A_ref = the host's
            amplitude (/synthetic; with a host per image, each released image's
            own host from /synthetic/test/host_index); for /surrogate only
            beta2 = 1 is recomputed here (A_ref drops out; G is not rebuilt)
  distance  d(q, g) = min over b of the mean over bins of (L_q - L(g, b))^2
  gallery   the site's plaintext test images, then hosts.h5 /images
  top-k     expected share of released test images whose own plaintext ranks
            in the first k, ties broken at random: with b gallery images
            strictly closer and t others as close, min(1, max(0, (k - b) / (t + 1)))
  membership  score of a gallery image: its smallest d over the site's released
            test images; members = the test images, non-members = the public
            images; AUC = P(d_mem < d_non) + P(=)/2; TPR at FPR f: k = floor(f n_non),
            share of members strictly below the (k+1)-th smallest non-member
            (1 when k >= n_non)
  pooled    top-k and chance over every test image; membership over the
            concatenated scores of every site.
Rows are compared with TOL (default 0.021 for rates: one image in fifty may
flip on a float32 near-tie; 0.01 for AUC). Prints one summary line; exit 0
when everything matches, 1 otherwise.
"""
import glob
import math
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ihm_ref import lowpass_mask  # noqa: E402
from ihm3d_crosscheck import mask3  # noqa: E402  (volumes: the 3-D cuboid or ellipsoid mask)

COLS = ["reid_top1", "reid_top5", "chance_top1", "chance_top5", "mia_auc", "mia_tpr_1pct", "mia_tpr_01pct"]
GRID = 9


def images(d):
    x = d[()]
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def amplitude(x, mask):
    """|rfft2| (|rfftn| over D, H, W for volumes) at the mask's half-spectrum bins: [n, C * bins] (float64)."""
    W = x.shape[-1]
    half = mask[..., : W // 2 + 1]
    axes = tuple(range(-mask.ndim, 0))
    F = np.abs(np.fft.rfftn(x, axes=axes))
    return F[..., half].reshape(len(x), -1)


def feature_mask(shape, alpha, kind):
    """The attacked pass's mask for items of shape [..., (D,) H, W] (5-D shards hold volumes)."""
    return mask3(*shape[-3:], alpha, kind) if len(shape) == 5 else lowpass_mask(*shape[-2:], alpha, kind)


def read_tsv(path):
    lines = open(path).read().splitlines()
    head = lines[1].split("\t")
    rows = {}
    for l in lines[2:]:
        v = l.split("\t")
        rows[(v[0], v[1])] = dict(zip(head[2:], map(float, v[2:])))
    return rows


def site_attack(f, target, pub, eps):
    syn = f["synthetic"]
    sur = target == "surrogate"
    alpha = float(f["surrogate"].attrs["alpha2"]) if sur else float(syn.attrs["alpha"])
    mask = feature_mask(f["plain/test/images"].shape, alpha, syn.attrs["mask"].decode()
                        if isinstance(syn.attrs["mask"], bytes) else str(syn.attrs["mask"]))
    if sur:
        betas = np.array([1.0])
    else:
        lo, hi = float(syn.attrs["beta_min"]), float(syn.attrs["beta_max"])
        betas = np.array([lo]) if lo >= hi else lo + (hi - lo) * np.arange(GRID) / (GRID - 1)
    x = images(f["plain/test/images"])
    rel = images(f[target + "/test/images"])
    n = len(x)
    gal = np.concatenate([amplitude(x, mask), amplitude(pub, mask)])
    lq = np.log(amplitude(rel, mask) + eps)
    mode = syn.attrs["host_mode"]
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    host_amp = amplitude(pub, mask)
    if mode == "fixed":
        hosts = np.full(n, int(syn.attrs["host_index"]))
    else:
        hosts = syn["test/host_index"][()]
    top1 = top5 = 0
    member = np.full(n, np.inf)
    nonmember = np.full(len(pub), np.inf)
    for q in range(n):
        ref = gal if sur else host_amp[hosts[q]][None, :]
        d = np.full(len(gal), np.inf)
        for b in betas:
            L = np.log((1 - b) * ref + b * gal + eps)
            d = np.minimum(d, np.mean((lq[q][None, :] - L) ** 2, axis=1))
        better = int(np.sum(d < d[q]))
        ties = int(np.sum(d == d[q])) - 1
        top1 += min(1.0, max(0.0, (1 - better) / (ties + 1)))
        top5 += min(1.0, max(0.0, (5 - better) / (ties + 1)))
        member = np.minimum(member, d[:n])
        nonmember = np.minimum(nonmember, d[n:])
    ng = len(gal)
    return dict(n=n, top1=top1, top5=top5, c1=n / ng, c5=n * min(5, ng) / ng, mem=member, non=nonmember)


def auc(mem, non):
    lt = (mem[:, None] < non[None, :]).sum()
    eq = (mem[:, None] == non[None, :]).sum()
    return (lt + 0.5 * eq) / (len(mem) * len(non))


def tpr_at(mem, non, fpr):
    k = int(math.floor(fpr * len(non) + 1e-9))
    if k >= len(non):
        return 1.0
    return float(np.mean(mem < np.sort(non)[k]))


def figures(parts):
    n = sum(p["n"] for p in parts)
    mem = np.concatenate([p["mem"] for p in parts])
    non = np.concatenate([p["non"] for p in parts])
    return {"reid_top1": sum(p["top1"] for p in parts) / n, "reid_top5": sum(p["top5"] for p in parts) / n,
            "chance_top1": sum(p["c1"] for p in parts) / n, "chance_top5": sum(p["c5"] for p in parts) / n,
            "mia_auc": auc(mem, non), "mia_tpr_1pct": tpr_at(mem, non, 0.01), "mia_tpr_01pct": tpr_at(mem, non, 0.001)}


def main(argv):
    run = argv[1]
    tol = float(argv[2]) if len(argv) > 2 else 0.021
    rows = read_tsv(os.path.join(run, "audit.tsv"))
    with h5py.File(os.path.join(run, "hosts.h5"), "r") as h:
        pub = h["images"][()].astype(np.float64)
    bad, checked, summary = [], 0, []
    for target in ("synthetic", "surrogate"):
        if (target, "all") not in rows:
            continue
        if target == "surrogate" and not all(float(h5py.File(p, "r")["surrogate"].attrs["beta2_min"]) == 1.0
                                             for p in glob.glob(os.path.join(run, "site-*.h5"))):
            summary.append("surrogate not recomputed: beta2 < 1 needs G")
            continue
        parts = {}
        for path in sorted(glob.glob(os.path.join(run, "site-*.h5"))):
            with h5py.File(path, "r") as f:
                shape = f["plain/test/images"].shape  # eps = 1e-6 (D) H W
                eps = 1e-6 * float(np.prod(shape[2:]))
                parts[str(int(f.attrs["site_id"]))] = site_attack(f, target, pub, eps)
        for site, ref in [("all", figures(list(parts.values())))] + [(s, figures([p])) for s, p in parts.items()]:
            got = rows.get((target, site))
            if got is None:
                bad.append("%s %s: row missing" % (target, site))
                continue
            for c in COLS:
                t = 0.01 if c == "mia_auc" else tol
                checked += 1
                if not abs(got[c] - ref[c]) <= t:
                    bad.append("%s %s %s: audit.tsv %.4f, reference %.4f" % (target, site, c, got[c], ref[c]))
        a = figures(list(parts.values()))
        summary.append("%s top-1 %.3f AUC %.3f TPR@1%% %.3f" % (target, a["reid_top1"], a["mia_auc"], a["mia_tpr_1pct"]))
    if bad:
        print("linkage differs from the NumPy reference:\n  " + "\n  ".join(bad))
        return 1
    if not checked:
        print("no linkage rows in audit.tsv")
        return 1
    print("%d linkage figures = NumPy (%s)" % (checked, "; ".join(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
