"""PyTorch definitions of fesf's models (src/nn/model.c), with the same module
names so that state_dict keys equal the tensor names in fesf's model.h5
(/params/<layer>/<name>, /buffers/<layer>/<name>). Used by the cross-check
and by the training benchmark. Run with Debian's /usr/bin/python3 (torch)."""
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
    return {"cnn-small": CnnSmall, "resnet18": ResNet18}[arch](c, classes, width, norm)


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
