#!/usr/bin/python3
"""Export a fesf classifier (model.h5) to PyTorch, so that it runs outside fesf.

    /usr/bin/python3 scripts/fesf_torch.py MODEL.h5 OUT.pt [--torchscript OUT.ts]

OUT.pt is a dict: "state_dict" (the network's parameters and batch-norm
statistics, keys = fesf's tensor names), "arch", "width", "channels",
"classes", "size", "norm" ("batch" or "instance") and "normalise" (the input
normalisation: "pooled" with "mean" and "std" per channel, or "image").
Rebuild it with `load(OUT.pt)` from this file. OUT.ts (TorchScript) runs
with torch.jit.load alone: it takes surrogate images [N, C, H, W] in [0, 1],
applies the input normalisation, and returns the logits, as `fesf predict
--logits` does. The model definitions below are the project's PyTorch
reference of src/nn/model.c (the tests cross-check them against fesf).

Run with Debian's /usr/bin/python3 (python3-torch, python3-h5py)."""
import argparse
import configparser
import re
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def Norm(c, norm):
    """fesf's model.norm: BatchNorm2d, or for DP-SGD affine InstanceNorm2d (no running statistics)."""
    return nn.BatchNorm2d(c) if norm == "batch" else nn.InstanceNorm2d(c, affine=True)


class CnnSmall(nn.Module):
    def __init__(self, c, classes, w=16, norm="batch"):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, w, 3, 1, 1, bias=False), Norm(w, norm)
        self.conv2, self.bn2 = nn.Conv2d(w, 2 * w, 3, 1, 1, bias=False), Norm(2 * w, norm)
        self.conv3, self.bn3 = nn.Conv2d(2 * w, 4 * w, 3, 1, 1, bias=False), Norm(4 * w, norm)
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2, 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2, 2)
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Cnn3dSmall(nn.Module):
    """cnn-small's 3-D twin for volumes [N, C, D, H, W] (fesf's cnn3d-small)."""

    def __init__(self, c, classes, w=16, norm="batch"):
        super().__init__()
        N = (lambda k: nn.BatchNorm3d(k)) if norm == "batch" else (lambda k: nn.InstanceNorm3d(k, affine=True))
        self.conv1, self.bn1 = nn.Conv3d(c, w, 3, 1, 1, bias=False), N(w)
        self.conv2, self.bn2 = nn.Conv3d(w, 2 * w, 3, 1, 1, bias=False), N(2 * w)
        self.conv3, self.bn3 = nn.Conv3d(2 * w, 4 * w, 3, 1, 1, bias=False), N(4 * w)
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x):
        x = F.max_pool3d(F.relu(self.bn1(self.conv1(x))), 2, 2)
        x = F.max_pool3d(F.relu(self.bn2(self.conv2(x))), 2, 2)
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool3d(x, 1), 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, norm="batch"):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), Norm(cout, norm)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), Norm(cout, norm)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), Norm(cout, norm))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet18(nn.Module):
    """MedMNIST's 28-px ResNet-18: 3x3 stride-1 stem, no max-pool."""

    def __init__(self, c, classes, w=64, norm="batch"):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, w, 3, 1, 1, bias=False), Norm(w, norm)
        cin = w
        for i in range(4):
            cout, blocks = w << i, []
            for b in range(2):
                blocks.append(BasicBlock(cin, cout, 2 if i > 0 and b == 0 else 1, norm))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(8 * w, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(arch, width, c, classes, norm="batch"):
    return {"cnn-small": CnnSmall, "resnet18": ResNet18, "cnn3d-small": Cnn3dSmall}[arch](c, classes, width, norm)


def read_h5_state(path):
    """{torch state_dict key: tensor} from a fesf model.h5 (params and buffers)."""
    out = {}
    with h5py.File(path, "r") as f:
        for top in ("params", "buffers"):
            if top not in f:
                continue
            for layer, g in f[top].items():
                for name, d in g.items():
                    out[f"{layer}.{name}"] = torch.from_numpy(np.array(d[()], dtype=np.float32))
    return out


class Classifier(nn.Module):
    """fesf's input normalisation, then the network: surrogates in [0, 1] to logits."""

    def __init__(self, net, normalise, mean, std):
        super().__init__()
        self.net, self.pooled = net, normalise == "pooled"
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        if self.pooled:
            x = (x - self.mean) / self.std
        else:  # each image and channel to zero mean, unit std (std at least 1e-6), as fesf
            m = x.mean(dim=(2, 3), keepdim=True)
            v = ((x - m) ** 2).mean(dim=(2, 3), keepdim=True)
            x = (x - m) / torch.sqrt(torch.clamp(v, min=1e-12))
        return self.net(x)


def describe(path):
    """The export's description of model.h5: architecture, shapes, normalisation."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") not in (b"fesf-model", "fesf-model"):
            sys.exit(f"fesf_torch: '{path}' is not a fesf model file")
        arch = f.attrs["arch"]
        arch = arch.decode() if isinstance(arch, bytes) else str(arch)
        cfg = f.attrs["config"]
        cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
        norm = (f["normalise/mean"][()].tolist(), f["normalise/std"][()].tolist()) if "normalise" in f else None
    m = re.fullmatch(r"(\S+) width=(\d+) input=(\d+)x(\d+)x(\d+) classes=(\d+)( norm=instance)?", arch)
    if not m or m.group(1) not in ("cnn-small", "resnet18"):
        sys.exit(f"fesf_torch: '{path}' holds '{arch}', not a cnn-small or resnet18 classifier")
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(cfg)
    normalise = ini.get("train", "normalise", fallback="pooled")
    if normalise == "pooled" and norm is None:
        sys.exit(f"fesf_torch: '{path}' records no input normalisation (trained by an older fesf)")
    c = int(m.group(3))
    return {"arch": m.group(1), "width": int(m.group(2)), "channels": c, "size": [int(m.group(4)), int(m.group(5))],
            "classes": int(m.group(6)), "norm": "instance" if m.group(7) else "batch", "normalise": normalise,
            "mean": norm[0] if norm else [0.0] * c, "std": norm[1] if norm else [1.0] * c}


def classifier(d, state):
    net = build(d["arch"], d["width"], d["channels"], d["classes"], d["norm"])
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"fesf_torch: state mismatch: missing {missing}, unexpected {unexpected}")
    return Classifier(net, d["normalise"], d["mean"], d["std"]).eval()


def load(path):
    """The Classifier of an OUT.pt written by this script (eval mode)."""
    d = torch.load(path)
    return classifier(d, d["state_dict"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="fesf model.h5")
    ap.add_argument("out", help="the PyTorch export (.pt)")
    ap.add_argument("--torchscript", help="also a TorchScript module (.ts) that runs with torch.jit.load alone")
    a = ap.parse_args()
    d = describe(a.model)
    state = read_h5_state(a.model)
    model = classifier(d, state)
    torch.save(dict(d, state_dict=model.net.state_dict()), a.out)
    if a.torchscript:
        torch.jit.script(model).save(a.torchscript)
    print(f"exported {d['arch']} width {d['width']} ({d['channels']}x{d['size'][0]}x{d['size'][1]}, "
          f"{d['classes']} classes, {d['normalise']} normalisation) to {a.out}"
          + (f" and {a.torchscript}" if a.torchscript else ""))


if __name__ == "__main__":
    main()
