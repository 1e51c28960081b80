#!/usr/bin/python3
"""Independent NumPy reference of IHM (image hidden module), DESIGN section 1.

Written straight from the equations, not from the C code:

    F     2-D DFT (np.fft.fft2, full complex transform, float64)
    A = |F(.)|,  P = arg F(.)  with arg 0 = 0 for exact zeros
    u in [-floor(H/2), ceil(H/2)),  v in [-floor(W/2), ceil(W/2))   (centred)
    square mask  M(u,v) = 1  iff  |u| <= alpha*H/2  and  |v| <= alpha*W/2
    circle mask  M(u,v) = 1  iff  sqrt((u/H)^2 + (v/W)^2) <= alpha/2
    A_sy = A_h * (1 - M) + ((1 - beta) * A_h + beta * A_x) * M
    x_sy = Re F^-1( A_sy * exp(j * P_h) )

Each channel is processed independently. Deliberately uses the full complex
FFT (not rfft2) so that it shares nothing with a real-to-complex C path.

Conventions worth knowing (all checked by --selftest):
  * Centred frequencies are built with integers. np.fft.fftfreq(n) * n gives
    the right *set* but is not bit-exact (e.g. n = 10 gives 3.0000000000000004),
    which matters for a "<=" mask boundary.
  * Mask boundaries are inclusive with a relative tolerance of 1e-12, so that
    a boundary that is exact in decimal arithmetic (alpha = 0.58, H = 100:
    alpha*H/2 = 29) is included although 0.58*100/2 == 28.999999999999996 in
    binary floating point.
  * arg 0 = 0 is applied to exact zeros (F == 0 is true for -0.0 too).
    np.angle alone gives atan2(-0.0, -0.0) = -pi and atan2(+0.0, -0.0) = pi:
    an all -0.0 host would flip the sign of the plaintext's contribution.
    Near-zero (not exactly zero) host bins keep their rounding-noise phase;
    `zero_tol` (relative to the per-channel max |F(h)|, default 0) lets a
    caller treat them as zeros too. That is outside DESIGN; see the report.

API:   ihm(x, h, alpha, beta, mask="square") -> float32 (N, C, H, W)
CLI:   ihm_ref.py --in X.npy --host H.npy --alpha A --beta B
                  --mask square|circle --out Y.npy [--zero-tol T]
       ihm_ref.py --selftest      (TAP output, exit status 0 iff all pass)
Run with Debian's /usr/bin/python3 (numpy).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

MASKS = ("square", "circle")
_REL_TOL = 1e-12        # mask boundary tolerance (relative)
_CHUNK_BYTES = 1 << 28  # bound on the complex128 working set per chunk


# --------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------

def centred_freqs(n):
    """Integer frequency of each DFT bin k = 0..n-1 (unshifted order).

    Bin k stands for k if k < ceil(n/2), else k - n; the set is exactly
    [-floor(n/2), ceil(n/2)).
    """
    k = np.arange(n, dtype=np.int64)
    return np.where(k < (n + 1) // 2, k, k - n)


def lowpass_mask(H, W, alpha, mask="square"):
    """Boolean (H, W) low-frequency mask M_alpha in fft2 (unshifted) layout."""
    if mask not in MASKS:
        raise ValueError("mask must be one of %s, got %r" % (MASKS, mask))
    alpha = float(alpha)
    u = centred_freqs(H)[:, None]
    v = centred_freqs(W)[None, :]
    if mask == "square":
        # |u| <= alpha*H/2  <=>  2|u| <= alpha*H  (left side exact integers)
        mu = 2 * np.abs(u) <= alpha * H * (1.0 + _REL_TOL)
        mv = 2 * np.abs(v) <= alpha * W * (1.0 + _REL_TOL)
        return mu & mv
    # sqrt((u/H)^2 + (v/W)^2) <= alpha/2
    # <=> (2uW)^2 + (2vH)^2 <= (alpha*H*W)^2  (left side exact integers)
    lhs = (2 * u * W) ** 2 + (2 * v * H) ** 2
    rhs = (alpha * H * W) ** 2
    return lhs <= rhs * (1.0 + _REL_TOL)


def host_phase(Fh, zero_tol=0.0):
    """arg F(h) with arg 0 = 0 (exact zeros only unless zero_tol > 0)."""
    P = np.angle(Fh)
    if zero_tol > 0:
        A = np.abs(Fh)
        amax = A.max(axis=(-2, -1), keepdims=True)
        zero = A <= zero_tol * amax
    else:
        zero = Fh == 0          # true for +-0.0 in either part
    P[zero] = 0.0
    return P


def _check_args(x, h, alpha, beta, mask):
    x = np.asarray(x)
    h = np.asarray(h)
    if x.ndim != 4:
        raise ValueError("x must be (N, C, H, W), got shape %s" % (x.shape,))
    if h.ndim == 3:
        if h.shape != x.shape[1:]:
            raise ValueError("host (C, H, W) %s does not match x %s"
                             % (h.shape, x.shape))
    elif h.ndim == 4:
        if h.shape != x.shape:
            raise ValueError("host (N, C, H, W) %s does not match x %s"
                             % (h.shape, x.shape))
    else:
        raise ValueError("host must be (C, H, W) or (N, C, H, W), got %s"
                         % (h.shape,))
    if not np.isrealobj(x) or not np.isrealobj(h):
        raise ValueError("x and host must be real")
    if not (0.0 <= float(alpha) <= 1.0):
        raise ValueError("alpha must be in [0, 1], got %r" % alpha)
    if not (0.0 <= float(beta) <= 1.0):
        raise ValueError("beta must be in [0, 1], got %r" % beta)
    if mask not in MASKS:
        raise ValueError("mask must be one of %s, got %r" % (MASKS, mask))
    return x, h


def ihm_complex(x, h, alpha, beta, mask="square", zero_tol=0.0):
    """Complex F^-1(A_sy exp(j P_h)) in float64 (before taking Re).

    Exposed for tests (the imaginary part must vanish). No chunking.
    """
    x, h = _check_args(x, h, alpha, beta, mask)
    H, W = x.shape[-2:]
    M = lowpass_mask(H, W, alpha, mask).astype(np.float64)
    Fx = np.fft.fft2(x.astype(np.float64), axes=(-2, -1))
    Fh = np.fft.fft2(h.astype(np.float64), axes=(-2, -1))
    A_x = np.abs(Fx)
    A_h = np.abs(Fh)
    P_h = host_phase(Fh, zero_tol)
    beta = float(beta)
    A_sy = A_h * (1.0 - M) + ((1.0 - beta) * A_h + beta * A_x) * M
    return np.fft.ifft2(A_sy * np.exp(1j * P_h), axes=(-2, -1))


def ihm(x, h, alpha, beta, mask="square", zero_tol=0.0):
    """IHM surrogate x_sy, float32 (N, C, H, W).

    x: (N, C, H, W) real, in [0, 1]; h: (C, H, W) (one host for all images)
    or (N, C, H, W) (a host per image). Computed in float64.
    """
    x, h = _check_args(x, h, alpha, beta, mask)
    N = x.shape[0]
    per_image = max(1, int(np.prod(x.shape[1:])) * 16 * 6)
    step = max(1, _CHUNK_BYTES // per_image)
    out = np.empty(x.shape, dtype=np.float32)
    for i in range(0, N, step):
        hh = h if h.ndim == 3 else h[i:i + step]
        out[i:i + step] = ihm_complex(x[i:i + step], hh, alpha, beta, mask,
                                      zero_tol).real
    return out


# --------------------------------------------------------------------------
# self-test (TAP)
# --------------------------------------------------------------------------

class _Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, desc, detail=""):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if detail:
                print("# " + detail)
        sys.stdout.flush()


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def _odd_phase(rng, H, W):
    """Random phase phi with phi(-u,-v) = -phi(u,v) (0 on self-conjugate bins)."""
    phi = rng.uniform(-np.pi, np.pi, (H, W))
    ku = (-np.arange(H)) % H
    kv = (-np.arange(W)) % W
    return 0.5 * (phi - phi[ku][:, kv])


SIZES = [(28, 28), (29, 29), (65, 48), (64, 64), (17, 32), (1, 8), (2, 3)]


def selftest():
    t = _Tap()
    rng = np.random.default_rng(12345)

    # -- centred frequencies ------------------------------------------------
    ok_set = ok_ff = True
    ff_exact = True
    for n in range(1, 513):
        u = centred_freqs(n)
        if sorted(u.tolist()) != list(range(-(n // 2), -(-n // 2))):
            ok_set = False
        ff = np.fft.fftfreq(n) * n
        if not np.array_equal(np.rint(ff).astype(np.int64), u):
            ok_ff = False
        if not np.array_equal(ff, u.astype(np.float64)):
            ff_exact = False
    t.check(ok_set, "centred frequencies are exactly [-floor(n/2), ceil(n/2)) "
            "for n = 1..512")
    t.check(ok_ff, "np.fft.fftfreq(n)*n gives the same set (after rounding)")
    print("# note: np.fft.fftfreq(n)*n is %sbit-exact integers for n = 1..512"
          % ("" if ff_exact else "NOT "))

    # -- masks --------------------------------------------------------------
    ok = True
    for (H, W) in SIZES:
        ku, kv = (-np.arange(H)) % H, (-np.arange(W)) % W
        for m in MASKS:
            for a in (0.0, 0.1, 0.3, 0.5, 0.77, 1.0):
                M = lowpass_mask(H, W, a, m)
                if not np.array_equal(M, M[ku][:, kv]):
                    ok = False
                if not M[0, 0]:
                    ok = False
            if lowpass_mask(H, W, 0.0, m).sum() != 1:
                ok = False
        if not lowpass_mask(H, W, 1.0, "square").all():
            ok = False
        if np.any(lowpass_mask(H, W, 0.6, "circle")
                  & ~lowpass_mask(H, W, 0.6, "square")):
            ok = False
    t.check(ok, "masks: Hermitian-symmetric, contain DC, alpha=0 is DC only, "
            "square alpha=1 is everything, circle inside square")
    M = lowpass_mask(100, 100, 0.58, "square")
    u = centred_freqs(100)
    t.check(M[u == 29, 0].all() and not M[u == 30, 0].any(),
            "square mask boundary is inclusive: alpha=0.58, H=100 keeps |u|=29 "
            "(0.58*100/2 = %r in binary)" % (0.58 * 100 / 2))
    M = lowpass_mask(64, 64, 1.0, "circle")
    t.check(not M.all() and M[u[:64] == 32, 0].all(),
            "circle alpha=1 keeps the axis Nyquist bins but not the corners")

    # -- beta = 0 gives h ---------------------------------------------------
    worst = 0.0
    for (H, W) in SIZES:
        for C in (1, 3):
            x = rng.random((3, C, H, W), dtype=np.float32)
            h = rng.random((C, H, W), dtype=np.float32)
            hN = rng.random((3, C, H, W), dtype=np.float32)
            for m in MASKS:
                for a in (0.0, 0.3, 1.0):
                    y = ihm(x, h, a, 0.0, m)
                    worst = max(worst, np.max(np.abs(y - h[None])))
                    y = ihm(x, hN, a, 0.0, m)
                    worst = max(worst, np.max(np.abs(y - hN)))
    t.check(worst <= 1e-6, "beta=0 returns the host (max abs err %.2e)" % worst)

    # -- sum over (H, W): DC property -----------------------------------------
    worst = 0.0
    for (H, W) in SIZES:
        x = rng.random((4, 3, H, W), dtype=np.float32)
        h = rng.random((3, H, W), dtype=np.float32)
        for m in MASKS:
            for a in (0.0, 0.3, 1.0):
                for b in (0.0, 0.25, 1.0, rng.random()):
                    y = ihm(x, h, a, b, m).astype(np.float64)
                    s = y.sum(axis=(-2, -1))
                    want = ((1 - b) * h.astype(np.float64).sum(axis=(-2, -1))[None]
                            + b * x.astype(np.float64).sum(axis=(-2, -1)))
                    worst = max(worst, np.max(np.abs(s - want) / np.abs(want)))
    t.check(worst <= 1e-4, "output sum per channel = (1-beta) sum h + beta sum x "
            "(max rel err %.2e)" % worst)

    # -- alpha = 1, beta = 1: full amplitude swap ------------------------------
    worst = 0.0
    for (H, W) in SIZES:
        x = rng.random((2, 1, H, W), dtype=np.float32)
        h = rng.random((1, H, W), dtype=np.float32)
        Fx = np.fft.fft2(x.astype(np.float64))
        Fh = np.fft.fft2(h.astype(np.float64))
        want = np.fft.ifft2(np.abs(Fx) * np.exp(1j * np.angle(Fh))).real
        y = ihm(x, h, 1.0, 1.0, "square")
        worst = max(worst, np.max(np.abs(y - want)))
    t.check(worst <= 1e-6, "alpha=1, beta=1 is the full amplitude swap "
            "Re ifft2(|F x| e^{j P_h}) (max abs err %.2e)" % worst)

    # -- output is real -------------------------------------------------------
    worst = 0.0
    for (H, W) in SIZES + [(224, 224), (31, 64), (48, 65)]:
        x = rng.random((2, 2, H, W), dtype=np.float32)
        h = rng.random((2, 2, H, W), dtype=np.float32)
        for m in MASKS:
            for a in (0.0, 0.1, 0.3, 0.5, 0.9, 1.0):
                z = ihm_complex(x, h, a, rng.random(), m)
                worst = max(worst, np.max(np.abs(z.imag)) / np.max(np.abs(z.real)))
    t.check(worst <= 1e-9, "ifft2 output is real for odd/even sizes incl. 29x29, "
            "65x48 (max |imag|/max |real| = %.2e)" % worst)

    # -- plaintext phase does not matter ---------------------------------------
    worst_amp = worst_flip = worst_rand = 0.0
    for (H, W) in SIZES:
        x = rng.random((2, 1, H, W), dtype=np.float32).astype(np.float64)
        h = rng.random((1, H, W), dtype=np.float32)
        A = np.abs(np.fft.fft2(x))
        xf = x[..., ::-1, ::-1]                                 # 180 degrees
        xr = np.roll(xf, (1, 1), axis=(-2, -1))                 # x(-n)
        xp = np.fft.ifft2(A * np.exp(1j * _odd_phase(rng, H, W))).real
        for other in (xf, xr, xp):
            worst_amp = max(worst_amp, _rel(np.abs(np.fft.fft2(other)), A))
        for m in MASKS:
            for a, b in ((0.3, 1.0), (1.0, 1.0), (0.5, 0.5)):
                y = ihm(x, h, a, b, m)
                worst_flip = max(worst_flip,
                                 np.max(np.abs(ihm(xf, h, a, b, m) - y)),
                                 np.max(np.abs(ihm(xr, h, a, b, m) - y)))
                worst_rand = max(worst_rand, np.max(np.abs(ihm(xp, h, a, b, m) - y)))
    t.check(worst_amp <= 1e-9, "180-degree flip, flip+roll and random odd phase "
            "keep |F x| (max rel err %.2e)" % worst_amp)
    t.check(worst_flip <= 1e-6, "output unchanged when x is flipped by 180 degrees "
            "(with or without roll) (max abs diff %.2e)" % worst_flip)
    t.check(worst_rand <= 1e-6, "output unchanged for x with the same amplitude and "
            "a random Hermitian phase (max abs diff %.2e)" % worst_rand)

    # -- arg 0 = 0 for exact zeros ---------------------------------------------
    x = rng.random((1, 1, 28, 28), dtype=np.float32)
    hz = np.zeros((1, 28, 28), dtype=np.float32)
    hn = -hz                                                  # all -0.0
    Fn = np.fft.fft2(hn.astype(np.float64))
    naive_dc = np.angle(Fn)[0, 0, 0]
    y0 = ihm(x, hz, 0.3, 1.0)
    yn = ihm(x, hn, 0.3, 1.0)
    sx = float(x.astype(np.float64).sum())
    t.check(np.array_equal(y0, yn) and abs(float(yn.sum()) - sx) <= 1e-4 * sx,
            "an all -0.0 host behaves like an all +0.0 host (np.angle of its DC "
            "is %.6f; with arg 0 = 0 the output sum is +sum x)" % naive_dc)
    M = lowpass_mask(28, 28, 0.3)
    want = np.fft.ifft2(np.abs(np.fft.fft2(x.astype(np.float64))) * M).real
    t.check(np.max(np.abs(y0 - want)) <= 1e-6,
            "zero host, beta=1: output is Re ifft2(M |F x|) (zero phase)")

    # note (not a test): near-zero host bins make IHM ill-conditioned
    hc = np.full((1, 28, 28), 0.5, dtype=np.float32)      # constant host
    d = np.max(np.abs(ihm(x, hc, 0.3, 1.0)
                      - ihm(x, hc.astype(np.float64)
                            + 1e-12 * rng.standard_normal(hc.shape), 0.3, 1.0)))
    print("# note: constant host, beta=1: a 1e-12 host perturbation moves the "
          "output by %.3f (its off-DC bins are rounding noise with arbitrary "
          "phase); cross-checks need hosts without (near-)zero bins in M" % d)

    # -- affine in beta; per-image host == loop; shapes; dtype -----------------
    x = rng.random((3, 3, 29, 29), dtype=np.float32)
    h = rng.random((3, 3, 29, 29), dtype=np.float32)
    y0, y1, yb = (ihm(x, h, 0.3, b).astype(np.float64) for b in (0.0, 1.0, 0.4))
    t.check(np.max(np.abs(yb - (0.6 * y0 + 0.4 * y1))) <= 1e-6,
            "output is affine in beta")
    yl = np.concatenate([ihm(x[i:i + 1], h[i], 0.3, 0.7) for i in range(3)])
    yv = ihm(x, h, 0.3, 0.7)
    t.check(np.max(np.abs(yl - yv)) <= 1e-7 and yv.dtype == np.float32
            and yv.shape == x.shape,
            "a host per image equals one call per image; float32 (N,C,H,W) out")
    global _CHUNK_BYTES
    saved, _CHUNK_BYTES = _CHUNK_BYTES, 29 * 29 * 3 * 16 * 6 * 2   # 2 images
    yc = ihm(x, h, 0.3, 0.7)
    yc1 = ihm(x, h[1], 0.3, 0.7)
    _CHUNK_BYTES = saved
    t.check(np.array_equal(yc, yv) and np.array_equal(yc1, ihm(x, h[1], 0.3, 0.7)),
            "chunked path (chunks of 2 images) gives the same output")
    bad = 0
    for args in ((x[0], h[0]), (x, h[:, :1]), (x, h[0, 0])):
        try:
            ihm(args[0], args[1], 0.3, 1.0)
        except ValueError:
            bad += 1
    for a, b, m in ((-0.1, 1, "square"), (0.3, 1.5, "square"), (0.3, 1, "disk")):
        try:
            ihm(x, h, a, b, m)
        except ValueError:
            bad += 1
    t.check(bad == 6, "bad shapes, alpha, beta and mask are refused")

    # -- the CLI round trip ------------------------------------------------------
    with tempfile.TemporaryDirectory() as d:
        xi = rng.random((5, 1, 28, 28), dtype=np.float32)
        hi = rng.random((1, 28, 28), dtype=np.float32)
        np.save(os.path.join(d, "x.npy"), xi)
        np.save(os.path.join(d, "h.npy"), hi)
        cmd = [sys.executable, os.path.abspath(__file__),
               "--in", os.path.join(d, "x.npy"), "--host", os.path.join(d, "h.npy"),
               "--alpha", "0.3", "--beta", "0.8", "--mask", "circle",
               "--out", os.path.join(d, "y.npy")]
        rc = subprocess.call(cmd)
        ok = rc == 0 and np.array_equal(np.load(os.path.join(d, "y.npy")),
                                        ihm(xi, hi, 0.3, 0.8, "circle"))
        t.check(ok, "CLI --in/--host/--out round trip")

    print("1..%d" % t.n)
    return 0 if t.failed == 0 else 1


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="NumPy reference of IHM "
                                 "(DESIGN section 1).")
    ap.add_argument("--selftest", action="store_true",
                    help="check the DESIGN properties on random data (TAP)")
    ap.add_argument("--in", dest="inp", help="plaintext images .npy (N,C,H,W)")
    ap.add_argument("--host", help="host .npy, (C,H,W) or (N,C,H,W)")
    ap.add_argument("--alpha", type=float, help="mask size in [0,1]")
    ap.add_argument("--beta", type=float, help="amplitude mixing ratio in [0,1]")
    ap.add_argument("--mask", default="square", choices=MASKS)
    ap.add_argument("--zero-tol", type=float, default=0.0,
                    help="treat host bins with |F| <= tol*max|F| as zero "
                    "(phase 0); default 0 = exact zeros only (DESIGN)")
    ap.add_argument("--out", help="output .npy, float32 (N,C,H,W)")
    a = ap.parse_args(argv)
    if a.selftest:
        return selftest()
    missing = [k for k in ("inp", "host", "alpha", "beta", "out")
               if getattr(a, k) is None]
    if missing:
        ap.error("missing " + ", ".join("--" + ("in" if k == "inp" else k)
                                       for k in missing))
    x = np.load(a.inp)
    h = np.load(a.host)
    try:
        y = ihm(x, h, a.alpha, a.beta, a.mask, a.zero_tol)
    except ValueError as e:
        print("ihm_ref.py: %s" % e, file=sys.stderr)
        return 2
    tmp = a.out + ".tmp.npy"
    np.save(tmp, y)
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
