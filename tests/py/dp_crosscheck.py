"""DP-SGD's per-example clipping in fesf's C engine (fesf_model_dp_backward,
through build/tools/nn_step ... dp) against an independent PyTorch
implementation: the same model with affine InstanceNorm2d, the same
weights and batch, each example alone through forward and backward in
float64, its gradient (of its own summed cross-entropy) clipped to the
clip bound fesf used (the median norm, so about half are clipped), the
clipped gradients summed. Prints TAP: the per-example norms and the clipped
sum (relative L2 difference over all parameters, and the worst tensor's
max abs difference relative to its max abs value), each <= 1e-5 to the
float64 or to a float32 run of the same loop, or within twice PyTorch's
own float32 error (nn_crosscheck.py's criterion).

usage: dp_crosscheck.py TOOL ARCH WIDTH C H W CLASSES N
Run with Debian's /usr/bin/python3 (torch, h5py, numpy)."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import build, read_h5_state  # noqa: E402

TOL = 1e-5


def per_example(arch, width, c, k, init, x, labels, clip, dtype):
    """PyTorch's per-example loop in dtype: each example's gradient norm and
    the sum of the gradients clipped to clip"""
    model = build(arch, width, c, k, "instance").train().to(dtype)
    model.load_state_dict({key: v.to(dtype) for key, v in init.items()}, strict=True)
    params = dict(model.named_parameters())
    total = {key: torch.zeros_like(p) for key, p in params.items()}
    norms = []
    for i in range(x.shape[0]):
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[i:i + 1].to(dtype)), labels[i:i + 1], reduction="sum")
        loss.backward()
        g = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params.values())).item()
        norms.append(g)
        f = min(1.0, clip / g)
        for key, p in params.items():
            total[key] += f * p.grad
    return np.array(norms), {key: v.double().numpy() for key, v in total.items()}


def norm_err(a, ref):
    return float(np.max(np.abs(a - ref) / ref))


def sum_err(a, ref):
    """relative L2 over all tensors, and the worst tensor's max abs difference
    relative to its max abs value, with its name"""
    va = np.concatenate([a[key].ravel() for key in ref])
    vb = np.concatenate([ref[key].ravel() for key in ref])
    l2 = float(np.linalg.norm(va - vb) / np.linalg.norm(vb))
    worst = max((float(np.max(np.abs(a[key] - ref[key]))) / max(float(np.max(np.abs(ref[key]))), 1e-30), key)
                for key in ref)
    return l2, worst


def close(e64, e32, t32):
    """nn_crosscheck.py's criterion: within TOL of either reference, or no
    further from float64 than twice PyTorch's own float32 (a model whose
    float32 rounding is amplified, such as instance norm on a near-flat plane)"""
    return min(e64, e32) <= TOL or e64 <= 2 * t32


def main():
    tool, arch, width, c, h, w, k, n = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:9])
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([tool, arch, str(width), str(c), str(h), str(w), str(k), str(n), "dp", "1", d], check=True)
        init, grads = read_h5_state(f"{d}/init.h5"), read_h5_state(f"{d}/grads.h5")
        with h5py.File(f"{d}/io.h5") as f:
            x, labels = torch.from_numpy(f["x"][()]).double(), torch.from_numpy(f["labels"][()]).long()
            clip, norms = float(f["clip"][0]), f["norms"][()].astype(np.float64)
    n64, s64 = per_example(arch, width, c, k, init, x, labels, clip, torch.float64)
    n32, s32 = per_example(arch, width, c, k, init, x, labels, clip, torch.float32)
    fesf = {key: grads[key].double().numpy() for key in s64}
    clipped = int((n64 > clip).sum())
    tag = f"{arch} w{width} c{c} {h}x{w}, {n} examples in a batch of {n + 3}"
    e64, e32, t32 = norm_err(norms, n64), norm_err(norms, n32), norm_err(n32, n64)
    print(("ok" if close(e64, e32, t32) else "not ok") + f" 1 - {tag}: per-example norms, max relative "
          f"difference {e64:.1e} to float64, {e32:.1e} to float32 (PyTorch float32 to float64 {t32:.1e})")
    (l64, w64), (l32, w32), (lt, wt) = sum_err(fesf, s64), sum_err(fesf, s32), sum_err(s32, s64)
    good = close(l64, l32, lt) and close(w64[0], w32[0], wt[0]) and 0 < clipped < n
    print(("ok" if good else "not ok") + f" 2 - {tag}: clipped sum ({clipped} of {n} clipped at {clip:.4g}) = "
          f"PyTorch's per-example loop: relative L2 {l64:.1e} to float64, {l32:.1e} to float32 (PyTorch float32 "
          f"{lt:.1e}), worst tensor {w64[1]} {w64[0]:.1e} ({wt[0]:.1e})")


if __name__ == "__main__":
    main()
