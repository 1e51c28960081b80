"""PyTorch definitions of fesf's models (src/nn/model.c), with the same module
names so that state_dict keys equal the tensor names in fesf's model.h5
(/params/<layer>/<name>, /buffers/<layer>/<name>). The definitions live in the
shipped export script, scripts/fesf_torch.py; this module gives the tests and
the benchmarks the same names. Run with Debian's /usr/bin/python3 (torch)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from fesf_torch import BasicBlock, Cnn3dSmall, CnnSmall, Norm, ResNet18, build, read_h5_state  # noqa: E402,F401
