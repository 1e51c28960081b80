#!/usr/bin/python3
"""The keyed IHM release follows the equations (tests/e2e/privacy.sh): for
site 1's test images of RUN, hidden with a host per image, ihm.noise and a
beta range,
  outside the mask  F(release) = F(host) exactly (the host is public);
  inside            |F(release)| = (1 - b) |F(host)| + b |F(x)| exp(sigma z),
so for the image's own b in [beta_min, beta_max] the implied z has sd near 1
(sigma = ihm.noise is read from /synthetic's attributes), and the b that fit
spread over the range. Exit 0 if so; prints one summary line."""
import sys

import h5py
import numpy as np

sys.path.insert(0, "tests/py")
from ihm_ref import lowpass_mask  # noqa: E402

run = sys.argv[1]
f = h5py.File(run + "/site-001.h5", "r")
a = f["synthetic"].attrs
sigma, lo, hi = float(a["noise"]), float(a["beta_min"]), float(a["beta_max"])
x = f["plain/test/images"][()].astype(np.float64)
x = x / 255.0 if f["plain/test/images"].dtype == np.uint8 else x
sy = f["synthetic/test/images"][()].astype(np.float64)
hosts = h5py.File(run + "/hosts.h5", "r")["images"][()].astype(np.float64)[f["synthetic/test/host_index"][()]]
m = lowpass_mask(x.shape[-2], x.shape[-1], float(a["alpha"]))
m[0, 0] = False  # DC: large, fine either way
Fs, Fh, Fx = (np.fft.fft2(v, axes=(-2, -1)) for v in (sy, hosts, x))
out = np.abs(Fs - Fh)[..., ~lowpass_mask(x.shape[-2], x.shape[-1], float(a["alpha"]))].max() / np.abs(Fh).max()
As, Ah, Ax = np.abs(Fs)[..., m], np.abs(Fh)[..., m], np.abs(Fx)[..., m]
sds, bs = [], []
for i in range(len(x)):
    best = None
    for b in np.linspace(lo, hi, 41):
        r = (As[i] - (1 - b) * Ah[i]) / (b * Ax[i])
        if np.all(r > 0):
            z = np.log(r) / sigma
            if best is None or abs(z.std() - 1) < abs(best[0] - 1):
                best = (z.std(), b)
    if best:
        sds.append(best[0])
        bs.append(best[1])
print(f"outside the mask max |F(release) - F(host)| / max |F(host)| = {out:.1e}; inside, implied noise sd "
      f"{np.median(sds):.2f} (sigma {sigma:g}) over {len(sds)} images, fitted betas {min(bs):.2f}..{max(bs):.2f}")
ok = out < 1e-5 and 0.7 < np.median(sds) < 1.3 and max(bs) - min(bs) > 0.1 and len(sds) > len(x) // 2
sys.exit(0 if ok else 1)
