"""Write small input files, good and bad, for the end-to-end tests.

usage: make_fixtures.py DIR
Creates in DIR: good.npz (grey), rgb.npz, empty.npz, notzip.npz, truncated.npz,
noarrays.npz, mismatch.npz, float64.npz, png/ (8 PNGs, labels.csv, missing.csv,
split.csv) and notfesf.h5. PNGs are written with zlib (no imaging library).
"""
import os
import struct
import sys
import zlib

import h5py
import numpy as np


def png_bytes(img):
    """8-bit grey (H, W) or RGB (H, W, 3) array -> PNG file bytes."""
    h, w = img.shape[:2]
    color = 2 if img.ndim == 3 else 0
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def main(d):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    lab = rng.integers(0, 2, (40, 1), dtype=np.uint8)
    np.savez_compressed(f"{d}/good.npz", train_images=img[:30], train_labels=lab[:30],
                        test_images=img[30:], test_labels=lab[30:])
    rgb = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    np.savez_compressed(f"{d}/rgb.npz", train_images=rgb, train_labels=np.arange(12, dtype=np.int64) % 3)
    open(f"{d}/empty.npz", "wb").close()
    with open(f"{d}/notzip.npz", "w") as f:
        f.write("this is not a zip archive\n" * 10)
    data = open(f"{d}/good.npz", "rb").read()
    with open(f"{d}/truncated.npz", "wb") as f:
        f.write(data[: len(data) // 2])
    np.savez_compressed(f"{d}/noarrays.npz", x=img, y=lab)
    np.savez_compressed(f"{d}/mismatch.npz", train_images=img[:10], train_labels=lab[:9])
    np.savez_compressed(f"{d}/float64.npz", train_images=img.astype(np.float64) / 255, train_labels=lab)

    p = f"{d}/png"
    os.makedirs(p, exist_ok=True)
    rows = ["file,label,split"]
    for i in range(8):
        with open(f"{p}/img{i}.png", "wb") as f:
            f.write(png_bytes(img[i]))
        rows.append(f"img{i}.png,{int(lab[i, 0])},{'test' if i >= 6 else 'train'}")
    with open(f"{p}/split.csv", "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(f"{p}/labels.csv", "w") as f:
        f.write("\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n")
    with open(f"{p}/missing.csv", "w") as f:
        f.write("file,label\nimg0.png,0\nimg1.png,1\nnot-there.png,1\n")

    with h5py.File(f"{d}/notfesf.h5", "w") as f:
        f["data"] = np.zeros(4)


if __name__ == "__main__":
    main(sys.argv[1])
