#!/usr/bin/python3
"""Independent NumPy/h5py recomputation of `fesf audit`'s scores (src/audit/audit.c),
from the run folder's files alone, checked against run.out/audit.tsv
(used by tests/e2e/audit.sh).

  audit_ref.py baselines RUN [TOL]
      For every target in audit.tsv (synthetic, surrogate) and every row (each
      site and "all"): the number of test images and the baselines' mean PSNR and
      SSIM against the plaintext test images:
        prior     the mean of hosts.h5 /images (float64 mean, stored as float32)
        host      hosts.h5 /images[host_index], host_index from the shard's
                  /synthetic attributes (fixed host mode only; in random mode
                  the host columns are not compared)
        released  /TARGET/test/images itself (unclipped)
      plaintext: /plain/test/images, uint8 / 255 (or float as stored).
      PSNR: 10 log10(1 / MSE), data range 1, capped at 100 dB for identical
      images; SSIM: tests/py/quality_ref.py (NumPy restatement of skimage's
      structural_similarity, gaussian_weights, sigma 1.5, population moments,
      data range 1, 5-pixel crop), mean over channels. "all" = mean over every
      test image of every site. Fails if any value differs by more than TOL
      (absolute, default 1e-4).

  audit_ref.py attack RUN [TOL]
      The attack column: rebuilds the attacker (attack-cnn) in PyTorch from
      audit-TARGET.h5 (params and BN running statistics, eval mode), reconstructs
      each site's released test images, clips to [0, 1] and scores as above
      (default TOL 1e-3: float32 convolutions in a different order).

Prints one summary line; exit status 0 when everything matches, 1 otherwise.
Run with /usr/bin/python3 (numpy, h5py; torch for 'attack').
"""
import glob
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality_ref import ssim  # noqa: E402

COLS = ["images", "psnr_attack", "ssim_attack", "psnr_prior", "ssim_prior", "psnr_host", "ssim_host",
        "psnr_released", "ssim_released", "advantage_db", "advantage_ssim", "reid_top1", "reid_top5", "chance_top1",
        "chance_top5", "mia_auc", "mia_tpr_1pct", "mia_tpr_01pct"]


def num(s):
    """A column value; "nan", "-" or empty (no such baseline) read as NaN."""
    try:
        return float(s)
    except ValueError:
        return float("nan")


def read_tsv(path):
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("# fesf audit config_hash="), lines[0]
    head = lines[1].split("\t")
    assert head == ["target", "site"] + COLS, head
    rows = {}
    for line in lines[2:]:
        v = line.split("\t")
        rows[(v[0], v[1])] = dict(zip(COLS, map(num, v[2:])))
    return rows


def psnr(a, b):
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 100.0 if mse == 0 else 10 * np.log10(1.0 / mse)


def plaintext(f):
    x = f["plain/test/images"][()]
    return x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)


def site_files(run):
    return sorted(glob.glob(os.path.join(run, "site-[0-9][0-9][0-9].h5")))


def compare(rows, ref, cols, tol):
    """ref[(target, site)] = {col: value}; returns (worst difference, list of failures)."""
    worst, bad = 0.0, []
    for key, vals in ref.items():
        if key not in rows:
            bad.append(f"{key}: row missing from audit.tsv")
            continue
        for c in cols:
            d = abs(rows[key][c] - vals[c])
            worst = max(worst, d)
            if not d <= tol:
                bad.append(f"{key[0]} site {key[1]} {c}: audit.tsv {rows[key][c]:.6f}, reference {vals[c]:.6f}")
    return worst, bad


def pooled(per_site):
    n = sum(v["images"] for v in per_site)
    out = {"images": n}
    for c in per_site[0]:
        if c != "images":
            out[c] = sum(v[c] * v["images"] for v in per_site) / n
    return out


