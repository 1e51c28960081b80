#!/usr/bin/python3
"""3-D IHM (src/ihm/ihm3d.c, through build/tools/ihm_apply with a DxH shape)
against an independent NumPy reference written from the equations of DESIGN
section 1 with the 3-D DFT (np.fft.fftn, full complex, float64) and the
centred cuboid (or ellipsoid) mask
    square: |u| <= alpha D/2, |v| <= alpha H/2, |w| <= alpha W/2
    circle: (u/D)^2 + (v/H)^2 + (w/W)^2 <= (alpha/2)^2
(inclusive, 1e-12 relative tolerance), A_sy = A_h (1-M) + ((1-beta) A_h +
beta A_x) M, x_sy = Re F^-1(A_sy exp(j P_h)), arg 0 = 0 for host bins at or
below 1e-6 of the channel's largest |F(h)| (fesf/ihm3d.h says why).
Cases: real AdrenalMNIST3D volumes (28^3 and 64^3), alpha/beta corners,
both masks, odd and even random shapes, RGB. Properties: beta = 0 gives the
host; a point-reflected volume (x(-n)) gives the same surrogate (the privacy
invariant: only |F(x)| enters); the DC of the output. Prints TAP.
The distributed plan (src/fed/ihm3d_dist.c, through build/tools/ihm3d_dist
under mpirun) against the serial one for 1, 2, 3 and 4 ranks, uneven and
empty slabs included.
usage: ihm3d_crosscheck.py TOOL [DATASETS_DIR [DIST_TOOL]]"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ihm_ref import centred_freqs  # noqa: E402  (the integer frequency convention)

TOL = 1e-4
_n = 0


def tap(ok, desc):
    global _n
    _n += 1
    print(("ok" if ok else "not ok") + f" {_n} - {desc}")
    return ok


def mask3(D, H, W, alpha, mask):
    u, v, w = (centred_freqs(n).astype(np.float64) for n in (D, H, W))
    u, v, w = u[:, None, None], v[None, :, None], w[None, None, :]
    tol = 1 + 1e-12
    if mask == "circle":
        a, b, c, r = 2 * u * H * W, 2 * v * D * W, 2 * w * D * H, alpha * D * H * W
        return a * a + b * b + c * c <= r * r * tol
    return (2 * np.abs(u) <= alpha * D * tol) & (2 * np.abs(v) <= alpha * H * tol) & (2 * np.abs(w) <= alpha * W * tol)


def ihm3(x, h, alpha, beta, mask):
    """x [N, C, D, H, W], h [C, D, H, W] -> float64 surrogates"""
    D, H, W = x.shape[2:]
    M = mask3(D, H, W, alpha, mask)
    out = np.empty(x.shape, np.float64)
    for c in range(x.shape[1]):
        Fh = np.fft.fftn(h[c].astype(np.float64))
        Ah = np.abs(Fh)
        Ph = np.where(Ah <= 1e-6 * Ah.max(), 0.0, np.angle(Fh))
        for i in range(x.shape[0]):
            Ax = np.abs(np.fft.fftn(x[i, c].astype(np.float64)))
            Asy = Ah * (1 - M) + ((1 - beta) * Ah + beta * Ax) * M
            out[i, c] = np.real(np.fft.ifftn(Asy * np.exp(1j * Ph)))
    return out


def run_c(tool, x, h, alpha, beta, mask, tmp):
    n, c, D, H, W = x.shape
    xp, hp, op = (os.path.join(tmp, f) for f in ("x.f32", "h.f32", "o.f32"))
    x.astype(np.float32).tofile(xp)
    h.astype(np.float32).tofile(hp)
    subprocess.run([tool, str(n), str(c), f"{D}x{H}", str(W), repr(alpha), repr(beta), mask, xp, hp, op], check=True)
    return np.fromfile(op, np.float32).reshape(x.shape)


def run_dist(tool, ranks, x, h, alpha, beta, mask, tmp):
    n, c, D, H, W = x.shape
    xp, hp, op = (os.path.join(tmp, f) for f in ("xd.f32", "hd.f32", "od.f32"))
    x.astype(np.float32).tofile(xp)
    h.astype(np.float32).tofile(hp)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run(["mpirun", "--oversubscribe", "-np", str(ranks), tool, str(n), str(c), str(D), str(H), str(W),
                        repr(alpha), repr(beta), mask, xp, hp, op], check=True, capture_output=True, text=True, env=env)
    planes = sorted(tuple(map(int, l.split()[1::2])) for l in r.stdout.splitlines() if l.startswith("rank"))
    return np.fromfile(op, np.float32).reshape(x.shape), [p[2] if len(p) > 2 else p[1] for p in planes], r.stdout


def check_dist(tool, dist, name, x, h, tmp):
    serial = run_c(tool, x, h, 0.3, 0.7, "square", tmp)
    for k in (1, 2, 3, 4):
        got, _, out = run_dist(dist, k, x, h, 0.3, 0.7, "square", tmp)
        slabs = sorted((int(l.split()[3]), int(l.split()[4])) for l in out.splitlines() if l.startswith("rank"))
        err = float(np.max(np.abs(got - serial)))
        tap(err <= TOL and len(slabs) == k and sum(nd for _, nd in slabs) == x.shape[2],
            f"{name}: {k} rank{'s' if k > 1 else ''} (planes per rank {[nd for _, nd in slabs]}) = serial, "
            f"max abs {err:.1e}")


def check(tool, name, x, h, tmp, cases):
    for alpha, beta, mask in cases:
        got, want = run_c(tool, x, h, alpha, beta, mask, tmp), ihm3(x, h, alpha, beta, mask)
        err = float(np.max(np.abs(got - want)))
        tap(err <= TOL, f"{name} alpha {alpha} beta {beta} {mask}: C = NumPy, max abs {err:.1e}")


def main():
    tool = sys.argv[1]
    shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../../shared/datasets")
    corners = [(0.0, 1.0, "square"), (1.0, 1.0, "square"), (0.3, 1.0, "square"), (0.3, 0.5, "square"),
               (1.0, 0.0, "square"), (0.5, 0.7, "circle"), (0.3, 1.0, "circle")]
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        for f, n in (("adrenalmnist3d.npz", 6), ("adrenalmnist3d_64.npz", 2)):
            path = os.path.join(shared, f)
            if not os.path.exists(path):
                print(f"ok {_n + 1} # SKIP {f}: not in {shared}")
                continue
            z = np.load(path)
            x = z["train_images"][:n, None].astype(np.float64) / 255.0
            h = z["val_images"][0][None].astype(np.float64) / 255.0
            check(tool, f"{f} ({n} volumes)", x, h, tmp, corners if n > 2 else corners[2:4])
            if n > 2:
                sy = run_c(tool, x, h, 0.3, 1.0, "square", tmp)
                refl = np.roll(x[:, :, ::-1, ::-1, ::-1], 1, axis=(2, 3, 4))  # x(-n mod N)
                err = float(np.max(np.abs(run_c(tool, refl, h, 0.3, 1.0, "square", tmp) - sy)))
                tap(err <= 1e-5, f"{f}: a point-reflected volume gives the same surrogate (max abs {err:.1e})")
                err = float(np.max(np.abs(run_c(tool, x, h, 0.3, 0.0, "square", tmp) - h[None])))
                tap(err <= 1e-5, f"{f}: beta = 0 gives the host (max abs {err:.1e})")
                dc, want = sy.mean(axis=(2, 3, 4)), np.broadcast_to(x.mean(axis=(2, 3, 4)), (n, 1))
                err = float(np.max(np.abs(dc - want)))
                tap(err <= 1e-5, f"{f}: beta = 1, the output's mean is the plaintext's (max abs {err:.1e})")
        dist = sys.argv[3] if len(sys.argv) > 3 else None
        if dist:
            path = os.path.join(shared, "adrenalmnist3d.npz")
            if os.path.exists(path):
                z = np.load(path)
                check_dist(tool, dist, "adrenalmnist3d 28^3 distributed", z["train_images"][:3, None] / 255.0,
                           z["val_images"][1][None] / 255.0, tmp)
            check_dist(tool, dist, "random 3x7x6x5 distributed", rng.random((2, 3, 7, 6, 5)), rng.random((3, 7, 6, 5)), tmp)
            check_dist(tool, dist, "random 1x3x8x8 distributed", rng.random((2, 1, 3, 8, 8)), rng.random((1, 3, 8, 8)), tmp)
        for shape in ((1, 7, 9, 10), (3, 8, 6, 5), (1, 5, 1, 4)):
            x, h = rng.random((3,) + shape), rng.random(shape)
            check(tool, f"random {'x'.join(map(str, shape))}", x, h, tmp,
                  [(0.3, 1.0, "square"), (0.58, 0.4, "square"), (0.6, 0.8, "circle")])
    print(f"1..{_n}")


if __name__ == "__main__":
    main()
