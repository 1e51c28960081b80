#!/usr/bin/python3
"""IHM throughput: a vectorised, batched NumPy IHM, and fesf's C IHM in the same run.

The NumPy side is the reference fesf is measured against (DESIGN section 6:
fesf IHM >= 30x this, per core). It is written to be as fast as honest NumPy
allows, independently of the C code:
  * fixed host: its rfft2 spectrum, the mask and everything that depends only
    on the host are computed once, outside the timed loop;
  * the identity  A_sy e^{jP_h} = F(h) (1 - beta M) + |F x| (beta M e^{jP_h})
    turns the per-image work into  rfft2 -> |X| on the masked bins -> one
    multiply-add -> irfft2, over a whole chunk of images per NumPy call;
  * |X| is taken only inside the bounding box of the mask (two row slabs of
    the half spectrum; the mask itself is a boolean array, any low-pass shape);
  * the batch is processed in chunks whose size is tuned in the same run:
    with whole batches of 256 most of the time goes into page faults on
    freshly allocated temporaries and into cache misses, not into FFTs.
Its output is checked against tests/py/ihm_ref.py (float64, full complex FFT)
before timing.

NumPy 1.24's FFT (pocketfft) is single-threaded and always computes in
float64/complex128, whatever the input dtype; inputs and outputs here are
float32. There is no threading knob to set for it.

With --fesf BIN, runs `BIN bench ihm --size S --channels C --batch B` for each
size right after the NumPy measurement and prints a combined line with
ratio_numpy = fesf images/s / NumPy images/s and fesf's own FFTW ratio.

Output: comment lines start with '#'; result lines are
  bench ihm-numpy size=S channels=C batch=B images_per_s=X ...
  bench ihm-compare size=S channels=C batch=B images_per_s=<fesf> \
        numpy_images_per_s=.. ratio_numpy=.. fftw_images_per_s=.. ratio_fftw=.. ...
Usage: /usr/bin/python3 bench/ihm_numpy.py [--fesf bin/fesf] [--sizes 28,64,224]
"""
import argparse
import os
import platform
import shlex
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True          # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "py"))
import ihm_ref  # noqa: E402  (mask definition and the float64 cross-check)

TARGET_NUMPY = 30.0   # DESIGN section 6: fesf >= 30x NumPy
TARGET_FFTW = 1.0     # and >= 1.0x a bare FFTW forward+inverse


class BatchedIHM:
    """IHM with one fixed host (C, H, W), applied to (n, C, H, W) float32 chunks."""

    def __init__(self, host, alpha, beta, mask="square", kernel="slab"):
        C, H, W = host.shape
        self.H, self.W, self.kernel = H, W, kernel
        Wr = W // 2 + 1
        M = ihm_ref.lowpass_mask(H, W, alpha, mask)[:, :Wr]      # bool (H, Wr)
        Fh = np.fft.rfft2(host.astype(np.float64))               # (C, H, Wr)
        A = np.abs(Fh)
        U = np.ones_like(Fh)                                     # e^{jP_h}, arg 0 = 0
        nz = A > 0
        U[nz] = Fh[nz] / A[nz]
        beta = float(beta)
        self.base = Fh * (1.0 - beta * M)                        # host part
        self.gain = beta * M * U                                 # multiplies |F x|
        # bounding box of the mask in the half spectrum: rows [0, top) and
        # [H - bot, H), columns [0, kc)
        rows, cols = M.any(axis=1), M.any(axis=0)
        kc = int(np.nonzero(cols)[0].max()) + 1
        if rows.all():
            slabs = [(0, H)]
        else:
            top = int(np.argmin(rows))
            bot = int(np.argmin(rows[::-1]))
            slabs = [(0, top)] + ([(H - bot, H)] if bot else [])
        covered = np.zeros(H, bool)
        for a, b in slabs:
            covered[a:b] = True
        if not (np.array_equal(covered, rows) and cols[:kc].all()):
            self.kernel = "full"                                 # not low-pass shaped
        self.slabs = [(a, b, kc, self.base[:, a:b, :kc], self.gain[:, a:b, :kc])
                      for a, b in slabs]

    def __call__(self, x, out):
        X = np.fft.rfft2(x)                                      # complex128
        if self.kernel == "full":
            Y = np.abs(X)
            Y = Y * self.gain
            Y += self.base
        else:
            low = []
            for a, b, kc, base, gain in self.slabs:
                t = np.abs(X[..., a:b, :kc]) * gain
                t += base
                low.append(t)
            Y = X
            Y[...] = self.base
            for (a, b, kc, _, _), t in zip(self.slabs, low):
                Y[..., a:b, :kc] = t
        out[...] = np.fft.irfft2(Y, s=(self.H, self.W))

    def run(self, x, out, chunk):
        for i in range(0, x.shape[0], chunk):
            self(x[i:i + chunk], out[i:i + chunk])


