#!/usr/bin/python3
"""The enhance stage on volumes against an independent PyTorch + NumPy one.

Usage: surrogate3d_check.py RUN_DIR MASK
G is rebuilt in PyTorch from iqem.h5 (float64): the IQEM generator of
src/nn/model_build.c in 3-D, G(s) = s + tanh(out(relu(in(dec(up(res(res(
relu(in(enc2(relu(in(enc1(s))))))))))))), with Conv3d 3x3x3 (bias),
affine InstanceNorm3d (eps 1e-5), nearest upsampling by 2 and two residual
blocks. For every shard: /surrogate/{split} must be the NumPy 3-D IHM
(ihm3d_crosscheck.py's ihm3) of /plain's volume with G(/synthetic's volume)
as its host, alpha2 and beta2 as the shard records them, to 1e-3 max abs
(fesf's G runs in float32). Prints TAP.
"""
import glob
import os
import sys

import h5py
import numpy as np
import torch
torch.set_num_threads(1)  # noqa: E402  (the test runs beside others)
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ihm3d_crosscheck import ihm3, tap  # noqa: E402


def _block(**mods):
    m = nn.Module()
    for k, v in mods.items():
        setattr(m, k, v)
    return m


class IqemG3d(nn.Module):
    """fesf's tensor names as module paths (enc1.conv.weight, res0.norm1.bias, ...)."""

    def __init__(self, c, w):
        super().__init__()
        conv = lambda i, o, s=1: nn.Conv3d(i, o, 3, s, 1, bias=True)  # noqa: E731
        norm = lambda n: nn.InstanceNorm3d(n, affine=True, eps=1e-5)  # noqa: E731
        self.enc1, self.enc2 = _block(conv=conv(c, w), norm=norm(w)), _block(conv=conv(w, 2 * w, 2), norm=norm(2 * w))
        for b in range(2):
            setattr(self, f"res{b}", _block(conv1=conv(2 * w, 2 * w), norm1=norm(2 * w), conv2=conv(2 * w, 2 * w),
                                            norm2=norm(2 * w)))
        self.dec, self.out = _block(conv=conv(2 * w, w), norm=norm(w)), _block(conv=conv(w, c))

    def forward(self, s):
        x = F.relu(self.enc1.norm(self.enc1.conv(s)))
        x = F.relu(self.enc2.norm(self.enc2.conv(x)))
        for r in (self.res0, self.res1):
            x = x + r.norm2(r.conv2(F.relu(r.norm1(r.conv1(x)))))
        x = F.relu(self.dec.norm(self.dec.conv(F.interpolate(x, scale_factor=2, mode="nearest"))))
        return s + torch.tanh(self.out.conv(x))


def load_g(path):
    with h5py.File(path, "r") as f:
        arch = f.attrs["arch"]
        arch = arch.decode() if isinstance(arch, bytes) else str(arch)
        state = {f"{layer}.{name}": torch.from_numpy(np.array(d[()], dtype=np.float64))
                 for layer, g in f["params"].items() for name, d in g.items()}
    width, c = int(arch.split("width=")[1].split()[0]), int(arch.split("input=")[1].split("x")[0])
    g = IqemG3d(c, width).double()
    g.load_state_dict(state, strict=True)
    return g.eval(), arch


def main():
    run, mask = sys.argv[1], sys.argv[2]
    g, arch = load_g(os.path.join(run, "iqem.h5"))
    tap(arch.startswith("iqem-g ") and arch.count("x") == 3, f"iqem.h5 holds a 3-D generator: '{arch}'")
    for path in sorted(glob.glob(os.path.join(run, "site-*.h5"))):
        worst, n = 0.0, 0
        with h5py.File(path, "r") as f:
            alpha, beta = float(f["surrogate"].attrs["alpha2"]), float(f["surrogate"].attrs["beta2_max"])
            for split in ("train", "val", "test"):
                plain = f[f"plain/{split}/images"][()]
                syn = f[f"synthetic/{split}/images"][()]
                sur = f[f"surrogate/{split}/images"][()]
                if sur.shape != plain.shape or sur.dtype != np.float32:
                    tap(False, f"{os.path.basename(path)} {split}: surrogate {sur.shape} {sur.dtype}")
                    continue
                x = plain.astype(np.float64) / 255.0 if plain.dtype == np.uint8 else plain.astype(np.float64)
                with torch.no_grad():  # in batches of 16 (the activations of 28^3 volumes are large)
                    host = np.concatenate([g(torch.from_numpy(syn[k:k + 16].astype(np.float64))).numpy()
                                           for k in range(0, len(syn), 16)]) if len(syn) else syn
                for i in range(len(x)):
                    ref = ihm3(x[i:i + 1], host[i], alpha, beta, mask)
                    worst = max(worst, float(np.abs(ref - sur[i:i + 1]).max()))
                n += len(x)
        tap(worst <= 1e-3, f"{os.path.basename(path)}: {n} surrogate volumes = NumPy 3-D IHM of the plaintext with "
            f"PyTorch's G(synthetic) as host (alpha2 {alpha:.3g}, beta2 {beta:.3g}), max abs {worst:.2e}")


if __name__ == "__main__":
    main()
