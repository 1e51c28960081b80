"""The clinical volume readers (nifti:, dicom:) against nibabel, pydicom and PyTorch.

Usage (TAP lines on stdout; run by tests/e2e/formats.sh with Debian's /usr/bin/python3):
  formats_check.py raw VOL_DUMP FORMATS_DIR TMP
      every file of FORMATS_DIR (the shared medical-formats set): fesf's voxels
      (tests/tools/vol_dump raw) = nibabel's get_fdata() (each volume T of a 4-D
      file, as (k, j, i)) or pydicom's pixel_array * slope + intercept, max rel
      error <= 1e-6 (|a - b| / |b|, and |a| where b = 0)
  formats_check.py resample VOL_DUMP TMP
      fesf_volume_resample (through a nifti: source with window 0,1 on [0, 1]
      data, which leaves the voxels as they are) = torch's
      interpolate(mode='trilinear', align_corners=False), max abs <= 1e-6
  formats_check.py series VOL_DUMP TEMPLATE.dcm TMP
      DICOM series written by pydicom in shuffled order (axial and sagittal,
      positions along the normal disagreeing with InstanceNumber; and without
      positions): fesf sorts them along the normal (or by InstanceNumber)
  formats_check.py make-nifti DIR / make-dicom TEMPLATE.dcm DIR
      a labelled set (DIR/labels.csv) and DIR/expected.npz (its volumes as read)
  formats_check.py make-bad TEMPLATE.dcm DIR
      DIR/rle.dcm (the template RLE-compressed), j2k.dcm (JPEG 2000, which fesf's
      DCMTK cannot decode), rgb.dcm (3 samples per pixel), mixed/ (a series of
      two slice sizes), five.nii (5-D), cplx.nii (complex64), rgb.nii (RGB24)
  formats_check.py shard RUN DIR LO HI D H W
      every volume of RUN's shards and hosts.h5 is [1, D, H, W] float32 in [0, 1]
      and one of DIR/expected.npz's windowed and resampled (torch), max abs <= 1e-5;
      the shards' attributes record the source kind, window and size
"""
import copy
import glob
import os
import subprocess
import sys

import numpy as np

_n = 0


def tap(ok, what):
    global _n
    _n += 1
    print(f"{'ok' if ok else 'not ok'} {_n} - {what}")
    sys.stdout.flush()
    return ok