def time_once(f, x, out, chunk):
    t = time.perf_counter()
    f.run(x, out, chunk)
    return time.perf_counter() - t


def bench_numpy(size, channels, batch, repeats, alpha, beta, mask, chunk, kernel, rng):
    host = rng.random((channels, size, size), dtype=np.float32)
    x = rng.random((batch, channels, size, size), dtype=np.float32)
    out = np.empty_like(x)

    kernels = [kernel] if kernel != "auto" else ["slab", "full"]
    fs = {k: BatchedIHM(host, alpha, beta, mask, k) for k in kernels}

    # correctness against the float64 full-FFT reference
    n = min(batch, 8)
    ref = ihm_ref.ihm(x[:n], host, alpha, beta, mask)
    for k, f in fs.items():
        f.run(x[:n], out[:n], n)
        err = float(np.max(np.abs(out[:n] - ref)))
        if err > 1e-4:
            raise SystemExit("ihm_numpy.py: kernel %s disagrees with ihm_ref.py "
                             "(max abs %.3g)" % (k, err))

    # chunk size (and kernel), tuned in this run
    if chunk > 0:
        chunks = [min(chunk, batch)]
    else:
        chunks = sorted({batch} | {c for c in (1, 2, 4, 8, 16, 32, 64, 128, 256)
                                   if c < batch})
    tuned = {}
    for k, f in fs.items():
        for c in chunks:
            f.run(x[:c], out[:c], c)                             # warm-up
            tuned[(k, c)] = time_once(f, x, out, c)
    if len(tuned) > 1:                                           # confirm the top 3
        for key in sorted(tuned, key=tuned.get)[:3]:
            tuned[key] = min(tuned[key], time_once(fs[key[0]], x, out, key[1]))
    best_k, best_c = min(tuned, key=tuned.get)
    unchunked = min(t for (k, c), t in tuned.items() if c == batch) \
        if any(c == batch for (_, c) in tuned) else None

    f = fs[best_k]
    times = [time_once(f, x, out, best_c) for _ in range(repeats)]
    best, med = min(times), float(np.median(times))
    res = {
        "size": size, "channels": channels, "batch": batch,
        "images_per_s": batch / best,
        "median_images_per_s": batch / med,
        "chunk": best_c, "kernel": best_k,
        "alpha": alpha, "beta": beta, "mask": mask,
        "repeats": repeats, "threads": 1, "fft": "pocketfft-f64",
    }
    if unchunked is not None:
        res["unchunked_images_per_s"] = batch / unchunked
    return res


def fmt(v):
    if isinstance(v, float):
        return "%.6g" % v
    return str(v)


def line(kind, d):
    return "bench %s %s" % (kind, " ".join("%s=%s" % (k, fmt(v)) for k, v in d.items()))


