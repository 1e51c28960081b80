"""The hide stage on volumes against the independent NumPy 3-D IHM.

Usage: volume_check.py RUN_DIR ALPHA BETA MASK
For every shard of RUN_DIR: /synthetic/{split}/images [N, 1, D, H, W] must be
the NumPy IHM (tests/py/ihm3d_crosscheck.py's ihm3) of /plain's volumes (uint8
widened as x / 255) with hosts.h5's host (row host_index, or each volume's
/synthetic/.../host_index in random mode), to 1e-4 max abs. Prints TAP lines.
"""
import glob
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ihm3d_crosscheck import ihm3, tap  # noqa: E402


def check_shard(path, hosts, alpha, beta, mask):
    worst, n = 0.0, 0
    with h5py.File(path, "r") as f:
        index = int(f.attrs["host_index"])
        for split in ("train", "val", "test"):
            plain = f[f"plain/{split}/images"][()]
            syn = f[f"synthetic/{split}/images"][()]
            if syn.shape != plain.shape or syn.dtype != np.float32:
                return tap(False, f"{os.path.basename(path)} {split}: synthetic {syn.shape} {syn.dtype}")
            x = plain.astype(np.float64) / 255.0 if plain.dtype == np.uint8 else plain.astype(np.float64)
            per = f[f"synthetic/{split}/host_index"][()] if index < 0 else np.full(len(x), index)
            for i in range(len(x)):
                ref = ihm3(x[i:i + 1], hosts[per[i]], alpha, beta, mask)
                worst = max(worst, float(np.abs(ref - syn[i:i + 1]).max()))
            n += len(x)
    return tap(worst <= 1e-4, f"{os.path.basename(path)}: {n} synthetic volumes = NumPy 3-D IHM "
               f"(alpha {alpha}, beta {beta}, {mask}), max abs {worst:.2e}")


def main():
    run, alpha, beta, mask = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    with h5py.File(os.path.join(run, "hosts.h5"), "r") as f:
        hosts = f["images"][()].astype(np.float64)
    ok = True
    for path in sorted(glob.glob(os.path.join(run, "site-*.h5"))):
        ok &= check_shard(path, hosts, alpha, beta, mask)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