def baselines(run, tol):
    rows = read_tsv(os.path.join(run, "audit.tsv"))
    targets = sorted({t for t, _ in rows}, key=["synthetic", "surrogate"].index)
    pub = h5py.File(os.path.join(run, "hosts.h5"), "r")["images"][()].astype(np.float64)
    prior = pub.mean(axis=0).astype(np.float32)
    ref, fixed = {}, True
    for t in targets:
        per_site = []
        for p in site_files(run):
            with h5py.File(p, "r") as f:
                site = str(int(f.attrs["site_id"]))
                a = f["synthetic"].attrs
                fixed = str(a["host_mode"]) == "fixed"
                host = pub[int(a["host_index"])].astype(np.float32) if fixed else None
                x, rel = plaintext(f), f[f"{t}/test/images"][()]
            assert rel.shape == x.shape, (p, t, rel.shape, x.shape)
            s = {"images": len(x), "psnr_prior": 0.0, "ssim_prior": 0.0, "psnr_host": 0.0, "ssim_host": 0.0,
                 "psnr_released": 0.0, "ssim_released": 0.0}
            for xi, ri in zip(x, rel):
                xi64 = xi.astype(np.float64)
                s["psnr_prior"] += psnr(prior, xi)
                s["ssim_prior"] += ssim(prior.astype(np.float64), xi64)
                if fixed:
                    s["psnr_host"] += psnr(host, xi)
                    s["ssim_host"] += ssim(host.astype(np.float64), xi64)
                s["psnr_released"] += psnr(ri, xi)
                s["ssim_released"] += ssim(ri.astype(np.float64), xi64)
            for c in s:
                if c != "images":
                    s[c] /= len(x)
            ref[(t, site)] = s
            per_site.append(s)
        ref[(t, "all")] = pooled(per_site)
    cols = ["images", "psnr_prior", "ssim_prior", "psnr_released", "ssim_released"]
    if fixed:
        cols += ["psnr_host", "ssim_host"]
    worst, bad = compare(rows, ref, cols, tol)
    for b in bad:
        print(b)
    n = {t: int(ref[(t, "all")]["images"]) for t in targets}
    print(f"{len(ref)} rows ({', '.join(f'{t} {k} images' for t, k in n.items())}), "
          f"{len(cols)} columns, max abs difference {worst:.2e}")
    return 0 if not bad else 1


def attack(run, tol):
    import torch
    import torch.nn as nn

    torch.set_num_threads(1)
    rows = read_tsv(os.path.join(run, "audit.tsv"))
    targets = sorted({t for t, _ in rows}, key=["synthetic", "surrogate"].index)
    ref = {}
    for t in targets:
        m = h5py.File(os.path.join(run, f"audit-{t}.h5"), "r")
        arch = m.attrs["arch"]
        arch = arch.decode() if isinstance(arch, bytes) else str(arch)
        kv = dict(w.split("=") for w in arch.split()[1:])
        width = int(kv["width"])
        c = int(kv["input"].split("x")[0])
        layers = []
        cin = c
        for l in range(1, 8):
            conv, bn = nn.Conv2d(cin, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)
            conv.weight.data = torch.from_numpy(m[f"params/conv{l}/weight"][()])
            bn.weight.data = torch.from_numpy(m[f"params/bn{l}/weight"][()])
            bn.bias.data = torch.from_numpy(m[f"params/bn{l}/bias"][()])
            bn.running_mean.data = torch.from_numpy(m[f"buffers/bn{l}/running_mean"][()])
            bn.running_var.data = torch.from_numpy(m[f"buffers/bn{l}/running_var"][()])
            layers += [conv, bn, nn.ReLU()]
            cin = width
        out = nn.Conv2d(width, c, 3, 1, 1, bias=True)
        out.weight.data = torch.from_numpy(m[f"params/out/weight"][()])
        out.bias.data = torch.from_numpy(m[f"params/out/bias"][()])
        net = nn.Sequential(*layers, out).eval()
        per_site = []
        for p in site_files(run):
            with h5py.File(p, "r") as f:
                site = str(int(f.attrs["site_id"]))
                x, rel = plaintext(f), f[f"{t}/test/images"][()]
            with torch.no_grad():
                rec = net(torch.from_numpy(rel.astype(np.float32))).clamp(0, 1).numpy()
            s = {"images": len(x), "psnr_attack": 0.0, "ssim_attack": 0.0}
            for xi, ri in zip(x, rec):
                s["psnr_attack"] += psnr(ri, xi)
                s["ssim_attack"] += ssim(ri.astype(np.float64), xi.astype(np.float64))
            s["psnr_attack"] /= len(x)
            s["ssim_attack"] /= len(x)
            ref[(t, site)] = s
            per_site.append(s)
        ref[(t, "all")] = pooled(per_site)
    worst, bad = compare(rows, ref, ["images", "psnr_attack", "ssim_attack"], tol)
    for b in bad:
        print(b)
    print(f"{len(ref)} rows, attack PSNR/SSIM from a PyTorch rebuild of the saved attackers, "
          f"max abs difference {worst:.2e}")
    return 0 if not bad else 1


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("baselines", "attack"):
        sys.exit(__doc__)
    mode, run = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else (1e-4 if mode == "baselines" else 1e-3)
    sys.exit(baselines(run, tol) if mode == "baselines" else attack(run, tol))
