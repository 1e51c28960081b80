"""DP-SGD's per-example clipping in fesf's C engine (fesf_model_dp_backward,
through build/tools/nn_step ... dp) against an independent PyTorch
implementation: the same model with affine InstanceNorm2d, the same
weights and batch, each example alone through forward and backward in
float64, its gradient (of its own summed cross-entropy) clipped to the
clip bound fesf used (the median norm, so about half are clipped), the
clipped gradients summed. Prints TAP: the per-example norms and the clipped
sum (relative L2 difference over all parameters, and the worst tensor's
max abs difference relative to its max abs value), each <= 1e-5.

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


def main():
    tool, arch, width, c, h, w, k, n = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:9])
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([tool, arch, str(width), str(c), str(h), str(w), str(k), str(n), "dp", "1", d], check=True)
        init, grads = read_h5_state(f"{d}/init.h5"), read_h5_state(f"{d}/grads.h5")
        with h5py.File(f"{d}/io.h5") as f:
            x, labels = torch.from_numpy(f["x"][()]).double(), torch.from_numpy(f["labels"][()]).long()
            clip, norms = float(f["clip"][0]), f["norms"][()].astype(np.float64)
    model = build(arch, width, c, k, "instance").train().double()
    model.load_state_dict({key: v.double() for key, v in init.items()}, strict=True)
    params = dict(model.named_parameters())
    total = {key: torch.zeros_like(p) for key, p in params.items()}
    ref_norms = []
    for i in range(n):
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[i:i + 1]), labels[i:i + 1], reduction="sum")
        loss.backward()
        g = torch.sqrt(sum((p.grad ** 2).sum() for p in params.values())).item()
        ref_norms.append(g)
        f = min(1.0, clip / g)
        for key, p in params.items():
            total[key] += f * p.grad
    ref_norms = np.array(ref_norms)
    clipped = int((ref_norms > clip).sum())
    nerr = float(np.max(np.abs(norms - ref_norms) / ref_norms))
    tag = f"{arch} w{width} c{c} {h}x{w}, {n} examples in a batch of {n + 3}"
    print(("ok" if nerr <= TOL else "not ok") + f" 1 - {tag}: per-example norms, max relative difference {nerr:.1e}")
    a = np.concatenate([grads[key].double().numpy().ravel() for key in params])
    b = np.concatenate([total[key].numpy().ravel() for key in params])
    l2 = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    worst = max((float(np.max(np.abs(grads[key].double().numpy() - total[key].numpy())) /
                       max(float(np.max(np.abs(total[key].numpy()))), 1e-30)), key) for key in params)
    good = l2 <= TOL and worst[0] <= TOL and 0 < clipped < n
    print(("ok" if good else "not ok") + f" 2 - {tag}: clipped sum ({clipped} of {n} clipped at {clip:.4g}) = "
          f"PyTorch's per-example loop: relative L2 {l2:.1e}, worst tensor {worst[1]} {worst[0]:.1e}")


if __name__ == "__main__":
    main()
