"""Cross-checks of `fesf predict` (tests/e2e/predict.sh).

export RUN DIR        every site's /plain/test of RUN as DIR/siteK.npz (test_* only, a pool)
                      and as DIR/siteK-png/ (PNG files, no labels, by zlib; not for volumes)
compare SUMMARY CSV SITE   the rows of CSV give the training's own test figures of SITE in
                      SUMMARY (summary.tsv, best round): accuracy, balanced accuracy and macro-F1
                      recomputed here from the rows' confusion matrix; prints TAP lines
same-probs A B        two CSVs hold the same predictions and probabilities, row by row (file
                      names aside), and B has no labels
surrogates H5 RUN K   the surrogates kept equal site K's /surrogate/test bit for bit
exported PT TS H5 CSV the model exported by scripts/fesf_torch.py (OUT.pt rebuilt by its load(),
                      and the TorchScript file alone) gives fesf's logits (CSV of --logits) on the
                      surrogates H5 within 1e-5
"""
import csv
import os
import struct
import sys
import zlib

import h5py
import numpy as np


def png_bytes(img):
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def export(run, out):
    os.makedirs(out, exist_ok=True)
    k = 1
    while os.path.exists(f"{run}/site-{k:03d}.h5"):
        g = h5py.File(f"{run}/site-{k:03d}.h5")["plain/test"]
        x, y = g["images"][:], g["labels"][:]
        np.savez(f"{out}/site{k}.npz", test_images=x[:, 0], test_labels=y)
        if x.ndim == 5:  # volumes [N, 1, D, H, W]: the .npz only
            k += 1
            continue
        d = f"{out}/site{k}-png"
        os.makedirs(d, exist_ok=True)
        for i, im in enumerate(x[:, 0]):
            with open(f"{d}/img{i:04d}.png", "wb") as f:
                f.write(png_bytes(im))
        k += 1


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def figures(rs):
    y = np.array([int(r["label"]) for r in rs])
    p = np.array([int(r["predicted"]) for r in rs])
    k = max(y.max(), p.max()) + 1
    conf = np.zeros((k, k))
    for a, b in zip(y, p):
        conf[a, b] += 1
    acc = np.trace(conf) / conf.sum()
    present = conf.sum(1) > 0
    rec = np.diag(conf)[present] / conf.sum(1)[present]
    f1s = []
    for c in range(k):
        if conf[c].sum() == 0 and conf[:, c].sum() == 0:
            continue
        tp = conf[c, c]
        f1s.append(2 * tp / (conf[c].sum() + conf[:, c].sum()))
    return conf, acc, rec.mean(), np.mean(f1s)


def compare(summary, path, site):
    want = None
    with open(summary) as f:
        lines = [l for l in f if not l.startswith("#")]
    for r in csv.DictReader(lines, delimiter="\t"):
        if r["site"] == site and r["round"] == "best":
            want = r
    rs = rows(path)
    conf, acc, bal, f1 = figures(rs)
    got = {"accuracy": acc, "balanced_accuracy": bal, "macro_f1": f1}
    bad = [f"{k} {got[k]:.6f} vs {float(want[k]):.6f}" for k in got if abs(got[k] - float(want[k])) > 1e-6]
    tag = "ok" if not bad else "not ok"
    print(f"{tag} 1 - site {site}: {len(rs)} rows give the training's test accuracy {acc:.4f}, balanced "
          f"{bal:.4f}, macro-F1 {f1:.4f} (confusion {conf.astype(int).tolist()}) {'; '.join(bad)}")


def same_probs(a, b):
    ra, rb = rows(a), rows(b)
    assert len(ra) == len(rb) and len(ra) > 0, (len(ra), len(rb))
    cols = [c for c in ra[0] if c.startswith("p_")] + ["predicted"]
    for x, y in zip(ra, rb):
        assert y["label"] == "", y
        for c in cols:
            assert x[c] == y[c], (x, y)
    print(f"{len(ra)} rows equal")


def surrogates(path, run, k):
    a = h5py.File(path)["images"][:]
    b = h5py.File(f"{run}/site-{int(k):03d}.h5")["surrogate/test/images"][:]
    assert a.shape == b.shape and np.array_equal(a, b), (a.shape, b.shape, np.abs(a - b).max())
    print(f"{len(a)} surrogates bit-identical")


def exported(pt, ts, h5, path):
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
    import fesf_torch
    x = torch.from_numpy(h5py.File(h5)["images"][:])
    rs = rows(path)
    want = np.array([[float(r[c]) for c in r if c.startswith("logit_")] for r in rs])
    worst = 0.0
    for name, m in (("OUT.pt", fesf_torch.load(pt)), ("TorchScript", torch.jit.load(ts))):
        with torch.no_grad():
            got = m(x).double().numpy()
        d = np.abs(got - want).max()
        assert d <= 1e-5, (name, d)
        worst = max(worst, d)
    print(f"{len(rs)} images: max |logit difference| {worst:.2e}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"export": export, "compare": compare, "same-probs": same_probs, "surrogates": surrogates,
     "exported": exported}[cmd](*args)
