"""Cross-check of fesf's FFTW IHM kernel against the independent NumPy
reference (tests/py/ihm_ref.py) on random images of sizes 28, 29, 64, 65x48
and 224, grey and RGB, and on real PneumoniaMNIST images, over alpha in
{0, 0.1, 0.3, 1} x beta in {0, 0.5, 1} (square mask; the circle mask on a
subset). Prints TAP, one line per case group with the max abs error;
fails any case above 1e-4.

usage: ihm_crosscheck.py TOOL [NPZ]   (TOOL = build/tools/ihm_apply)
Run with Debian's /usr/bin/python3.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ihm_ref import ihm  # noqa: E402

TOL = 1e-4
ALPHAS = (0.0, 0.1, 0.3, 1.0)
BETAS = (0.0, 0.5, 1.0)
n_test = 0
failed = 0


def tap(ok, desc):
    global n_test, failed
    n_test += 1
    failed += not ok
    print(("ok" if ok else "not ok") + f" {n_test} - {desc}", flush=True)


def run_c(tool, x, h, alpha, beta, mask, tmp):
    n, c, hh, ww = x.shape
    xp, hp, op = (os.path.join(tmp, f) for f in ("x.f32", "h.f32", "o.f32"))
    x.astype(np.float32).tofile(xp)
    h.astype(np.float32).tofile(hp)
    subprocess.run([tool, str(n), str(c), str(hh), str(ww), repr(alpha), repr(beta), mask, xp, hp, op, "7"],
                   check=True)
    return np.fromfile(op, dtype=np.float32).reshape(x.shape)


def check(tool, name, x, h, tmp, masks=("square",)):
    worst = 0.0
    for mask in masks:
        for a in ALPHAS:
            for b in BETAS:
                err = float(np.max(np.abs(run_c(tool, x, h, a, b, mask, tmp) - ihm(x, h, a, b, mask))))
                if err > TOL:
                    tap(False, f"{name} mask={mask} alpha={a} beta={b}: max abs error {err:.3g} > {TOL}")
                worst = max(worst, err)
    tap(worst <= TOL, f"{name} ({'/'.join(masks)}, 12 alpha x beta each): max abs error {worst:.2e}")


def main():
    tool = sys.argv[1]
    npz = sys.argv[2] if len(sys.argv) > 2 else ""
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        for (hh, ww) in ((28, 28), (29, 29), (64, 64), (65, 48), (224, 224)):
            for c in (1, 3):
                n = 2 if hh == 224 else 5
                x = rng.random((n, c, hh, ww), dtype=np.float32)
                h = rng.random((c, hh, ww), dtype=np.float32)
                masks = ("square", "circle") if hh in (29, 65) else ("square",)
                check(tool, f"random {c}x{hh}x{ww}", x, h, tmp, masks)
        if npz and os.path.exists(npz):
            z = np.load(npz)
            x = (z["test_images"][:32].astype(np.float32) / np.float32(255))[:, None]
            h = (z["train_images"][0].astype(np.float32) / np.float32(255))[None]
            check(tool, "PneumoniaMNIST test images (host: train image 0)", x, h, tmp, ("square", "circle"))
        else:
            print(f"ok {n_test + 1} - PneumoniaMNIST images # SKIP {npz or 'no npz given'} is absent")
    print(f"1..{n_test + (0 if npz and os.path.exists(npz) else 1)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
