#!/usr/bin/python3
"""Issue 13's measurement datasets, built from ../shared/datasets into OUT (never committed):
  pneumonia500.npz   PneumoniaMNIST with 500 of its 4,708 training images (seed 0), official val/test
  pneumonia1000.npz  the same with 1,000
  adrenal2d_64.npz   AdrenalMNIST3D 64^3 as 2-D: each volume's mean projection along depth, 64 x 64 grey
  shapes4_rgb32.npz  an RGB 4-class phantom, 32 x 32: a disk, square, triangle or ring in a random colour
                     on a smooth random-colour background with Gaussian noise (sd 0.12); 800/100/300
usage: train_sets.py SHARED_DATASETS OUT"""
import sys
import numpy as np


def subsample(d, n, out):
    i = np.sort(np.random.default_rng(0).choice(len(d["train_images"]), n, replace=False))
    o = {k: d[k] for k in d.files}
    o["train_images"], o["train_labels"] = d["train_images"][i], d["train_labels"][i]
    np.savez(out, **o)


def adrenal2d(a, out):
    o = {}
    for s in ("train", "val", "test"):
        p = (a[f"{s}_images"].astype(np.float32) / 255.0).mean(axis=1)
        p /= max(float(p.max()), 1e-6)
        o[f"{s}_images"] = np.clip(np.round(p * 255), 0, 255).astype(np.uint8)
        o[f"{s}_labels"] = a[f"{s}_labels"]
    np.savez(out, **o)


def shapes(n, r, S=32):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    X, Y = np.empty((n, S, S, 3), np.uint8), r.integers(0, 4, n).astype(np.uint8)
    for k in range(n):
        cy, cx = r.uniform(10, 22, 2)
        rad = r.uniform(4, 9)
        dy, dx = yy - cy, xx - cx
        m = [dy**2 + dx**2 <= rad**2,
             (np.abs(dy) <= rad * .85) & (np.abs(dx) <= rad * .85),
             (dy <= rad * .7) & (dy >= -rad) & (np.abs(dx) <= (dy + rad) * .6),
             (dy**2 + dx**2 <= rad**2) & (dy**2 + dx**2 >= (rad * .55)**2)][Y[k]]
        bg = r.uniform(0, 1, 3)[None, None, :] * (0.6 + 0.4 * np.sin(xx / r.uniform(4, 12) + r.uniform(0, 6))[..., None])
        img = np.where(m[..., None], r.uniform(0, 1, 3)[None, None, :], bg) + r.normal(0, 0.12, (S, S, 3))
        X[k] = np.clip(np.round(img * 255), 0, 255)
    return X, Y[:, None]


def main():
    shared, out = sys.argv[1], sys.argv[2]
    d = np.load(f"{shared}/pneumoniamnist_28.npz")
    for n in (500, 1000):
        subsample(d, n, f"{out}/pneumonia{n}.npz")
    adrenal2d(np.load(f"{shared}/adrenalmnist3d_64.npz"), f"{out}/adrenal2d_64.npz")
    o = {}
    for s, n, seed in (("train", 800, 1), ("val", 100, 2), ("test", 300, 3)):
        o[f"{s}_images"], o[f"{s}_labels"] = shapes(n, np.random.default_rng(seed))
    np.savez(f"{out}/shapes4_rgb32.npz", **o)


if __name__ == "__main__":
    main()