def parse_kv(text):
    out = {}
    for tok in text.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def run_fesf(cmd, size, channels, batch, timeout):
    args = cmd + ["bench", "ihm", "--size", str(size), "--channels", str(channels),
                  "--batch", str(batch)]
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "%s: %s" % (" ".join(args), e)
    lines = [l for l in p.stdout.splitlines() if l.startswith("bench ihm ")]
    if p.returncode != 0 or not lines:
        msg = (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or [""])[-1]
        return None, "%s: exit %d, %s" % (" ".join(args), p.returncode,
                                          msg if msg else "no 'bench ihm' line")
    return parse_kv(lines[-1]), None


def _same(a, b):
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def num(d, k):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="28,64,224", help="comma-separated image sizes")
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5,
                    help="timed passes over the batch; the best is reported")
    ap.add_argument("--alpha", type=float, default=0.3)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--mask", default="square", choices=ihm_ref.MASKS)
    ap.add_argument("--chunk", type=int, default=0,
                    help="images per NumPy call (0 = tune in this run)")
    ap.add_argument("--kernel", default="auto", choices=("auto", "slab", "full"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fesf", metavar="BIN", help="also run BIN bench ihm per size")
    ap.add_argument("--launcher", default="",
                    help="prefix for the fesf command, e.g. 'mpirun -np 1'")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 when a DESIGN section 6 target is missed")
    a = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("--sizes must be comma-separated integers")
    if (not sizes or min(sizes) < 1 or a.channels < 1 or a.batch < 1
            or a.repeats < 1 or a.chunk < 0):
        ap.error("sizes, channels, batch and repeats must be positive")

    print("# numpy %s, python %s, %s; numpy FFT = pocketfft, single-threaded, "
          "computes in float64 (I/O float32)"
          % (np.__version__, platform.python_version(), platform.machine()))
    try:
        print("# cpus %d, load average %.2f %.2f %.2f (ratios are only meaningful "
              "on an otherwise idle machine)" % ((os.cpu_count() or 0,) + os.getloadavg()))
    except OSError:
        pass
    sys.stdout.flush()

    rng = np.random.default_rng(a.seed)
    cmd = (shlex.split(a.launcher) + [a.fesf]) if a.fesf else None
    status = 0
    for s in sizes:
        r = bench_numpy(s, a.channels, a.batch, a.repeats, a.alpha, a.beta, a.mask,
                        a.chunk, a.kernel, rng)
        print(line("ihm-numpy", r))
        sys.stdout.flush()
        if not cmd:
            continue
        c, err = run_fesf(cmd, s, a.channels, a.batch, a.timeout)
        if err:
            print("# fesf bench failed: " + err, file=sys.stderr)
            print("bench ihm-compare size=%d channels=%d batch=%d error=fesf-failed"
                  % (s, a.channels, a.batch))
            status = 1
            continue
        ips = num(c, "images_per_s")
        comb = {"size": s, "channels": a.channels, "batch": a.batch,
                "images_per_s": ips, "numpy_images_per_s": r["images_per_s"],
                "ratio_numpy": ips / r["images_per_s"] if ips else None}
        for k in ("fftw_images_per_s", "ratio_fftw"):
            if k in c:
                comb[k] = num(c, k)
        if comb.get("ratio_fftw") is None and ips and num(c, "fftw_images_per_s"):
            comb["ratio_fftw"] = ips / num(c, "fftw_images_per_s")
        for k in ("size", "channels", "batch", "alpha", "beta", "mask"):
            if k in c and not _same(c[k], r[k]):
                print("# warning: fesf reports %s=%s, numpy used %s" % (k, c[k], r[k]),
                      file=sys.stderr)
        ok = (comb["ratio_numpy"] is not None and comb["ratio_numpy"] >= TARGET_NUMPY
              and (comb.get("ratio_fftw") is None or comb["ratio_fftw"] >= TARGET_FFTW))
        comb.update({"target_numpy": TARGET_NUMPY, "target_fftw": TARGET_FFTW,
                     "meets_targets": "yes" if ok else "no"})
        print(line("ihm-compare", {k: ("nan" if v is None else v)
                                   for k, v in comb.items()}))
        sys.stdout.flush()
        if a.strict and not ok:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