def rel_err(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    d = np.abs(a - b)
    nz = b != 0
    r = np.where(nz, d / np.where(nz, np.abs(b), 1.0), np.abs(a))
    return float(r.max()) if r.size else 0.0


def dump_raw(tool, kind, path, tmp):
    out = os.path.join(tmp, "raw.f32")
    p = subprocess.run([tool, "raw", kind, path, out], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    d, h, w = map(int, p.stdout.split())
    return np.fromfile(out, dtype="<f4").reshape(d, h, w), ""


def dump_source(tool, spec, tmp, window="-", size=None):
    out = os.path.join(tmp, "src.f32")
    cmd = [tool, "source", spec, out, window] + ([size] if size else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    lines = [ln.split() for ln in p.stdout.splitlines()]
    d, h, w = map(int, lines[0][3:6])
    return np.fromfile(out, dtype="<f4").reshape(len(lines), d, h, w), ""


def dicom_ref(path):
    import pydicom
    ds = pydicom.dcmread(path)
    a = ds.pixel_array.astype(np.float64)
    a = a * float(getattr(ds, "RescaleSlope", 1.0)) + float(getattr(ds, "RescaleIntercept", 0.0))
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return a.reshape(frames, ds.Rows, ds.Columns)


def cmd_raw(tool, folder, tmp):
    import nibabel as nib
    files = sorted(os.listdir(folder))
    for name in files:
        path = os.path.join(folder, name)
        if name.endswith(".dcm"):
            got, err = dump_raw(tool, "dicom", path, tmp)
            ref = dicom_ref(path)
            e = rel_err(got, ref) if got is not None else float("inf")
            tap(e <= 1e-6, f"{name}: {ref.shape[0]} x {ref.shape[1]} x {ref.shape[2]} = pydicom pixel_array * slope "
                f"+ intercept, max rel error {e:.2e}{' ' + err if err else ''}")
        elif name.endswith(".nii") or name.endswith(".nii.gz"):
            img = nib.load(path)
            data = img.get_fdata(dtype=np.float64)
            vols = [data] if data.ndim == 3 else [data[..., t] for t in range(data.shape[3])]
            worst, errs = 0.0, ""
            for t, v in enumerate(vols):
                got, err = dump_raw(tool, "nifti", path + (f"#{t}" if data.ndim == 4 else ""), tmp)
                worst = max(worst, rel_err(got, v.transpose(2, 1, 0)) if got is not None else float("inf"))
                errs = errs or err
            tap(worst <= 1e-6, f"{name} ({type(img).__name__}, {img.get_data_dtype()}, {len(vols)} volume"
                f"{'s' if len(vols) > 1 else ''} of {'x'.join(map(str, data.shape[:3]))}) = nibabel get_fdata(), "
                f"max rel error {worst:.2e}{' ' + errs if errs else ''}")


def write_nifti(path, vol_dhw, slope=None, inter=None, dtype=np.float32):
    import nibabel as nib
    img = nib.Nifti1Image(np.asarray(vol_dhw).transpose(2, 1, 0).astype(dtype), np.eye(4))
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    nib.save(img, path)


def torch_resample(vol, size):
    import torch
    t = torch.from_numpy(np.ascontiguousarray(vol, np.float32))[None, None]
    return torch.nn.functional.interpolate(t, size=size, mode="trilinear", align_corners=False)[0, 0].numpy()


def cmd_resample(tool, tmp):
    rng = np.random.default_rng(7)
    cases = [((5, 6, 7), (5, 6, 7)), ((4, 5, 6), (9, 11, 13)), ((12, 10, 9), (5, 4, 3)), ((7, 3, 8), (3, 8, 5)),
             ((1, 6, 6), (4, 3, 9)), ((16, 16, 16), (28, 28, 28))]
    d = os.path.join(tmp, "rs")
    os.makedirs(d, exist_ok=True)
    for src, dst in cases:
        v = rng.random(src, dtype=np.float32)
        write_nifti(os.path.join(d, "v.nii"), v)
        with open(os.path.join(d, "l.csv"), "w") as f:
            f.write("v.nii,0\n")
        got, err = dump_source(tool, f"nifti:{d}:{d}/l.csv", tmp, "0,1", ",".join(map(str, dst)))
        ref = torch_resample(v, dst)
        e = float(np.abs(got[0] - ref).max()) if got is not None else float("inf")
        tap(e <= 1e-6, f"resample {src} -> {dst} = torch trilinear (align_corners=False), max abs {e:.2e} {err}")


def series_files(template, folder, vols, orient, normal, order, positions=True, seed=0):
    """One single-frame file per slice of vols [D, H, W] (int16), written in `order`; slice k at
    position k * 2.5 along `normal`, InstanceNumber in the reverse of the position order."""
    import pydicom
    os.makedirs(folder, exist_ok=True)
    base = pydicom.dcmread(template)
    uid = pydicom.uid.generate_uid()
    D = vols.shape[0]
    for n, k in enumerate(order):
        ds = copy.deepcopy(base)
        ds.Rows, ds.Columns = vols.shape[1], vols.shape[2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.SamplesPerPixel = 1
        ds.PixelData = vols[k].astype("<i2").tobytes()
        ds.RescaleSlope, ds.RescaleIntercept = 1.5, -100 + k  # each slice its own intercept
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = (D - k) if positions else (k + 1)
        if positions:
            ds.ImageOrientationPatient = list(orient)
            ds.ImagePositionPatient = [float(2.5 * k * c + o) for c, o in zip(normal, (10.0, -20.0, 30.0))]
        else:
            for tag in ("ImagePositionPatient", "ImageOrientationPatient"):
                if tag in ds:
                    delattr(ds, tag)
        ds.save_as(os.path.join(folder, f"f{n:03d}.dcm"))
    return vols.astype(np.float64) * 1.5 + (-100 + np.arange(D))[:, None, None]


def cmd_series(tool, template, tmp):
    rng = np.random.default_rng(3)
    vols = rng.integers(-1000, 2000, size=(6, 9, 7)).astype(np.int16)
    order = [3, 0, 5, 1, 4, 2]
    cases = [("axial", (1, 0, 0, 0, 1, 0), (0, 0, 1), True),
             ("sagittal (normal -x)", (0, 1, 0, 0, 0, -1), (-1, 0, 0), True),
             ("no positions: InstanceNumber", None, None, False)]
    for i, (what, orient, normal, pos) in enumerate(cases):
        folder = os.path.join(tmp, f"series{i}")
        ref = series_files(template, folder, vols, orient, normal, order, pos)
        got, err = dump_raw(tool, "dicom", folder, tmp)
        e = rel_err(got, ref) if got is not None else float("inf")
        tap(e <= 1e-6, f"dicom series {what}, 6 slices written shuffled: sorted, each slice's slope/intercept, "
            f"max rel error {e:.2e} {err}")


def cmd_make_nifti(folder):
    rng = np.random.default_rng(11)
    os.makedirs(folder, exist_ok=True)
    vols, rows = [], ["file,label,split"]
    for i in range(8):
        shape = (6 + i % 3, 10 + i, 9)
        v = rng.integers(-300, 500, size=shape).astype(np.int16)
        write_nifti(os.path.join(folder, f"v{i}.nii.gz"), v, slope=0.5, inter=10.0, dtype=np.int16)
        vols.append(v.astype(np.float64) * 0.5 + 10.0)
        rows.append(f"v{i}.nii.gz,{i % 2},{'test' if i >= 6 else 'train'}")
    # one 4-D file, its volume 1
    v4 = rng.normal(0, 100, size=(2, 7, 8, 9)).astype(np.float32)
    import nibabel as nib
    nib.save(nib.Nifti1Image(v4.transpose(3, 2, 1, 0), np.eye(4)), os.path.join(folder, "four.nii"))
    vols.append(v4[1].astype(np.float64))
    rows.append("four.nii#1,1,train")
    with open(os.path.join(folder, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    np.savez(os.path.join(folder, "expected.npz"), *[v for v in vols])


def cmd_make_dicom(template, folder):
    rng = np.random.default_rng(5)
    os.makedirs(folder, exist_ok=True)
    vols, rows = [], []
    for i in range(10):
        v = rng.integers(-1000, 1500, size=(5 + i % 2, 8, 10)).astype(np.int16)
        order = list(rng.permutation(v.shape[0]))
        vols.append(series_files(template, os.path.join(folder, f"s{i}"), v, (1, 0, 0, 0, 1, 0), (0, 0, 1), order))
        rows.append(f"s{i},{i % 2}")
    with open(os.path.join(folder, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    np.savez(os.path.join(folder, "expected.npz"), *vols)


def cmd_make_bad(template, folder):
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless, RLELossless, generate_uid
    os.makedirs(folder, exist_ok=True)
    base = pydicom.dcmread(template)
    ds = copy.deepcopy(base)
    ds.compress(RLELossless)
    ds.save_as(os.path.join(folder, "rle.dcm"))
    ds = copy.deepcopy(base)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 60])
    ds["PixelData"].VR = "OB"
    ds.is_implicit_VR, ds.is_little_endian = False, True
    ds.save_as(os.path.join(folder, "j2k.dcm"))
    ds = copy.deepcopy(base)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.zeros((ds.Rows, ds.Columns, 3), np.uint8).tobytes()
    ds.save_as(os.path.join(folder, "rgb.dcm"))
    import nibabel as nib
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3, 2, 2), np.int16), np.eye(4)), os.path.join(folder, "five.nii"))
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.complex64), np.eye(4)), os.path.join(folder, "cplx.nii"))
    rgb = np.zeros((3, 3, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), os.path.join(folder, "rgb.nii"))
    mixed = os.path.join(folder, "mixed")
    os.makedirs(mixed, exist_ok=True)
    uid = generate_uid()
    for i, (r, c) in enumerate(((8, 8), (8, 8), (8, 6))):
        ds = copy.deepcopy(base)
        ds.Rows, ds.Columns, ds.SeriesInstanceUID = r, c, uid
        ds.PixelData = np.zeros((r, c), "<i2").tobytes()
        ds.ImagePositionPatient = [0.0, 0.0, float(i)]
        ds.save_as(os.path.join(mixed, f"s{i}.dcm"))


