"""Independent cross-check of `fesf prepare` output with h5py and NumPy.

Reads every dataset and attribute of hosts.h5 and site-*.h5 in a run
directory and checks, against NumPy's own reading of the source .npz:
  * every plaintext image and label lands exactly once, bit for bit, in one
    site's split or in the host pool (hosts hold float32 = uint8 / 255);
  * within a shard, images keep their source order;
  * the stored count and class_counts attributes match the labels;
  * with --readme, the class counts per split add up to the ones the
    dataset README states.
Exit status 0 when all hold; one line per failed check otherwise.
Run with Debian's /usr/bin/python3 (numpy, h5py).
"""
import argparse
import glob
import os
import re
import sys

import h5py
import numpy as np

SPLITS = ("train", "val", "test")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def read_everything(path):
    """Open with h5py, read every attribute and dataset; return the file."""
    f = h5py.File(path, "r")
    for key in ("format", "version", "fesf_version", "created", "config"):
        if key not in f.attrs:
            fail(f"{path}: root attribute '{key}' missing")
    objs = []
    f.visititems(lambda name, obj: objs.append(obj))
    for obj in [f] + objs:
        for k in obj.attrs:
            obj.attrs[k]
        if isinstance(obj, h5py.Dataset):
            obj[()]
    return f


def npz_splits(path):
    z = np.load(path)
    out = {}
    for s in SPLITS:
        if f"{s}_images" in z:
            img = z[f"{s}_images"]
            if img.ndim == 4 and img.shape[3] not in (1, 3):  # volumes NDHW -> NCDHW
                img = img[:, None]
            elif img.ndim == 4:  # NHWC -> NCHW
                img = img.transpose(0, 3, 1, 2)
            else:
                img = img[:, None]
            out[s] = (np.ascontiguousarray(img), z[f"{s}_labels"].reshape(-1).astype(np.int32))
    return out


def row_keys(images, labels):
    return sorted(zip((im.tobytes() for im in images), labels.tolist()))


def check_order(src_imgs, dst_imgs, name):
    """dst rows appear in src in increasing index order (greedy match)."""
    pos = {}
    for i, im in enumerate(src_imgs):
        pos.setdefault(im.tobytes(), []).append(i)
    last = -1
    for im in dst_imgs:
        cand = [i for i in pos.get(im.tobytes(), []) if i > last]
        if not cand:
            fail(f"{name}: rows are not in source order")
            return
        last = cand[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--npz", required=True)
    ap.add_argument("--readme")
    args = ap.parse_args()

    src = npz_splits(args.npz)
    shards = sorted(glob.glob(os.path.join(args.run, "site-*.h5")))
    if not shards:
        fail("no site-*.h5 in " + args.run)
    hosts_path = os.path.join(args.run, "hosts.h5")
    hosts = read_everything(hosts_path) if os.path.exists(hosts_path) else None

    got = {s: ([], []) for s in SPLITS}
    for path in shards:
        f = read_everything(path)
        if f.attrs["format"] != "fesf-shard" or f.attrs["version"] != 1:
            fail(f"{path}: wrong format/version")
        for s in SPLITS:
            g = f[f"plain/{s}"]
            img, lab = g["images"][()], g["labels"][()]
            if g.attrs["count"] != len(lab) or len(img) != len(lab):
                fail(f"{path}:{s}: count attribute {g.attrs['count']} vs {len(lab)} labels, {len(img)} images")
            counts = np.bincount(lab, minlength=len(g.attrs["class_counts"]))
            if not np.array_equal(counts, g.attrs["class_counts"]):
                fail(f"{path}:{s}: class_counts {g.attrs['class_counts']} vs labels {counts}")
            if s in src and not (s == "val" and hosts is not None and "val split" in hosts.attrs["source"]):
                check_order(src[s][0], img, f"{path}:{s}")
            got[s][0].extend(img)
            got[s][1].extend(lab.tolist())

    pool = None
    if hosts is not None:
        pool = "val" if "val split" in hosts.attrs["source"] else "train"
    # Images carved into val/test from train belong to train in the source
    # (val too when the dataset's val split is the host pool).
    for s in SPLITS:
        if s not in src or (s == "val" and pool == "val"):
            got["train"][0].extend(got[s][0])
            got["train"][1].extend(got[s][1])
            got[s] = ([], [])
    # The host pool comes from train (public fraction) or is the val split.
    if hosts is not None:
        h = hosts["images"][()]
        back = np.rint(h * 255.0).astype(np.uint8)
        if not np.array_equal(back.astype(np.float32) / np.float32(255.0), h):
            fail("hosts.h5: images are not uint8/255 exactly")
        pool = "val" if "val split" in hosts.attrs["source"] else "train"
        got[pool][0].extend(back)
        got[pool][1].extend(hosts["labels"][()].tolist())

    for s in SPLITS:
        if s not in src:
            continue
        want = row_keys(*src[s])
        have = row_keys(np.array(got[s][0]).reshape(-1, *src[s][0].shape[1:]), np.array(got[s][1], dtype=np.int32))
        if want != have:
            fail(f"split {s}: shards hold {len(have)} images, source {len(want)}, or their bytes/labels differ")
        else:
            print(f"ok: split {s}: {len(want)} images and labels equal bit for bit")

    if args.readme:
        text = open(args.readme).read()
        m = re.search(r"train (\d+) normal / (\d+) pneumonia; val (\d+) / (\d+); test (\d+) / (\d+)", text)
        if not m:
            fail("README: class counts line not found")
        else:
            v = list(map(int, m.groups()))
            want = {"train": v[0:2], "val": v[2:4], "test": v[4:6]}
            for s in SPLITS:
                c = np.bincount(np.array(src[s][1]), minlength=2).tolist()
                have = np.bincount(np.array(got[s][1], dtype=np.int64), minlength=2).tolist()
                if have != want[s] or c != want[s]:
                    fail(f"split {s}: class counts {have} (npz {c}), README {want[s]}")
                else:
                    print(f"ok: split {s}: class counts {have} = README")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
