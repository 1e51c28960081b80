"""The first 48 / 12 / 12 volumes (or images) of a MedMNIST-style .npz's
train / val / test splits as another .npz: SMALL_NPZ.py SRC DST. Tests of
the slow 3-D stages (the IQEM's GAN) run on it in seconds."""
import sys

import numpy as np

z = np.load(sys.argv[1])
np.savez(sys.argv[2], **{f"{s}_{k}": z[f"{s}_{k}"][:n] for s, n in (("train", 48), ("val", 12), ("test", 12))
                         for k in ("images", "labels")})