def cmd_shard(run, folder, lo, hi, size):
    import h5py
    exp = np.load(os.path.join(folder, "expected.npz"))
    refs = [torch_resample(np.clip((exp[k] - lo) / (hi - lo), 0, 1), size) for k in exp.files]
    got = []
    shards = sorted(glob.glob(os.path.join(run, "site-*.h5")))
    attrs_ok = len(shards) > 0
    for path in shards:
        with h5py.File(path, "r") as f:
            a = f.attrs
            win = a["window"].decode() if isinstance(a["window"], bytes) else str(a["window"])
            attrs_ok &= (list(a["size"]) == list(size) and abs(float(a["window_lo"]) - lo) < 1e-12 and
                         abs(float(a["window_hi"]) - hi) < 1e-12 and int(a["resampled"]) == 1 and
                         win == f"{lo:.17g},{hi:.17g}" and a["source_kind"] in (b"nifti", b"dicom", "nifti", "dicom"))
            for split in ("train", "val", "test"):
                key = f"plain/{split}/images"
                if key in f:
                    x = f[key][()]
                    tap(x.ndim == 5 and x.shape[1:] == (1,) + tuple(size) and x.dtype == np.float32,
                        f"{os.path.basename(path)} {key}: {list(x.shape)} {x.dtype}")
                    got.extend(x[:, 0])
    hp = os.path.join(run, "hosts.h5")
    if os.path.exists(hp):
        with h5py.File(hp, "r") as f:
            got.extend(f["images"][()][:, 0])
    tap(attrs_ok, f"shard attributes source_kind, window = {lo:g},{hi:g}, size = {list(size)}, resampled = 1")
    lo_ok = all(float(g.min()) >= 0.0 and float(g.max()) <= 1.0 for g in got)
    tap(lo_ok, f"{len(got)} volumes in [0, 1]")
    used, worst = set(), 0.0
    for g in got:
        errs = [float(np.abs(g - r).max()) if k not in used else np.inf for k, r in enumerate(refs)]
        k = int(np.argmin(errs))
        used.add(k)
        worst = max(worst, errs[k])
    tap(len(got) == len(refs) and worst <= 1e-5,
        f"{len(got)} of {len(refs)} volumes, each once = the source windowed and resampled by torch, max abs {worst:.2e}")


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "raw":
        cmd_raw(a[0], a[1], a[2])
    elif cmd == "resample":
        cmd_resample(a[0], a[1])
    elif cmd == "series":
        cmd_series(a[0], a[1], a[2])
    elif cmd == "make-nifti":
        cmd_make_nifti(a[0])
    elif cmd == "make-dicom":
        cmd_make_dicom(a[0], a[1])
    elif cmd == "make-bad":
        cmd_make_bad(a[0], a[1])
    elif cmd == "shard":
        cmd_shard(a[0], a[1], float(a[2]), float(a[3]), tuple(int(v) for v in a[4:7]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
