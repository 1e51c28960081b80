"""FedSGD over N sites = centralised minibatch SGD on the union of the same
batches (PyTorch, float64). Batch norm makes a batch's samples interact, so
the centralised step normalises each site's part of the union separately
(ghost batch norm, the only definition under which the two can agree); the
loss is the sites' mean losses weighted by their share of the training
images, exactly FedSGD's aggregation. Starting from fesf's checkpoint after
round 1, it replays rounds 2..R and compares every parameter with fesf's
checkpoint after round R (max |diff| / max |param| per tensor <= 1e-4).

usage: fedsgd_central.py RUN TOOL ARCH WIDTH INPUT ROUNDS BATCH LR SEED
(TOOL = build/tools/fed_batches; momentum 0, no weight decay). /usr/bin/python3."""
import glob
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import build, read_h5_state  # noqa: E402


def main():
    run, tool, arch, width, group, rounds, batch, lr, seed = sys.argv[1:10]
    width, rounds, batch, lr = int(width), int(rounds), int(batch), float(lr)
    sites = []
    for path in sorted(glob.glob(f"{run}/site-*.h5")):
        with h5py.File(path) as f:
            x = f[f"{group}/train/images"][()]
            x = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x
            sites.append((int(f.attrs["site_id"]), x, f[f"{group}/train/labels"][()].astype(np.int64),
                          int(f.attrs["n_classes"])))
    allx = np.concatenate([s[1] for s in sites]).astype(np.float64)
    c = allx.shape[1]
    mean = allx.transpose(1, 0, 2, 3).reshape(c, -1).mean(1)
    var = (allx.transpose(1, 0, 2, 3).reshape(c, -1) ** 2).mean(1) - mean ** 2
    m32, s32 = mean.astype(np.float32), np.sqrt(np.maximum(var, 1e-12)).astype(np.float32)
    norm = [((x - m32[None, :, None, None]) / s32[None, :, None, None]) for _, x, _, _ in sites]
    n_total = sum(len(s[2]) for s in sites)
    batches = {}
    for (sid, x, y, k) in sites:
        out = subprocess.run([tool, seed, str(sid), str(len(y)), str(batch), str(rounds)], check=True,
                             capture_output=True, text=True).stdout.split("\n")
        batches[sid] = [list(map(int, line.split()[1:])) for line in out if line]
    torch.set_num_threads(1)
    model = build(arch, width, c, sites[0][3]).train().double()
    model.load_state_dict({k: v.double() for k, v in read_h5_state(f"{run}/ckpt-0001.h5").items()}, strict=False)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0)
    for r in range(1, rounds):
        opt.zero_grad()
        loss = 0
        for (sid, x, y, k), xn in zip(sites, norm):
            idx = batches[sid][r]
            logits = model(torch.from_numpy(xn[idx]).double())
            loss = loss + (len(y) / n_total) * torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[idx]))
        loss.backward()
        opt.step()
    final = read_h5_state(f"{run}/ckpt-{rounds:04d}.h5")
    worst, worst_key = 0.0, ""
    for key, p in model.named_parameters():
        e = float(np.abs(final[key].numpy() - p.detach().numpy()).max() / max(np.abs(p.detach().numpy()).max(), 1e-12))
        if e > worst:
            worst, worst_key = e, key
    print(f"{len(sites)} sites, rounds 2..{rounds} replayed: max relative parameter difference {worst:.2e} ({worst_key})")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
