#!/usr/bin/python3
"""Independent NumPy reference for src/iqem/quality.c (run by tests/unit/test_quality.c).

Definitions (float64 throughout, written from the published formulas, not
from the C code):
  PSNR     10 log10(1 / mean((a - b)^2)), data range 1; inf when identical.
  SSIM     skimage.metrics.structural_similarity's algorithm, restated with
           numpy only: every channel in float64 is filtered with a separable
           Gaussian (sigma 1.5, truncate 3.5 -> radius 5) over the WHOLE image
           with scipy.ndimage's default 'reflect' padding (numpy 'symmetric':
           d c b a | a b c d); moments are population moments
           (use_sample_covariance=False); K1 0.01, K2 0.03, L = 1; the map is
           cropped by 5 pixels on every side and averaged, then averaged over
           channels. (The C code filters only the valid region instead; the two
           agree because the cropped pixels are exactly those whose windows do
           not touch the padding.)
  Frechet  |mu1 - mu2|^2 + tr C1 + tr C2 - 2 tr sqrtm(C1^1/2 C2 C1^1/2), with
           C1^1/2 from numpy.linalg.eigh; the trace term is checked against a
           second route, sum sqrt(eig(C1 C2)) (numpy.linalg.eigvals, general
           non-symmetric), and the script fails if they disagree.
  stats    mean and sample covariance (numpy.cov, ddof 1) of n feature rows.

Usage: quality_ref.py MODE FILE... (one output line per FILE, in order; one
process for many cases, as numpy's import dominates the run time).
Binary input, native byte order, written by the C test:
  quality_ref.py image FILE    int32 c, h, w; float32 a[c*h*w], b[c*h*w]
                               -> "ssim psnr"
  quality_ref.py frechet FILE  int32 d; float64 mu1[d], C1[d*d], mu2[d], C2[d*d]
                               -> "fd"
  quality_ref.py stats FILE    int32 n, d; float64 f[n*d]
                               -> d means then d*d covariances (row-major)
Values are printed as repr of float64. Exit status 0 on success, 77 when
numpy cannot be imported (the C test then skips). Run with /usr/bin/python3.
"""
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)


def gaussian_kernel(sigma=1.5, truncate=3.5):
    radius = int(truncate * sigma + 0.5)  # scipy.ndimage.gaussian_filter1d
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 / sigma**2 * x**2)
    return k / k.sum(), radius


def gfilter(img, k, r):
    """Separable Gaussian over the whole image, scipy 'reflect' borders."""
    p = np.pad(img, r, mode="symmetric")
    h, w = img.shape
    rows = sum(k[i] * p[:, i:i + w] for i in range(2 * r + 1))  # along x
    return sum(k[i] * rows[i:i + h, :] for i in range(2 * r + 1))  # along y


def ssim(a, b):
    k, r = gaussian_kernel()
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for x, y in zip(a, b):
        ux, uy = gfilter(x, k, r), gfilter(y, k, r)
        uxx, uyy, uxy = gfilter(x * x, k, r), gfilter(y * y, k, r), gfilter(x * y, k, r)
        vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        vals.append(s[r:-r, r:-r].mean())
    return float(np.mean(vals))


def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def sqrtm_psd(c):
    l, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(l, 0, None))) @ v.T


def frechet(mu1, c1, mu2, c2):
    s = sqrtm_psd(c1)
    m = s @ c2 @ s
    m = (m + m.T) / 2
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(m), 0, None)).sum()
    ev = np.linalg.eigvals(c1 @ c2)
    tr2 = np.sqrt(np.clip(ev.real, 0, None)).sum()
    if abs(tr - tr2) > 1e-7 * max(1.0, abs(tr)):
        sys.exit("frechet: eigh route %r and eigvals route %r disagree" % (tr, tr2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for path in sys.argv[2:]:
        run(sys.argv[1], path)


def run(mode, path):
    raw = open(path, "rb").read()
    if mode == "image":
        c, h, w = np.frombuffer(raw, np.int32, 3)
        n = int(c * h * w)
        v = np.frombuffer(raw, np.float32, 2 * n, 12).astype(np.float64)
        a, b = v[:n].reshape(c, h, w), v[n:].reshape(c, h, w)
        print(repr(ssim(a, b)), repr(psnr(a, b)))
    elif mode == "frechet":
        d = int(np.frombuffer(raw, np.int32, 1)[0])
        v = np.frombuffer(raw, np.float64, 2 * (d + d * d), 4)
        mu1, c1 = v[:d], v[d:d + d * d].reshape(d, d)
        o = d + d * d
        mu2, c2 = v[o:o + d], v[o + d:].reshape(d, d)
        print(repr(frechet(mu1, c1, mu2, c2)))
    elif mode == "stats":
        n, d = (int(t) for t in np.frombuffer(raw, np.int32, 2))
        f = np.frombuffer(raw, np.float64, n * d, 8).reshape(n, d)
        out = np.concatenate([f.mean(axis=0), np.cov(f, rowvar=False, ddof=1).reshape(-1)])
        print(" ".join(repr(float(t)) for t in out))
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
